//! `Functional`: a model traced from symbolic inputs to outputs, as Keras' Functional API.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::graph::{Graph, InputSpec, Node, Source};
use crate::layers::Layer;
use crate::models::symbolic::SymbolicNode;
use crate::models::{Input, Model, Summary, SymbolicTensor};
use crate::training::{Losses, Metrics, Optimizer};
use std::collections::HashMap;
use std::sync::Arc;

/// A model given by its inputs and outputs: the graph of every layer applied between them.
///
/// Build the outputs by applying layers to [`Input`]s ([`crate::models::Apply::apply`]), then
/// trace them with [`Functional::new`]. The graph is checked when traced: every output must
/// depend only on the listed inputs, inputs need distinct names, and shapes must agree. It
/// lowers to the same [`Graph`] and executor as [`crate::Sequential`].
///
/// ```
/// use kiln::prelude::*;
/// let (a, b) = (Input::new([32]).name("a"), Input::new([16]).name("b"));
/// let x = Dense::new(8).activation(Relu).apply(&a)?;
/// let y = Dense::new(8).activation(Relu).apply(&b)?;
/// let joined = Concatenate::new().apply([&x, &y])?;
/// let score = Dense::new(1).name("score").apply(&joined)?;
/// let class = Dense::new(3).activation(Softmax).name("class").apply(&joined)?;
/// let model = Functional::new([&a, &b], [&score, &class])?;
/// assert_eq!(model.summary().total_params, 32 * 8 + 8 + 16 * 8 + 8 + 17 + 51);
/// let model = model.build()?;
/// assert_eq!(model.output_names(), ["score", "class"]);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Functional {
    name: Option<String>,
    graph: Graph,
    device: Option<Device>,
}

impl Functional {
    /// Traces the layers between `inputs` and `outputs` into a checked graph.
    pub fn new<'a, 'b>(
        inputs: impl IntoIterator<Item = &'a Input>,
        outputs: impl IntoIterator<Item = &'b SymbolicTensor>,
    ) -> Result<Self> {
        let inputs: Vec<&Input> = inputs.into_iter().collect();
        let outputs: Vec<&SymbolicTensor> = outputs.into_iter().collect();
        Ok(Functional {
            name: None,
            graph: trace(&inputs, &outputs)?,
            device: None,
        })
    }

    /// Names the model (default `functional`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the device the model is built on (default: `KILN_DEVICE`, else `auto`).
    pub fn device(mut self, device: Device) -> Self {
        self.device = Some(device);
        self
    }

    /// The traced graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The Keras-style summary, without building weights.
    pub fn summary(&self) -> Summary {
        Summary::new(self.model_name(), &self.graph)
    }

    /// Creates the weights (a nested model starts from its weights when applied).
    pub fn build(self) -> Result<Model> {
        let device = match self.device {
            Some(d) => d,
            None => Device::from_env()?,
        };
        let name = self.name.unwrap_or_else(|| "functional".into());
        Model::build(name, Arc::new(self.graph), device)
    }

    /// Builds the model and compiles it for training, in one step.
    pub fn compile(
        self,
        optimizer: impl Into<Optimizer>,
        loss: impl Into<Losses>,
        metrics: impl Into<Metrics>,
    ) -> Result<Model> {
        let mut model = self.build()?;
        model.compile(optimizer, loss, metrics)?;
        Ok(model)
    }

    fn model_name(&self) -> &str {
        self.name.as_deref().unwrap_or("functional")
    }
}

impl Model {
    /// A Functional model from `inputs` to `outputs`, built on the default device: the same as
    /// `Functional::new(inputs, outputs)?.build()`.
    pub fn new<'a, 'b>(
        inputs: impl IntoIterator<Item = &'a Input>,
        outputs: impl IntoIterator<Item = &'b SymbolicTensor>,
    ) -> Result<Model> {
        Functional::new(inputs, outputs)?.build()
    }
}

/// Builds the graph between `inputs` and `outputs`.
fn trace(inputs: &[&Input], outputs: &[&SymbolicTensor]) -> Result<Graph> {
    let mut specs: Vec<InputSpec> = Vec::with_capacity(inputs.len());
    for (k, input) in inputs.iter().enumerate() {
        if inputs[..k].iter().any(|i| i.id() == input.id()) {
            return Err(Error::config(
                describe_input(input),
                "it is listed twice among the model's inputs; list each input once",
            ));
        }
        if let Some(name) = input.given_name()
            && inputs[..k].iter().any(|i| i.given_name() == Some(name))
        {
            return Err(Error::config(
                format!("input `{name}`"),
                "two inputs share this name; give each input its own",
            ));
        }
    }
    for input in inputs {
        let taken = |n: &str| {
            inputs.iter().any(|i| i.given_name() == Some(n)) || specs.iter().any(|s| s.name == n)
        };
        let name = match input.given_name() {
            Some(name) => name.to_string(),
            None => (0..)
                .map(|k| match k {
                    0 => "input_layer".to_string(),
                    k => format!("input_layer_{k}"),
                })
                .find(|n| !taken(n))
                .expect("names are unbounded"),
        };
        specs.push(InputSpec {
            name,
            shape: input.shape().clone(),
        });
    }
    let mut tracer = Tracer {
        inputs,
        layers: Vec::new(),
        layer_index: HashMap::new(),
        nodes: Vec::new(),
        node_index: HashMap::new(),
    };
    let mut sources = Vec::with_capacity(outputs.len());
    for output in outputs {
        sources.push(tracer.visit(output, output)?);
    }
    let layers = tracer.layers;
    let nodes = tracer.nodes;
    Graph::new(specs, layers, nodes, sources)
}

fn describe_input(input: &Input) -> String {
    SymbolicTensor::from(input).describe()
}

/// Walks from the outputs back to the inputs, numbering layers and nodes in the order a
/// depth-first walk finishes them (a topological order).
struct Tracer<'a> {
    inputs: &'a [&'a Input],
    layers: Vec<Layer>,
    layer_index: HashMap<u64, usize>,
    nodes: Vec<Node>,
    node_index: HashMap<*const SymbolicNode, usize>,
}

impl Tracer<'_> {
    fn visit(&mut self, t: &SymbolicTensor, output: &SymbolicTensor) -> Result<Source> {
        match &*t.node {
            SymbolicNode::Input(input) => self
                .inputs
                .iter()
                .position(|i| i.id() == input.id())
                .map(Source::Input)
                .ok_or_else(|| {
                    Error::config(
                        format!("model output from {}", output.describe()),
                        format!(
                            "it is not connected to the model's inputs: it depends on {}, which \
                             is not among them; add that input to the model's inputs",
                            t.describe()
                        ),
                    )
                }),
            SymbolicNode::Layer { layer, inputs, .. } => {
                let key = Arc::as_ptr(&t.node);
                if let Some(&i) = self.node_index.get(&key) {
                    return Ok(Source::Node(i, t.output));
                }
                let mut sources = Vec::with_capacity(inputs.len());
                for input in inputs {
                    sources.push(self.visit(input, output)?);
                }
                let next = self.layers.len();
                let index = *self.layer_index.entry(layer.id).or_insert(next);
                if index == next {
                    self.layers.push((*layer.layer).clone());
                }
                self.nodes.push(Node {
                    layer: index,
                    inputs: sources,
                });
                let i = self.nodes.len() - 1;
                self.node_index.insert(key, i);
                Ok(Source::Node(i, t.output))
            }
        }
    }
}
