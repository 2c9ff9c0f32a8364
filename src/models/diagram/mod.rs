//! A model's architecture as a picture, as Keras' `plot_model(show_shapes=True,
//! show_layer_names=True)` draws it: SVG and PNG drawn by kiln (no Graphviz needed), and DOT
//! for Graphviz.

mod dot;
mod layout;
mod png;
mod svg;

use crate::error::{Error, Result};
use crate::models::Model;
use std::path::Path;

impl Model {
    /// Draws the architecture to `path`, an `.svg` or a `.png`: one box per input and per layer
    /// (its name, class, input and output shapes; a nested model is one box), an arrow for
    /// every input each layer reads, top to bottom. The file is written to a temporary name
    /// and renamed.
    ///
    /// ```
    /// use kiln::prelude::*;
    /// let model = Sequential::new().input([784]).add(Dense::new(10)).build()?;
    /// let path = std::env::temp_dir().join("kiln_plot_doc.svg");
    /// model.plot(&path)?;
    /// assert!(std::fs::read_to_string(&path)?.contains("dense (Dense)"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(extension, "svg" | "png") {
            return Err(Error::config(
                format!("plot file {}", path.display()),
                "name it .svg or .png; for Graphviz, write Model::to_dot() to a .dot file",
            ));
        }
        let diagram = layout::layout(self.name(), self.graph());
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("model");
        let tmp = dir.join(format!(".{name}.tmp-{}.{extension}", std::process::id()));
        let written = match extension {
            "svg" => std::fs::write(&tmp, svg::svg(&diagram)).map_err(|e| Error::io(&tmp, e)),
            _ => png::png(&diagram, &tmp)
                .map_err(|e| Error::format(path, format!("cannot draw the model: {e}"))),
        }
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// The architecture in Graphviz's DOT language (one record per input and layer, an edge
    /// per input a layer reads), for `dot -Tsvg`.
    pub fn to_dot(&self) -> String {
        dot::dot(&layout::layout(self.name(), self.graph()))
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    /// A branch and a merge: two inputs, a layer shared by both, an Add.
    fn branched() -> Model {
        let (a, b) = (Input::new([4]).name("a"), Input::new([4]).name("b"));
        let shared = Dense::new(3).name("encoder").shared();
        let (ea, eb) = (shared.apply(&a).unwrap(), shared.apply(&b).unwrap());
        let sum = Add::new().apply([&ea, &eb]).unwrap();
        let out = Dense::new(2).apply(&sum).unwrap();
        Functional::new([&a, &b], [&out, &sum])
            .unwrap()
            .build()
            .unwrap()
    }

    #[test]
    fn boxes_and_edges_follow_the_graph() {
        let model = branched();
        let d = super::layout::layout(model.name(), model.graph());
        let titles: Vec<&str> = d.boxes.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "a (InputLayer)",
                "b (InputLayer)",
                "encoder (Dense)",
                "add (Add)",
                "dense (Dense)"
            ]
        );
        // a→encoder, b→encoder (its two applications), encoder→add twice, add→dense
        assert_eq!(d.edges, [(0, 2), (1, 2), (2, 3), (2, 3), (3, 4)]);
        assert_eq!(d.boxes[2].shapes, "(None, 4) → (None, 3)");
        // every arrow points down
        for &(from, to) in &d.edges {
            assert!(d.boxes[from].bottom().1 < d.boxes[to].top().1);
        }
    }

    #[test]
    fn a_nested_model_is_one_box() {
        let encoder = Sequential::new()
            .name("encoder")
            .input([4])
            .add(Dense::new(3))
            .add(Dense::new(2))
            .build()
            .unwrap();
        let x = Input::new([4]);
        let h = encoder.apply(&x).unwrap();
        let out = Dense::new(1).name("head").apply(&h).unwrap();
        let model = Functional::new([&x], [&out]).unwrap().build().unwrap();
        let d = super::layout::layout(model.name(), model.graph());
        let titles: Vec<&str> = d.boxes.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "input_layer (InputLayer)",
                "encoder (Sequential)",
                "head (Dense)"
            ]
        );
        assert_eq!(d.boxes[1].shapes, "(None, 4) → (None, 2)");
        assert_eq!(d.edges, [(0, 1), (1, 2)]);
    }

    #[test]
    fn dot_and_svg_escape_names() {
        let model = Sequential::new()
            .input([3])
            .add(Dense::new(2).name("a<b>&{c}"))
            .build()
            .unwrap();
        let dot = model.to_dot();
        assert!(dot.contains(r"a\<b\>&\{c\} (Dense)"), "{dot}");
        assert!(dot.contains("n0 -> n1;"), "{dot}");
        let d = super::layout::layout(model.name(), model.graph());
        let svg = super::svg::svg(&d);
        assert!(svg.contains("a&lt;b&gt;&amp;{c} (Dense)"), "{svg}");
    }

    #[test]
    fn other_extensions_are_refused() {
        let model = branched();
        let err = model.plot("model.jpg").unwrap_err().to_string();
        assert!(err.contains(".svg or .png"), "{err}");
    }
}
