//! `NestedModel`: a whole model used as one layer of another.

use crate::error::{Error, Result};
use crate::graph::{Graph, Logits, Network, Value};
use crate::layers::config::{Call, Torch, TorchModule, name_field};
use crate::layers::{BuiltLayer, LayerConfig, ParamCount, WeightSpecs};
use crate::shape::Shape;
use burn::module::Module;
use burn::module::ParamId;
use burn::tensor::{Device, TensorData};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Weights by name (`dense/kernel`), as [`crate::Model::get_weights`] gives them.
pub(crate) type NamedWeights = Vec<(String, ArrayD<f32>)>;

/// A model used as a layer: its graph runs as one node of the outer model.
///
/// Made by [`crate::Model::apply`] (or [`crate::Model::as_layer`]), which copies the model's
/// weights at that moment: the outer model starts from them and trains its own copy. Its
/// weights are named under the nested model's name (`encoder/dense/kernel`). Written to JSON
/// as Keras writes a nested model, with the inner graph as its configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NestedModel {
    /// The layer's name: the nested model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The nested model's graph.
    pub graph: Graph,
    /// The weights to start from; fresh ones when `None` (read from JSON).
    #[serde(skip)]
    pub(crate) weights: Option<Arc<NamedWeights>>,
}

impl NestedModel {
    /// A model with `graph` and fresh weights, as a layer named `name`.
    pub fn new(name: impl Into<String>, graph: Graph) -> Self {
        NestedModel {
            name: Some(name.into()),
            graph,
            weights: None,
        }
    }

    pub(crate) fn build(&self, device: &burn::tensor::Device) -> crate::Result<NestedModule> {
        let mut network = Network::build(Arc::new(self.graph.clone()), device)?;
        if let Some(weights) = &self.weights {
            network.set_weights(weights)?;
        }
        Ok(NestedModule {
            inner: vec![network],
        })
    }
}

/// Compares the architecture only: the starting weights are not part of a configuration.
impl PartialEq for NestedModel {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.graph == other.graph
    }
}

impl std::fmt::Debug for NestedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NestedModel")
            .field("name", &self.name)
            .field("graph", &self.graph)
            .field("weights", &self.weights.as_ref().map(|w| w.len()))
            .finish()
    }
}

/// A built nested model: its network, held in a one-element `Vec` (Burn's `Module` derive
/// reaches recursive types through `Vec`).
#[derive(Module, Debug)]
pub struct NestedModule {
    pub(crate) inner: Vec<Network>,
}

impl NestedModule {
    /// The nested network.
    pub fn network(&self) -> &Network {
        &self.inner[0]
    }

    pub(crate) fn network_mut(&mut self) -> &mut Network {
        &mut self.inner[0]
    }
}

impl LayerConfig for NestedModel {
    /// Written as Keras writes a nested model; `Sequential` reads too.
    const CLASS_NAME: &'static str = "Functional";
    type Module = NestedModule;
    name_field!(name);

    /// `Sequential` when the nested graph is a chain, `Functional` otherwise, as Keras names
    /// them in a summary.
    fn class_name(&self) -> &'static str {
        if self.graph.is_chain() {
            "Sequential"
        } else {
            "Functional"
        }
    }

    fn base_name(&self) -> String {
        if self.graph.is_chain() {
            "sequential".into()
        } else {
            "functional".into()
        }
    }

    fn arity(&self) -> (usize, usize) {
        let n = self.graph.inputs().len();
        (n, n)
    }

    /// The output for `inputs`, which must be the shapes the model was built for.
    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let expected: Vec<Shape> = self
            .graph
            .inputs()
            .iter()
            .map(|i| i.shape.clone())
            .collect();
        if inputs != expected.as_slice() {
            return Err(Error::Shape {
                layer: name.into(),
                expected: crate::shape::list(&expected),
                received: crate::shape::list(inputs),
            });
        }
        match self.graph.output_shapes().as_slice() {
            [one] => Ok(one.clone()),
            many => Err(Error::config(
                format!("model `{name}`"),
                format!(
                    "it has {} outputs; a model used as a layer must have one",
                    many.len()
                ),
            )),
        }
    }

    /// The nested model's weights, counted as its summary counts them.
    fn param_count(&self, _: &[Shape]) -> ParamCount {
        self.graph.total_params()
    }

    fn build(&self, _: &[Shape], _: WeightSpecs, device: &Device) -> Result<NestedModule> {
        NestedModel::build(self, device)
    }

    fn call(&self, m: &NestedModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
        Ok(self.call_with_logits(m, inputs, call)?.0)
    }

    fn call_with_logits(
        &self,
        m: &NestedModule,
        inputs: Vec<Value>,
        _: &Call,
    ) -> Result<(Value, Option<Logits>)> {
        let out = m.network().forward(inputs)?.swap_remove(0);
        Ok((out.value, out.logits))
    }

    fn torch(&self, _: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule> {
        Err(Error::config(
            format!("layer `{}`", torch.name),
            "a nested model has no place in a flat torch.nn.Sequential; save this model in \
             Keras' layout",
        ))
    }

    fn savable(&self) -> Result<()> {
        self.graph.layers().iter().try_for_each(|l| l.savable())
    }
}

impl BuiltLayer for NestedModule {
    fn weights(&self) -> Vec<(String, TensorData)> {
        self.network().weight_data()
    }

    fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        self.network_mut().set_weight(name, data)
    }

    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        self.network_mut().param_ids()
    }
}
