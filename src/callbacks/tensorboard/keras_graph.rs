//! A model as the conceptual graph TensorBoard's graph dashboard draws: Keras 3's model JSON
//! (layers with their `inbound_nodes` as `keras_history` triples), which Keras' `TensorBoard`
//! writes under the tag `keras`.

use crate::graph::{Graph, Source};
use serde_json::{Value, json};

/// A tensor argument naming the layer, application and output it comes from.
fn history(name: &str, node: usize, output: usize) -> Value {
    json!({"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, output]}})
}

/// The functional model JSON of `graph`, named `name`: input layers, each layer's
/// configuration (kiln's, with its name and dtype) and inbound nodes, inputs and outputs.
pub(crate) fn keras_model_json(name: &str, graph: &Graph) -> String {
    let layer_name = |l: usize| graph.layers()[l].name().unwrap_or_default().to_string();
    // which application of its layer each node is
    let application: Vec<usize> = (0..graph.nodes().len())
        .map(|i| {
            let layer = graph.nodes()[i].layer;
            graph.nodes()[..i]
                .iter()
                .filter(|n| n.layer == layer)
                .count()
        })
        .collect();
    let source = |s: &Source| match *s {
        Source::Input(k) => history(&graph.inputs()[k].name, 0, 0),
        Source::Node(j, k) => history(&layer_name(graph.nodes()[j].layer), application[j], k),
    };
    let triple = |s: &Source| match source(s)["config"]["keras_history"].clone() {
        Value::Array(v) => Value::Array(v),
        _ => Value::Null,
    };
    let mut layers: Vec<Value> = graph
        .inputs()
        .iter()
        .map(|i| {
            let mut shape = vec![Value::Null];
            shape.extend(i.shape.dims().iter().map(|d| json!(d)));
            json!({
                "class_name": "InputLayer",
                "name": i.name,
                "config": {"name": i.name, "batch_shape": shape, "dtype": "float32"},
                "inbound_nodes": [],
            })
        })
        .collect();
    for (l, layer) in graph.layers().iter().enumerate() {
        let mut spec = serde_json::to_value(layer).unwrap_or_else(|_| json!({"config": {}}));
        if !spec["config"].is_object() {
            spec["config"] = json!({});
        }
        spec["config"]["name"] = json!(layer_name(l));
        spec["config"]["dtype"] = json!("float32");
        let inbound: Vec<Value> = graph
            .nodes()
            .iter()
            .filter(|n| n.layer == l)
            .map(|n| {
                let args: Vec<Value> = n.inputs.iter().map(source).collect();
                // a merge takes its inputs as one list, as Keras calls it
                let args = match args.len() {
                    1 => args,
                    _ => vec![Value::Array(args)],
                };
                json!({"args": args, "kwargs": {}})
            })
            .collect();
        layers.push(json!({
            "class_name": layer.class_name(),
            "name": layer_name(l),
            "config": spec["config"],
            "inbound_nodes": inbound,
        }));
    }
    let inputs: Vec<Value> = (0..graph.inputs().len())
        .map(|k| triple(&Source::Input(k)))
        .collect();
    let outputs: Vec<Value> = graph.outputs().iter().map(triple).collect();
    json!({
        "class_name": "Functional",
        "config": {
            "name": name,
            "layers": layers,
            "input_layers": inputs,
            "output_layers": outputs,
        },
    })
    .to_string()
}

/// The layer-level op graph of `graph`: a node per input (`Placeholder`) and per layer (its
/// class as the op), its inputs the layers it reads (a layer applied twice reads both).
pub(crate) fn op_graph(graph: &Graph) -> Vec<(String, String, Vec<String>)> {
    let layer_name = |l: usize| graph.layers()[l].name().unwrap_or_default().to_string();
    let mut nodes: Vec<(String, String, Vec<String>)> = graph
        .inputs()
        .iter()
        .map(|i| (i.name.clone(), "Placeholder".to_string(), Vec::new()))
        .collect();
    for (l, layer) in graph.layers().iter().enumerate() {
        let inputs = graph
            .nodes()
            .iter()
            .filter(|n| n.layer == l)
            .flat_map(|n| n.inputs.iter())
            .map(|s| match *s {
                Source::Input(k) => graph.inputs()[k].name.clone(),
                Source::Node(j, _) => layer_name(graph.nodes()[j].layer),
            })
            .collect();
        nodes.push((layer_name(l), layer.class_name().to_string(), inputs));
    }
    nodes
}
