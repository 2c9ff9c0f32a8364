//! Model diagrams: the SVG of the MNIST reference models and of a two-input model parses as
//! XML (Python's parser, `KILN_PYTHON`), names every layer once and draws exactly the graph's
//! edges (matched box to box by their end points); the PNG decodes and is drawn on.

use kiln::graph::Source;
use kiln::io::ModelConfig;
use kiln::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};

#[path = "../examples/common/architectures.rs"]
#[allow(dead_code)] // the other examples' models
mod architectures;
mod python;

fn reference(file: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    ModelConfig::read(path)
        .unwrap()
        .build(Device::cpu().unwrap())
        .unwrap()
}

/// The box names and the edges (one per input of every node) the graph has.
fn expected(model: &Model) -> serde_json::Value {
    let graph = model.graph();
    let layer_name = |l: usize| graph.layers()[l].name().unwrap().to_string();
    let mut names: Vec<String> = graph.inputs().iter().map(|i| i.name.clone()).collect();
    names.extend((0..graph.layers().len()).map(layer_name));
    let edges: Vec<[String; 2]> = graph
        .nodes()
        .iter()
        .flat_map(|n| {
            n.inputs.iter().map(move |s| {
                let from = match *s {
                    Source::Input(k) => graph.inputs()[k].name.clone(),
                    Source::Node(j, _) => layer_name(graph.nodes()[j].layer),
                };
                [from, layer_name(n.layer)]
            })
        })
        .collect();
    json!({"names": names, "edges": edges})
}

fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn diagrams_draw_every_layer_once_and_exactly_the_graphs_edges() {
    let Some(python) = python::interpreter(
        "KILN_PYTHON",
        "xml.etree.ElementTree",
        "KILN_REQUIRE_PYTHON",
    ) else {
        return;
    };
    let dir = dir();
    let models = [
        ("mnist_dense", reference("mnist_dense.json")),
        ("mnist_cnn", reference("mnist_cnn.json")),
        ("mnist_resnet", reference("mnist_resnet.json")),
        (
            "two_inputs",
            architectures::two_halves().unwrap().build().unwrap(),
        ),
    ];
    for (name, model) in models {
        let svg = dir.join(format!("{name}.svg"));
        model.plot(&svg).unwrap();
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, expected(&model).to_string()).unwrap();
        let text = python::run(
            &python,
            "tests/interop/svg_check.py",
            &[svg.to_str().unwrap(), file.to_str().unwrap()],
        );
        assert!(text.contains("svg ok"), "{name}: {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_png_decodes_and_is_drawn_on() {
    let dir = dir().join("png");
    let path = dir.join("resnet.png");
    reference("mnist_resnet.json").plot(&path).unwrap();
    let image = image::open(&path).unwrap().to_rgb8();
    let (w, h) = image.dimensions();
    assert!(w > 200 && h > 13 * 60, "{w}×{h} for 14 boxes");
    let white = image.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    let box_fill = image.pixels().filter(|p| p.0 == [238, 243, 251]).count();
    let dark = image
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 100))
        .count();
    let total = (w * h) as usize;
    assert!(
        white > total / 4 && box_fill > total / 10 && dark > 1000,
        "{white} {box_fill} {dark} of {total}"
    );
    // the DOT names the same boxes and edges
    let dot = reference("mnist_resnet.json").to_dot();
    assert_eq!(dot.matches(" -> ").count(), 14);
    assert!(dot.contains("add (Add)"), "{dot}");
    std::fs::remove_dir_all(&dir).unwrap();
}
