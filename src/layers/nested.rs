//! `NestedModel`: a whole model used as one layer of another.

use crate::graph::{Graph, Network};
use burn::module::Module;
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

    /// `Sequential` when the nested graph is a chain, `Functional` otherwise, as Keras names
    /// them in a summary.
    pub fn class_name(&self) -> &'static str {
        if self.graph.is_chain() {
            "Sequential"
        } else {
            "Functional"
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
