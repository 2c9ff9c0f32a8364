//! A diagram as Graphviz DOT, for those who have Graphviz.

use super::layout::Diagram;
use std::fmt::Write;

/// `text` inside a quoted record label: quotes, backslashes and the record's `{}|<>` escaped.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, '"' | '\\' | '{' | '}' | '|' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `digraph` with one record node per box (name and class over the shapes) and one edge per
/// arrow, top to bottom.
pub(crate) fn dot(d: &Diagram) -> String {
    let mut s = format!("digraph \"{}\" {{\n", escape(&d.name));
    s.push_str("  rankdir=TB;\n  node [shape=record, fontname=\"monospace\"];\n");
    for (i, b) in d.boxes.iter().enumerate() {
        let _ = writeln!(
            s,
            "  n{i} [label=\"{{{}|{}}}\"];",
            escape(&b.title),
            escape(&b.shapes)
        );
    }
    for (from, to) in &d.edges {
        let _ = writeln!(s, "  n{from} -> n{to};");
    }
    s.push_str("}\n");
    s
}
