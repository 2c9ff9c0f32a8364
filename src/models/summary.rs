//! `Summary`: Keras' table of layers, shapes and weight counts.

use crate::graph::{Graph, Source};
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
    /// What it reads, as Keras' "Connected to" column shows it (`dense[0][0]`), one entry per
    /// input of each application; empty for inputs and for Sequential models.
    pub connected_to: Vec<String>,
}

/// A model's summary, as Keras prints it; `Display` draws the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The model's name.
    pub name: String,
    /// One row per layer, in execution order; a Functional model's inputs come first, as
    /// `InputLayer` rows.
    pub rows: Vec<SummaryRow>,
    /// Whether the table has Keras' "Connected to" column: for every graph but a chain.
    pub connected: bool,
    /// Every weight.
    pub total_params: usize,
    /// Weights the optimizer updates.
    pub trainable_params: usize,
    /// Weights kept but not trained.
    pub non_trainable_params: usize,
}

impl Summary {
    pub(crate) fn new(name: &str, graph: &Graph) -> Self {
        let connected = !graph.is_chain();
        let mut rows = Vec::new();
        if connected {
            for input in graph.inputs() {
                rows.push(SummaryRow {
                    name: input.name.clone(),
                    class_name: "InputLayer".into(),
                    output_shape: input.shape.to_string(),
                    params: 0,
                    connected_to: Vec::new(),
                });
            }
        }
        // `layer[node][0]`: which application of a layer (or input) a node reads
        let application = |i: usize| {
            let layer = graph.nodes()[i].layer;
            graph.nodes()[..i]
                .iter()
                .filter(|n| n.layer == layer)
                .count()
        };
        let source_name = |s: &Source| match *s {
            Source::Input(k) => format!("{}[0][0]", graph.inputs()[k].name),
            Source::Node(j, k) => format!(
                "{}[{}][{k}]",
                graph.layers()[graph.nodes()[j].layer]
                    .name()
                    .unwrap_or_default(),
                application(j)
            ),
        };
        let mut row_of = vec![None; graph.layers().len()];
        for (i, node) in graph.nodes().iter().enumerate() {
            let links = node.inputs.iter().map(source_name);
            if let Some(r) = row_of[node.layer] {
                let row: &mut SummaryRow = &mut rows[r];
                row.connected_to.extend(links);
                continue;
            }
            let layer = &graph.layers()[node.layer];
            row_of[node.layer] = Some(rows.len());
            rows.push(SummaryRow {
                name: layer.name().unwrap_or_default().to_string(),
                class_name: layer.class_name().to_string(),
                output_shape: match graph.node_shapes(i) {
                    [one] => one.to_string(),
                    several => format!("[{}]", crate::shape::list(several)),
                },
                params: graph.layer_params(node.layer).total(),
                connected_to: if connected {
                    links.collect()
                } else {
                    Vec::new()
                },
            });
        }
        let total = graph.total_params();
        Summary {
            name: name.to_string(),
            rows,
            connected,
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
pub(crate) fn memory(params: usize) -> String {
    let mut size = params as f64 * 4.0;
    let mut unit = "B";
    for larger in ["KB", "MB", "GB"] {
        if size < 1024.0 {
            break;
        }
        size /= 1024.0;
        unit = larger;
    }
    format!("{size:.2} {unit}")
}

/// Keras' column widths for a Sequential model's table.
const WIDTHS: [usize; 3] = [31, 22, 13];

fn rule(
    f: &mut fmt::Formatter<'_>,
    widths: &[usize],
    [l, m, r]: [&str; 3],
    fill: &str,
) -> fmt::Result {
    let cells: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
    writeln!(f, "{l}{}{r}", cells.join(m))
}

fn row(f: &mut fmt::Formatter<'_>, widths: &[usize], bar: &str, cells: &[&str]) -> fmt::Result {
    write!(f, "{bar}")?;
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        // the parameter count is right-aligned, the other columns left-aligned
        if i == 2 {
            write!(f, " {cell:>w$} {bar}")?;
        } else {
            write!(f, " {cell:<w$} {bar}")?;
        }
    }
    writeln!(f)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|r| {
                let links = if r.connected_to.is_empty() {
                    "-".to_string()
                } else {
                    r.connected_to.join(", ")
                };
                [
                    format!("{} ({})", r.name, r.class_name),
                    r.output_shape.clone(),
                    thousands(r.params),
                    links,
                ]
            })
            .collect();
        let header = ["Layer (type)", "Output Shape", "Param #", "Connected to"];
        let columns = if self.connected { 4 } else { 3 };
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let widest = cells
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0);
                if c < 3 { widest.max(WIDTHS[c]) } else { widest }
            })
            .collect();
        writeln!(f, "Model: \"{}\"", self.name)?;
        rule(f, &widths, ["┏", "┳", "┓"], "━")?;
        row(f, &widths, "┃", &header[..columns])?;
        rule(f, &widths, ["┡", "╇", "┩"], "━")?;
        for (i, r) in cells.iter().enumerate() {
            if i > 0 {
                rule(f, &widths, ["├", "┼", "┤"], "─")?;
            }
            let r: Vec<&str> = r[..columns].iter().map(String::as_str).collect();
            row(f, &widths, "│", &r)?;
        }
        rule(f, &widths, ["└", "┴", "┘"], "─")?;
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
