//! `History::plot`: the training curves as a PNG, drawn with plotters.

use crate::error::{Error, Result};
use crate::training::History;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// DejaVu Sans Mono (Bitstream Vera license, see `DEJAVU-LICENSE`), bundled so that plots have
/// text on machines without fonts.
const FONT: &[u8] = include_bytes!("DejaVuSansMono.ttf");
const FAMILY: &str = "sans-serif";

/// The bundled font's family for plotters, registered on first use (plots and model diagrams).
pub(crate) fn font() -> &'static str {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    FAMILY
}

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALIDATION: RGBColor = RGBColor(255, 127, 14);

impl History {
    /// Draws the loss and (when recorded) the accuracy per epoch, training and validation, as a
    /// PNG of two panels side by side. The file is written to a temporary name and renamed.
    ///
    /// ```no_run
    /// # fn demo(history: kiln::History) -> kiln::Result<()> {
    /// history.plot("curves.png")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if self.epochs().is_empty() {
            return Err(Error::data(
                "the history is empty: there is nothing to plot",
            ));
        }
        font();
        let panels: Vec<&str> = ["loss", "accuracy"]
            .into_iter()
            .filter(|m| self.get(m).is_some())
            .collect();
        if panels.is_empty() {
            return Err(Error::data(
                "the history has neither loss nor accuracy; nothing to plot",
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot");
        let tmp = dir.join(format!(".{name}.tmp-{}.png", std::process::id()));
        let drawn = self
            .draw(&tmp, &panels)
            .map_err(|e| Error::format(path, format!("cannot draw the plot: {e}")))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
        if drawn.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        drawn
    }

    fn draw(
        &self,
        file: &Path,
        panels: &[&str],
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let width = 520 * panels.len() as u32;
        let root = BitMapBackend::new(file, (width, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((1, panels.len()));
        let epochs: Vec<f64> = self.epochs().iter().map(|e| *e as f64 + 1.0).collect();
        for (area, metric) in areas.iter().zip(panels) {
            let val_name = format!("val_{metric}");
            let series: Vec<(&str, &[f64], RGBColor)> = [
                (*metric, self.get(metric), TRAIN),
                (val_name.as_str(), self.get(&val_name), VALIDATION),
            ]
            .into_iter()
            .filter_map(|(n, v, c)| v.map(|v| (n, v, c)))
            .collect();
            let finite: Vec<f64> = series
                .iter()
                .flat_map(|(_, v, _)| v.iter().copied())
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = finite
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                });
            let pad = ((hi - lo) * 0.05).max(1e-3);
            let (lo, hi) = if finite.is_empty() {
                (0.0, 1.0)
            } else {
                (lo - pad, hi + pad)
            };
            // a series was found above, so the history holds at least one epoch
            let (first, last) = (epochs[0], *epochs.last().expect("not empty"));
            let mut chart = ChartBuilder::on(area)
                .caption(*metric, (FAMILY, 22))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(first - 0.5..last + 0.5, lo..hi)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .label_style((FAMILY, 14))
                .x_labels(((last - first) as usize + 2).min(12))
                .x_label_formatter(&|x| epoch_label(*x, first, last))
                .draw()?;
            for (name, values, color) in series {
                let points: Vec<(f64, f64)> = epochs
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(e, v)| (*e, *v))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart.draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )?;
            }
            chart
                .configure_series_labels()
                .label_font((FAMILY, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

/// The label of an epoch-axis tick: whole epochs within the run only, so that no epoch is
/// written twice and no tick between two epochs is labeled.
fn epoch_label(x: f64, first: f64, last: f64) -> String {
    let whole = x.round();
    if (x - whole).abs() < 1e-6 && (first..=last).contains(&whole) {
        format!("{whole:.0}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use crate::training::{History, Logs};

    #[test]
    fn the_epoch_axis_has_whole_epochs_once() {
        // plotters puts ticks every half epoch on a 5-epoch run
        let labels: Vec<String> = (-1..=13)
            .map(|i| super::epoch_label(0.5 * i as f64, 1.0, 5.0))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels, ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn draws_a_png_with_both_panels_and_refuses_an_empty_history() {
        let mut h = History::default();
        for e in 0..4 {
            let mut logs = Logs::default();
            logs.insert("loss", 1.0 / (e as f64 + 1.0));
            logs.insert("accuracy", 0.5 + e as f64 / 10.0);
            logs.insert("val_loss", 1.2 / (e as f64 + 1.0));
            h.push(e, &logs);
        }
        let path = std::env::temp_dir().join(format!("kiln-plot-{}.png", std::process::id()));
        h.plot(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // width: two panels of 520 pixels (big-endian u32 at offset 16 of the IHDR chunk)
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1040);
        std::fs::remove_file(&path).unwrap();
        assert!(History::default().plot(&path).is_err());
    }
}
