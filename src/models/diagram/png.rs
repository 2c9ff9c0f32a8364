//! A diagram as a PNG, drawn with plotters and the bundled font.

use super::layout::{Diagram, FONT};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const FILL: RGBColor = RGBColor(238, 243, 251);
const BORDER: RGBColor = RGBColor(58, 90, 140);
const EDGE: RGBColor = RGBColor(68, 68, 68);
const TEXT: RGBColor = RGBColor(51, 51, 51);

/// Draws `d` into the PNG `file`.
pub(crate) fn png(d: &Diagram, file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let family = crate::callbacks::plot::font();
    let size = (d.width.ceil() as u32, d.height.ceil() as u32);
    let root = BitMapBackend::new(file, size).into_drawing_area();
    root.fill(&WHITE)?;
    let at = |(x, y): (f64, f64)| (x.round() as i32, y.round() as i32);
    for route in &d.routes {
        root.draw(&PathElement::new(
            route.iter().map(|&p| at(p)).collect::<Vec<_>>(),
            EDGE.stroke_width(1),
        ))?;
        let (start, end) = (route[route.len() - 2], route[route.len() - 1]);
        // the arrowhead: a triangle along the line, its tip on the box
        let (dx, dy) = (end.0 - start.0, end.1 - start.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (ux, uy) = (dx / len, dy / len);
        let base = (end.0 - 9.0 * ux, end.1 - 9.0 * uy);
        let side = |s: f64| (base.0 - 4.0 * uy * s, base.1 + 4.0 * ux * s);
        root.draw(&Polygon::new(
            vec![at(end), at(side(1.0)), at(side(-1.0))],
            EDGE.filled(),
        ))?;
    }
    let style = |color: &'static RGBColor| -> TextStyle<'static> {
        TextStyle::from((family, FONT).into_font())
            .color(color)
            .pos(Pos::new(HPos::Center, VPos::Center))
    };
    for b in &d.boxes {
        let corner = at((b.x, b.y));
        let far = at((b.x + b.width, b.y + b.height));
        root.draw(&Rectangle::new([corner, far], FILL.filled()))?;
        root.draw(&Rectangle::new([corner, far], BORDER.stroke_width(1)))?;
        let cx = b.x + b.width / 2.0;
        root.draw(&Text::new(
            b.title.clone(),
            at((cx, b.y + b.height * 0.3)),
            style(&BLACK),
        ))?;
        root.draw(&Text::new(
            b.shapes.clone(),
            at((cx, b.y + b.height * 0.72)),
            style(&TEXT),
        ))?;
    }
    root.present()?;
    Ok(())
}
