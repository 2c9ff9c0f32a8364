//! Where a model's boxes and arrows go: one box per input and per layer, ranked top to bottom
//! by the longest path from the inputs, each rank centred.

use crate::graph::{Graph, Source};

/// Font size of the boxes' text, in pixels.
pub(crate) const FONT: f64 = 13.0;
/// The advance of one character of the bundled monospaced font at [`FONT`].
const CHAR: f64 = FONT * 0.61;
const PAD: f64 = 10.0;
const BOX_HEIGHT: f64 = 2.0 * FONT + 3.0 * 6.0;
const ROW_GAP: f64 = 36.0;
const COLUMN_GAP: f64 = 24.0;
const MARGIN: f64 = 16.0;

/// A model drawn: its boxes, arrows and size.
#[derive(Clone, Debug)]
pub(crate) struct Diagram {
    pub name: String,
    pub boxes: Vec<LayerBox>,
    /// `(from, to)` box indices, one per input a node reads.
    pub edges: Vec<(usize, usize)>,
    /// Each edge's path: straight down to the next rank, or out to the right of the ranks it
    /// skips (a residual connection) and back.
    pub routes: Vec<Vec<(f64, f64)>>,
    pub width: f64,
    pub height: f64,
}

/// One input or layer: its two lines of text and its place.
#[derive(Clone, Debug)]
pub(crate) struct LayerBox {
    /// `dense (Dense)`.
    pub title: String,
    /// `(None, 784) → (None, 512)`.
    pub shapes: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl LayerBox {
    /// Where arrows leave it (bottom centre) and arrive (top centre).
    pub fn bottom(&self) -> (f64, f64) {
        (self.x + self.width / 2.0, self.y + self.height)
    }

    pub fn top(&self) -> (f64, f64) {
        (self.x + self.width / 2.0, self.y)
    }
}

/// The diagram of `graph`: boxes for the inputs (`InputLayer`, as Keras draws them) then the
/// layers in graph order, an arrow for every input of every node.
pub(crate) fn layout(name: &str, graph: &Graph) -> Diagram {
    let inputs = graph.inputs().len();
    let box_of = |s: &Source| match *s {
        Source::Input(k) => k,
        Source::Node(j, _) => inputs + graph.nodes()[j].layer,
    };
    let mut text: Vec<(String, String)> = graph
        .inputs()
        .iter()
        .map(|i| (format!("{} (InputLayer)", i.name), i.shape.to_string()))
        .collect();
    for (l, layer) in graph.layers().iter().enumerate() {
        // Graph::new refuses a layer that no node applies
        let node = graph
            .nodes()
            .iter()
            .position(|n| n.layer == l)
            .expect("every layer of a graph is applied");
        let input = crate::shape::list(&graph.node_input_shapes(node));
        let output = match graph.node_shapes(node) {
            [one] => one.to_string(),
            several => format!("[{}]", crate::shape::list(several)),
        };
        text.push((
            format!(
                "{} ({})",
                layer.name().unwrap_or_default(),
                layer.class_name()
            ),
            format!("{input} → {output}"),
        ));
    }
    let edges: Vec<(usize, usize)> = graph
        .nodes()
        .iter()
        .flat_map(|n| n.inputs.iter().map(move |s| (box_of(s), inputs + n.layer)))
        .collect();
    // longest path from the inputs; a shared layer takes the deepest of its applications
    let mut rank = vec![0usize; text.len()];
    for _ in 0..text.len() {
        let mut changed = false;
        for &(from, to) in &edges {
            if rank[to] < rank[from] + 1 && rank[from] + 1 < text.len() {
                rank[to] = rank[from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let rows = rank.iter().max().map_or(0, |r| r + 1);
    let mut boxes: Vec<LayerBox> = text
        .into_iter()
        .map(|(title, shapes)| {
            let chars = title.chars().count().max(shapes.chars().count());
            LayerBox {
                title,
                shapes,
                x: 0.0,
                y: 0.0,
                width: chars as f64 * CHAR + 2.0 * PAD,
                height: BOX_HEIGHT,
            }
        })
        .collect();
    let members: Vec<Vec<usize>> = (0..rows)
        .map(|r| (0..boxes.len()).filter(|&b| rank[b] == r).collect())
        .collect();
    let widths: Vec<f64> = members
        .iter()
        .map(|row| {
            row.iter().map(|&b| boxes[b].width).sum::<f64>()
                + COLUMN_GAP * row.len().saturating_sub(1) as f64
        })
        .collect();
    let width = widths.iter().copied().fold(0.0, f64::max) + 2.0 * MARGIN;
    for (r, row) in members.iter().enumerate() {
        let mut x = (width - widths[r]) / 2.0;
        for &b in row {
            boxes[b].x = x;
            boxes[b].y = MARGIN + r as f64 * (BOX_HEIGHT + ROW_GAP);
            x += boxes[b].width + COLUMN_GAP;
        }
    }
    let height = 2.0 * MARGIN + rows as f64 * BOX_HEIGHT + rows.saturating_sub(1) as f64 * ROW_GAP;
    let mut width = width;
    let mut detours = 0;
    let routes = edges
        .iter()
        .map(|&(from, to)| {
            let (start, end) = (boxes[from].bottom(), boxes[to].top());
            let skipped: Vec<usize> = (0..boxes.len())
                .filter(|&b| rank[b] > rank[from] && rank[b] < rank[to])
                .collect();
            if skipped.is_empty() {
                return vec![start, end];
            }
            let right = skipped
                .iter()
                .map(|&b| boxes[b].x + boxes[b].width)
                .fold(start.0.max(end.0), f64::max);
            let side = right + COLUMN_GAP + 10.0 * detours as f64;
            detours += 1;
            width = width.max(side + MARGIN);
            let (below, above) = (start.1 + ROW_GAP / 2.0, end.1 - ROW_GAP / 2.0);
            vec![
                start,
                (start.0, below),
                (side, below),
                (side, above),
                (end.0, above),
                end,
            ]
        })
        .collect();
    Diagram {
        name: name.to_string(),
        boxes,
        edges,
        routes,
        width,
        height,
    }
}
