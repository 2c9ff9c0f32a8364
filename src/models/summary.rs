//! `Summary`: Keras' table of layers, shapes and weight counts.

use crate::graph::Graph;
use std::fmt;

/// One row of a summary: a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The layer's name (`dense_1`).
    pub name: String,
    /// Its class (`Dense`).
    pub class_name: String,
    /// Its output shape, as printed (`(None, 10)`).
    pub output_shape: String,
    /// Its weight count.
    pub params: usize,
}

/// A model's summary, as Keras prints it; `Display` draws the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The model's name.
    pub name: String,
    /// One row per layer, in execution order.
    pub rows: Vec<SummaryRow>,
    /// Every weight.
    pub total_params: usize,
    /// Weights the optimizer updates.
    pub trainable_params: usize,
    /// Weights kept but not trained.
    pub non_trainable_params: usize,
}

impl Summary {
    pub(crate) fn new(name: &str, graph: &Graph) -> Self {
        let mut rows = Vec::new();
        let mut seen = vec![false; graph.layers().len()];
        for (i, node) in graph.nodes().iter().enumerate() {
            if std::mem::replace(&mut seen[node.layer], true) {
                continue;
            }
            let layer = &graph.layers()[node.layer];
            rows.push(SummaryRow {
                name: layer.name().unwrap_or_default().to_string(),
                class_name: layer.class_name().to_string(),
                output_shape: graph.node_shape(i).to_string(),
                params: graph.layer_params(node.layer).total(),
            });
        }
        let total = graph.total_params();
        Summary {
            name: name.to_string(),
            rows,
            total_params: total.total(),
            trainable_params: total.trainable,
            non_trainable_params: total.non_trainable,
        }
    }

    /// Prints the table to standard output.
    pub fn print(&self) {
        print!("{self}");
    }
}

/// `1,234,567`
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras' memory size of `params` f32 weights: `1.55 MB`, `136.04 KB`, `0.00 B`.
fn memory(params: usize) -> String {
    let mut size = (params * 4) as f64;
    for unit in ["B", "KB", "MB", "GB"] {
        if size < 1024.0 || unit == "GB" {
            return format!("{size:.2} {unit}");
        }
        size /= 1024.0;
    }
    unreachable!()
}

const WIDTHS: [usize; 3] = [31, 22, 13];

fn rule(f: &mut fmt::Formatter<'_>, [l, m, r]: [&str; 3], fill: &str) -> fmt::Result {
    let cells: Vec<String> = WIDTHS.iter().map(|w| fill.repeat(w + 2)).collect();
    writeln!(f, "{l}{}{m}{}{m}{}{r}", cells[0], cells[1], cells[2])
}

fn row(f: &mut fmt::Formatter<'_>, bar: &str, cells: [&str; 3]) -> fmt::Result {
    writeln!(
        f,
        "{bar} {:<w0$} {bar} {:<w1$} {bar} {:>w2$} {bar}",
        cells[0],
        cells[1],
        cells[2],
        w0 = WIDTHS[0],
        w1 = WIDTHS[1],
        w2 = WIDTHS[2]
    )
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Model: \"{}\"", self.name)?;
        rule(f, ["┏", "┳", "┓"], "━")?;
        row(f, "┃", ["Layer (type)", "Output Shape", "Param #"])?;
        rule(f, ["┡", "╇", "┩"], "━")?;
        for (i, r) in self.rows.iter().enumerate() {
            if i > 0 {
                rule(f, ["├", "┼", "┤"], "─")?;
            }
            let layer = format!("{} ({})", r.name, r.class_name);
            row(f, "│", [&layer, &r.output_shape, &thousands(r.params)])?;
        }
        rule(f, ["└", "┴", "┘"], "─")?;
        writeln!(
            f,
            " Total params: {} ({})",
            thousands(self.total_params),
            memory(self.total_params)
        )?;
        writeln!(
            f,
            " Trainable params: {} ({})",
            thousands(self.trainable_params),
            memory(self.trainable_params)
        )?;
        writeln!(
            f,
            " Non-trainable params: {} ({})",
            thousands(self.non_trainable_params),
            memory(self.non_trainable_params)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_keras() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(5130), "5,130");
        assert_eq!(thousands(407050), "407,050");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(memory(407_050), "1.55 MB");
        assert_eq!(memory(34_826), "136.04 KB");
        assert_eq!(memory(0), "0.00 B");
    }
}
