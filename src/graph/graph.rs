//! `Graph`: layers and the nodes that connect them, with every shape inferred.

use crate::error::{Error, Result};
use crate::layers::{Layer, ParamCount};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A model input: its name and the shape of one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// The input's name (`input_layer`).
    pub name: String,
    /// The shape of one sample.
    pub shape: Shape,
}

/// Where a node reads a tensor from. In JSON: `"input:0"`, `"node:3"` (the first output of
/// node 3), `"node:3:1"` (its second output: a recurrent layer's state with `return_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SourceSpec", into = "String")]
pub enum Source {
    /// The model input with this index.
    Input(usize),
    /// Output `.1` of the node with index `.0` (0 for a layer with one output).
    Node(usize, usize),
}

/// A source as JSON gives it: `"node:3"`, or the older `{"node": 3}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum SourceSpec {
    Text(String),
    Tagged {
        #[serde(default)]
        input: Option<usize>,
        #[serde(default)]
        node: Option<usize>,
    },
}

impl TryFrom<SourceSpec> for Source {
    type Error = String;

    fn try_from(spec: SourceSpec) -> std::result::Result<Self, String> {
        let bad = |s: &str| {
            format!(
                "`{s}` is not a source; write `input:<index>`, `node:<index>` or \
                 `node:<index>:<output>`"
            )
        };
        match spec {
            SourceSpec::Text(text) => {
                let mut parts = text.split(':');
                let kind = parts.next().unwrap_or_default();
                let numbers = parts
                    .map(|p| p.parse::<usize>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| bad(&text))?;
                match (kind, numbers.as_slice()) {
                    ("input", [k]) => Ok(Source::Input(*k)),
                    ("node", [j]) => Ok(Source::Node(*j, 0)),
                    ("node", [j, k]) => Ok(Source::Node(*j, *k)),
                    _ => Err(bad(&text)),
                }
            }
            SourceSpec::Tagged {
                input: Some(k),
                node: None,
            } => Ok(Source::Input(k)),
            SourceSpec::Tagged {
                input: None,
                node: Some(j),
            } => Ok(Source::Node(j, 0)),
            SourceSpec::Tagged { .. } => Err(bad("{..}")),
        }
    }
}

impl From<Source> for String {
    fn from(s: Source) -> String {
        match s {
            Source::Input(k) => format!("input:{k}"),
            Source::Node(j, 0) => format!("node:{j}"),
            Source::Node(j, k) => format!("node:{j}:{k}"),
        }
    }
}

/// One application of a layer to its inputs. A layer applied twice is two nodes sharing it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Index of the applied layer in [`Graph::layers`].
    pub layer: usize,
    /// What the layer reads.
    pub inputs: Vec<Source>,
}

/// A model's architecture: inputs, named layers, nodes in execution order, outputs.
///
/// Sequential models lower to a chain of nodes; the Functional API builds general graphs. Both
/// run through one executor ([`crate::graph::Network`]). Building a graph checks every name,
/// connection and shape, so a model that builds runs on any batch of the right sample shape.
///
/// In JSON, a chain (each layer reading the previous one, the last one the output) leaves out
/// `nodes` and `outputs`, as a Sequential model needs neither.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "GraphSpec", into = "GraphSpec")]
pub struct Graph {
    inputs: Vec<InputSpec>,
    layers: Vec<Layer>,
    nodes: Vec<Node>,
    outputs: Vec<Source>,
    /// Each node's output shapes (one per output).
    shapes: Vec<Vec<Shape>>,
    last_uses: Vec<usize>,
}

impl Graph {
    /// Checks and completes a graph: names unnamed layers like Keras (`dense`, `dense_1`),
    /// checks that nodes read only inputs or earlier nodes, and infers every node's shape.
    pub fn new(
        inputs: Vec<InputSpec>,
        mut layers: Vec<Layer>,
        nodes: Vec<Node>,
        outputs: Vec<Source>,
    ) -> Result<Self> {
        if inputs.is_empty() {
            return Err(Error::config(
                "model",
                "it has no input; give it one with `.input([784])`",
            ));
        }
        if outputs.is_empty() {
            return Err(Error::config("model", "it has no output; add a layer"));
        }
        name_layers(&mut layers)?;
        let mut seen = HashSet::new();
        for input in &inputs {
            if !seen.insert(input.name.as_str()) {
                return Err(Error::config(
                    format!("input `{}`", input.name),
                    "two inputs share this name; give each input its own",
                ));
            }
        }
        let (nodes, outputs) = sort_nodes(&layers, nodes, outputs)?;
        let mut graph = Graph {
            inputs,
            layers,
            nodes,
            outputs,
            shapes: Vec::new(),
            last_uses: Vec::new(),
        };
        graph.infer_shapes()?;
        if let Some(unused) =
            (0..graph.layers.len()).find(|l| !graph.nodes.iter().any(|n| n.layer == *l))
        {
            return Err(Error::config(
                format!(
                    "layer `{}`",
                    graph.layers[unused].name().unwrap_or_default()
                ),
                "no node applies it, so it is not connected to the model's inputs",
            ));
        }
        graph.last_uses = graph.find_last_uses();
        Ok(graph)
    }

    /// The chain a Sequential model lowers to: each layer reads the previous one's output.
    pub fn sequential(input: InputSpec, layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::config(
                "sequential model",
                "it has no layers; add one with `.add(...)`",
            ));
        }
        let (nodes, outputs) = chain(layers.len());
        let graph = Graph::new(vec![input], layers, nodes, outputs)?;
        graph.check_single_outputs()?;
        Ok(graph)
    }

    /// Refuses a layer with several outputs in a chain, as Keras' Sequential does: the next
    /// layer could read only one of them.
    fn check_single_outputs(&self) -> Result<()> {
        match (0..self.nodes.len()).find(|&i| self.shapes[i].len() > 1) {
            Some(i) => Err(Error::config(
                format!(
                    "layer `{}`",
                    self.layers[self.nodes[i].layer].name().unwrap_or_default()
                ),
                format!(
                    "it has {} outputs (a recurrent layer with return_state gives its states \
                     too), and each layer of a Sequential model must have one; build the model \
                     with the Functional API (`apply_all`) instead",
                    self.shapes[i].len()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Whether this is the chain of [`Graph::sequential`]: one input, each layer applied once
    /// to the previous one's output, the last one the model's output.
    pub fn is_chain(&self) -> bool {
        self.inputs.len() == 1
            && (self.nodes.clone(), self.outputs.clone()) == chain(self.layers.len())
    }

    fn infer_shapes(&mut self) -> Result<()> {
        self.shapes.clear();
        for input in &self.inputs {
            computable(&input.shape, || format!("input `{}`", input.name))?;
        }
        let mut first_inputs: Vec<Option<Vec<Shape>>> = vec![None; self.layers.len()];
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            let layer = self.layers.get(node.layer).ok_or_else(|| {
                Error::config(
                    format!("node {i}"),
                    format!(
                        "it applies layer {} but the model has {}",
                        node.layer,
                        self.layers.len()
                    ),
                )
            })?;
            let name = layer.name().unwrap_or_default();
            let inputs = node
                .inputs
                .iter()
                .map(|s| self.source_shape(*s, i, name))
                .collect::<Result<Vec<_>>>()?;
            match &first_inputs[node.layer] {
                // a shared layer has one set of weights, built for the shapes it first saw
                Some(first) if *first != inputs => {
                    return Err(Error::Shape {
                        layer: name.into(),
                        expected: format!(
                            "{} (a layer applied several times shares its weights, so every \
                             application takes the shapes of the first)",
                            crate::shape::list(first)
                        ),
                        received: crate::shape::list(&inputs),
                    });
                }
                Some(_) => {}
                None => first_inputs[node.layer] = Some(inputs.clone()),
            }
            let outputs = layer.output_shapes_of(&inputs)?;
            for shape in &outputs {
                computable(shape, || format!("layer `{name}`"))?;
            }
            self.shapes.push(outputs);
        }
        for out in &self.outputs {
            self.source_shape(*out, self.nodes.len(), "output")?;
        }
        Ok(())
    }

    /// The shape read from `source` by node `reader`, which may only read earlier nodes.
    fn source_shape(&self, source: Source, reader: usize, name: &str) -> Result<Shape> {
        match source {
            Source::Input(k) => self.inputs.get(k).map(|s| s.shape.clone()),
            Source::Node(j, k) if j < reader => self.shapes.get(j).and_then(|s| s.get(k)).cloned(),
            Source::Node(..) => None,
        }
        .ok_or_else(|| {
            Error::config(
                format!("layer `{name}`"),
                format!(
                    "it reads {source:?}, which is not an input or an output of an earlier node"
                ),
            )
        })
    }

    /// The model's inputs.
    pub fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    /// The layers, each named.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The nodes in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Where the model's outputs come from.
    pub fn outputs(&self) -> &[Source] {
        &self.outputs
    }

    /// The (first) output shape of node `i`.
    pub fn node_shape(&self, i: usize) -> &Shape {
        &self.shapes[i][0]
    }

    /// The shapes of every output of node `i`: one, unless its layer has several outputs.
    pub fn node_shapes(&self, i: usize) -> &[Shape] {
        &self.shapes[i]
    }

    /// The input shape of node `i` (its first input).
    pub fn node_input_shape(&self, i: usize) -> Shape {
        self.shape_of(self.nodes[i].inputs[0])
    }

    /// The shapes of every input of node `i`.
    pub fn node_input_shapes(&self, i: usize) -> Vec<Shape> {
        self.nodes[i]
            .inputs
            .iter()
            .map(|s| self.shape_of(*s))
            .collect()
    }

    /// The shape a source carries.
    pub fn shape_of(&self, source: Source) -> Shape {
        match source {
            Source::Input(k) => self.inputs[k].shape.clone(),
            Source::Node(j, k) => self.shapes[j][k].clone(),
        }
    }

    /// The shapes of the model's outputs.
    pub fn output_shapes(&self) -> Vec<Shape> {
        self.outputs.iter().map(|s| self.shape_of(*s)).collect()
    }

    /// The weights of layer `index`, counted once however often it is applied.
    pub fn layer_params(&self, index: usize) -> ParamCount {
        self.nodes
            .iter()
            .position(|n| n.layer == index)
            .map(|n| self.layers[index].param_count_of(&self.node_input_shapes(n)))
            .unwrap_or_default()
    }

    /// All the model's weights.
    pub fn total_params(&self) -> ParamCount {
        (0..self.layers.len())
            .map(|i| self.layer_params(i))
            .fold(ParamCount::default(), |a, b| a + b)
    }

    /// For each node, the index of the last node that reads one of its outputs (`usize::MAX`
    /// for the model's outputs).
    pub(crate) fn last_uses(&self) -> &[usize] {
        &self.last_uses
    }

    fn find_last_uses(&self) -> Vec<usize> {
        let mut last = vec![0; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for s in &node.inputs {
                if let Source::Node(j, _) = s {
                    last[*j] = i;
                }
            }
        }
        for s in &self.outputs {
            if let Source::Node(j, _) = s {
                last[*j] = usize::MAX;
            }
        }
        last
    }
}

/// Checks that samples of `shape` can be computed: kiln's values are tensors of rank 2 to 5
/// (the batch and 1 to 4 dimensions), none of them empty.
fn computable(shape: &Shape, what: impl Fn() -> String) -> Result<()> {
    if (1..=4).contains(&shape.rank()) && !shape.dims().contains(&0) {
        return Ok(());
    }
    Err(Error::config(
        what(),
        format!(
            "samples of shape {shape}: kiln computes samples of 1 to 4 dimensions, none of them 0"
        ),
    ))
}

/// The nodes in an order where each reads only inputs and earlier nodes (their given order
/// when it already is one), with the sources renumbered; refuses reads of missing nodes and
/// cycles, naming the layers involved.
fn sort_nodes(
    layers: &[Layer],
    nodes: Vec<Node>,
    outputs: Vec<Source>,
) -> Result<(Vec<Node>, Vec<Source>)> {
    let layer_name = |n: &Node| {
        layers
            .get(n.layer)
            .and_then(|l| l.name())
            .map_or(format!("node applying layer {}", n.layer), |name| {
                format!("layer `{name}`")
            })
    };
    for (i, node) in nodes.iter().enumerate() {
        for s in &node.inputs {
            if let Source::Node(j, _) = s
                && *j >= nodes.len()
            {
                return Err(Error::config(
                    layer_name(node),
                    format!("node {i} reads node {j}, but the graph has {}", nodes.len()),
                ));
            }
        }
        if node.inputs.is_empty() {
            return Err(Error::config(layer_name(node), "it is applied to no input"));
        }
    }
    for (k, s) in outputs.iter().enumerate() {
        if let Source::Node(j, _) = s
            && *j >= nodes.len()
        {
            return Err(Error::config(
                "model graph",
                format!(
                    "output {k} reads node {j}, but the graph has {}",
                    nodes.len()
                ),
            ));
        }
    }
    let mut order: Vec<usize> = Vec::with_capacity(nodes.len());
    let mut placed = vec![false; nodes.len()];
    while order.len() < nodes.len() {
        let ready = (0..nodes.len()).find(|&i| {
            !placed[i]
                && nodes[i].inputs.iter().all(|s| match s {
                    Source::Input(_) => true,
                    Source::Node(j, _) => placed[*j],
                })
        });
        let Some(i) = ready else {
            let stuck: Vec<String> = (0..nodes.len())
                .filter(|i| !placed[*i])
                .map(|i| layer_name(&nodes[i]))
                .collect();
            return Err(Error::config(
                "model graph",
                format!(
                    "it has a cycle: {} each wait for another's output; a model's layers must \
                     read only its inputs and layers before them",
                    stuck.join(", ")
                ),
            ));
        };
        placed[i] = true;
        order.push(i);
    }
    let mut new_index = vec![0; nodes.len()];
    for (new, old) in order.iter().enumerate() {
        new_index[*old] = new;
    }
    let renumber = |s: &Source| match s {
        Source::Node(j, k) => Source::Node(new_index[*j], *k),
        input => *input,
    };
    let sorted = order
        .iter()
        .map(|&old| Node {
            layer: nodes[old].layer,
            inputs: nodes[old].inputs.iter().map(renumber).collect(),
        })
        .collect();
    Ok((sorted, outputs.iter().map(renumber).collect()))
}

/// The nodes and output of a chain of `n` layers.
fn chain(n: usize) -> (Vec<Node>, Vec<Source>) {
    let nodes = (0..n)
        .map(|i| Node {
            layer: i,
            inputs: vec![if i == 0 {
                Source::Input(0)
            } else {
                Source::Node(i - 1, 0)
            }],
        })
        .collect();
    (nodes, vec![Source::Node(n.saturating_sub(1), 0)])
}

/// A graph as written in JSON, checked and completed by [`Graph::new`] when read. A chain
/// leaves out its nodes and outputs.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphSpec {
    inputs: Vec<InputSpec>,
    layers: Vec<Layer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<Node>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outputs: Option<Vec<Source>>,
}

impl TryFrom<GraphSpec> for Graph {
    type Error = Error;

    fn try_from(g: GraphSpec) -> Result<Self> {
        let (chain_nodes, chain_outputs) = chain(g.layers.len());
        let nodes = g.nodes.unwrap_or(chain_nodes);
        let outputs = g.outputs.unwrap_or(if nodes.is_empty() {
            Vec::new()
        } else {
            chain_outputs
        });
        Graph::new(g.inputs, g.layers, nodes, outputs)
    }
}

impl From<Graph> for GraphSpec {
    fn from(g: Graph) -> Self {
        let chain = g.is_chain();
        GraphSpec {
            inputs: g.inputs,
            layers: g.layers,
            nodes: (!chain).then_some(g.nodes),
            outputs: (!chain).then_some(g.outputs),
        }
    }
}

/// Names the unnamed layers `base`, `base_1`, … skipping names already taken, and refuses
/// two layers with one name.
fn name_layers(layers: &mut [Layer]) -> Result<()> {
    let mut taken = HashSet::new();
    for layer in layers.iter() {
        if let Some(name) = layer.name() {
            if name.is_empty() {
                return Err(Error::config(
                    format!("{} layer", layer.class_name()),
                    "its name is empty; give a name or leave it unset",
                ));
            }
            if name.contains('/') {
                return Err(Error::config(
                    format!("layer `{name}`"),
                    "its name contains `/`, which separates layer and weight names in files; \
                     choose a name without it",
                ));
            }
            if !taken.insert(name.to_string()) {
                return Err(Error::config(
                    format!("layer `{name}`"),
                    "two layers share this name; give each layer its own",
                ));
            }
        }
    }
    let mut next: HashMap<String, usize> = HashMap::new();
    for layer in layers.iter_mut().filter(|l| l.name().is_none()) {
        let base = layer.base_name();
        let k = next.entry(base.clone()).or_insert(0);
        let name = loop {
            let candidate = if *k == 0 {
                base.to_string()
            } else {
                format!("{base}_{k}")
            };
            *k += 1;
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        taken.insert(name.clone());
        layer.set_name(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Dense, Dropout, Flatten};

    fn chain(input: Shape, layers: Vec<Layer>) -> Result<Graph> {
        let input = InputSpec {
            name: "input_layer".into(),
            shape: input,
        };
        Graph::sequential(input, layers)
    }

    #[test]
    fn names_count_per_kind_like_keras() {
        let g = chain(
            Shape::new([4]),
            vec![
                Dense::new(3).into(),
                Dropout::new(0.1).into(),
                Dense::new(3).into(),
                Dense::new(2).into(),
            ],
        )
        .unwrap();
        let names: Vec<_> = g.layers().iter().map(|l| l.name().unwrap()).collect();
        assert_eq!(names, ["dense", "dropout", "dense_1", "dense_2"]);
    }

    #[test]
    fn auto_names_skip_names_the_user_took() {
        let g = chain(
            Shape::new([4]),
            vec![Dense::new(3).into(), Dense::new(3).name("dense_1").into()],
        )
        .unwrap();
        let names: Vec<_> = g.layers().iter().map(|l| l.name().unwrap()).collect();
        assert_eq!(names, ["dense", "dense_1"]);
        let g = chain(
            Shape::new([4]),
            vec![Dense::new(3).name("dense").into(), Dense::new(3).into()],
        )
        .unwrap();
        assert_eq!(g.layers()[1].name(), Some("dense_1"));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let e = chain(
            Shape::new([4]),
            vec![
                Dense::new(3).name("a").into(),
                Dense::new(3).name("a").into(),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`a`"), "{e}");
    }

    #[test]
    fn shapes_are_inferred_and_counted() {
        let g = chain(
            Shape::new([28, 28]),
            vec![
                Flatten::new().into(),
                Dense::new(512).into(),
                Dense::new(10).into(),
            ],
        )
        .unwrap();
        assert_eq!(g.node_shape(0), &Shape::new([784]));
        assert_eq!(g.output_shapes(), vec![Shape::new([10])]);
        assert_eq!(g.total_params().total(), 407_050);
    }

    #[test]
    fn samples_of_5_dimensions_or_of_none_are_refused() {
        let cases: [Vec<usize>; 3] = [vec![2, 2, 2, 2, 2], vec![], vec![3, 0]];
        for dims in cases {
            let input = InputSpec {
                name: "x".into(),
                shape: Shape::new(dims.clone()),
            };
            let e = Graph::sequential(input, vec![Dense::new(3).into()])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("input `x`") && e.contains("1 to 4 dimensions"),
                "{dims:?}: {e}"
            );
        }
        let input = InputSpec {
            name: "x".into(),
            shape: Shape::new([4]),
        };
        let layers = vec![crate::layers::Reshape::new([1, 1, 1, 2, 2]).into()];
        let e = Graph::sequential(input, layers).unwrap_err().to_string();
        assert!(
            e.contains("layer `reshape`") && e.contains("1 to 4 dimensions"),
            "{e}"
        );
    }

    #[test]
    fn an_output_of_a_missing_node_is_refused() {
        let inputs = vec![InputSpec {
            name: "x".into(),
            shape: Shape::new([3]),
        }];
        let nodes = vec![Node {
            layer: 0,
            inputs: vec![Source::Input(0)],
        }];
        let e = Graph::new(
            inputs,
            vec![Dense::new(3).into()],
            nodes,
            vec![Source::Node(6, 0)],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("output 0 reads node 6, but the graph has 1"),
            "{e}"
        );
    }

    #[test]
    fn nodes_are_sorted_and_cycles_refused() {
        let layers: Vec<Layer> = vec![Dense::new(3).into(), Dense::new(3).into()];
        let inputs = vec![InputSpec {
            name: "x".into(),
            shape: Shape::new([3]),
        }];
        let out_of_order = vec![
            Node {
                layer: 1,
                inputs: vec![Source::Node(1, 0)],
            },
            Node {
                layer: 0,
                inputs: vec![Source::Input(0)],
            },
        ];
        let g = Graph::new(
            inputs.clone(),
            layers.clone(),
            out_of_order,
            vec![Source::Node(0, 0)],
        )
        .unwrap();
        assert_eq!(g.nodes()[0].layer, 0);
        assert_eq!(g.nodes()[1].inputs, vec![Source::Node(0, 0)]);
        assert_eq!(g.outputs(), &[Source::Node(1, 0)]);
        let cycle = vec![
            Node {
                layer: 0,
                inputs: vec![Source::Node(1, 0)],
            },
            Node {
                layer: 1,
                inputs: vec![Source::Node(0, 0)],
            },
        ];
        let e = Graph::new(inputs, layers, cycle, vec![Source::Node(1, 0)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cycle") && e.contains("`dense`") && e.contains("`dense_1`"),
            "{e}"
        );
    }

    #[test]
    fn a_node_reading_a_missing_node_is_refused() {
        let layers: Vec<Layer> = vec![Dense::new(3).into(), Dense::new(3).into()];
        let nodes = vec![
            Node {
                layer: 0,
                inputs: vec![Source::Input(0)],
            },
            Node {
                layer: 1,
                inputs: vec![Source::Node(7, 0)],
            },
        ];
        let inputs = vec![InputSpec {
            name: "x".into(),
            shape: Shape::new([3]),
        }];
        let e = Graph::new(inputs, layers, nodes, vec![Source::Node(1, 0)]).unwrap_err();
        assert!(e.to_string().contains("node 7"), "{e}");
    }

    #[test]
    fn an_invalid_graph_is_refused_when_read() {
        let g = chain(Shape::new([4]), vec![Dense::new(3).into()]).unwrap();
        let json = serde_json::to_string(&g).unwrap().replace(
            "\"layers\":",
            "\"nodes\":[{\"layer\":5,\"inputs\":[\"input:0\"]}],\"layers\":",
        );
        let e = serde_json::from_str::<Graph>(&json)
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 5"), "{e}");
    }

    #[test]
    fn a_chain_is_written_without_nodes_and_read_back_whole() {
        let g = chain(
            Shape::new([4]),
            vec![Dense::new(3).into(), Dense::new(2).into()],
        )
        .unwrap();
        assert!(g.is_chain());
        let json = serde_json::to_value(&g).unwrap();
        assert!(
            json.get("nodes").is_none() && json.get("outputs").is_none(),
            "{json}"
        );
        let back: Graph = serde_json::from_value(json).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.output_shapes(), vec![Shape::new([2])]);
    }

    #[test]
    fn a_graph_that_is_not_a_chain_keeps_its_nodes() {
        let layers: Vec<Layer> = vec![Dense::new(3).into()];
        let nodes = vec![
            Node {
                layer: 0,
                inputs: vec![Source::Input(0)],
            },
            Node {
                layer: 0,
                inputs: vec![Source::Node(0, 0)],
            },
        ];
        let inputs = vec![InputSpec {
            name: "x".into(),
            shape: Shape::new([3]),
        }];
        let g = Graph::new(inputs, layers, nodes, vec![Source::Node(1, 0)]).unwrap();
        assert!(!g.is_chain());
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.contains("\"nodes\""), "{json}");
        assert_eq!(serde_json::from_str::<Graph>(&json).unwrap(), g);
    }

    #[test]
    fn sources_read_as_text_or_tagged() {
        let s: Vec<Source> =
            serde_json::from_str(r#"["input:0", "node:3", {"node": 2}, "node:4:2"]"#).unwrap();
        assert_eq!(
            s,
            [
                Source::Input(0),
                Source::Node(3, 0),
                Source::Node(2, 0),
                Source::Node(4, 2)
            ]
        );
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"["input:0","node:3","node:2","node:4:2"]"#
        );
        for bad in [
            r#""layer:1""#,
            r#""input:1:1""#,
            r#""node:1:x""#,
            r#""node""#,
        ] {
            assert!(serde_json::from_str::<Source>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_round_trip_restores_shapes() {
        let g = chain(Shape::new([4]), vec![Dense::new(3).into()]).unwrap();
        let json = serde_json::to_string(&g).unwrap();
        let back: Graph = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.node_shape(0), &Shape::new([3]));
    }
}
