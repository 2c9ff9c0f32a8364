//! A diagram as SVG text.

use super::layout::{Diagram, FONT};
use std::fmt::Write;

/// `text` with XML's five special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The SVG document: arrows (`<polyline class="edge">` from a box's bottom centre to another's
/// top centre, an arrowhead marker at their end), then one
/// `<g class="layer">` per box with its rectangle and two lines of text.
pub(crate) fn svg(d: &Diagram) -> String {
    let mut s = String::new();
    let (w, h) = (d.width.ceil(), d.height.ceil());
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, monospace" font-size="{FONT}">
<title>{}</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>"##,
        escape(&d.name)
    );
    for route in &d.routes {
        let points: Vec<String> = route
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline class="edge" points="{}" fill="none" stroke="#444" stroke-width="1.3" marker-end="url(#arrow)"/>"##,
            points.join(" ")
        );
    }
    for b in &d.boxes {
        let cx = b.x + b.width / 2.0;
        let _ = writeln!(
            s,
            r##"<g class="layer"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="4" fill="#eef3fb" stroke="#3a5a8c"/><text class="name" x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="shapes" x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text></g>"##,
            b.x,
            b.y,
            b.width,
            b.height,
            b.y + 6.0 + FONT,
            escape(&b.title),
            b.y + 12.0 + 2.0 * FONT,
            escape(&b.shapes)
        );
    }
    s.push_str("</svg>\n");
    s
}
