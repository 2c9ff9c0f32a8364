//! A built model's layers: looking one up by name, and using the model as a layer.

use crate::error::{Error, Result};
use crate::layers::{Layer, NestedModel, ParamCount};
use crate::models::{Model, SharedLayer, SymbolicInputs, SymbolicTensor};
use crate::shape::Shape;
use ndarray::ArrayD;
use std::sync::Arc;

/// One layer of a built model, as [`Model::get_layer`] gives it: its configuration, shapes and
/// current weights.
#[derive(Clone, Copy, Debug)]
pub struct LayerRef<'a> {
    model: &'a Model,
    index: usize,
}

impl<'a> LayerRef<'a> {
    /// The layer's name.
    pub fn name(&self) -> &'a str {
        self.config().name().unwrap_or_default()
    }

    /// The layer's configuration.
    pub fn config(&self) -> &'a Layer {
        &self.model.graph().layers()[self.index]
    }

    /// The layer's output shape (of its first application, when it is shared).
    pub fn output_shape(&self) -> &'a Shape {
        let graph = self.model.graph();
        // Graph::new refuses a layer that no node applies
        let node = graph
            .nodes()
            .iter()
            .position(|n| n.layer == self.index)
            .expect("every layer of a graph is applied");
        graph.node_shape(node)
    }

    /// The layer's weight counts.
    pub fn params(&self) -> ParamCount {
        self.model.graph().layer_params(self.index)
    }

    /// The layer's current weights, named as in [`Model::get_weights`] (`dense/kernel`); set
    /// them with [`Model::set_weights`].
    pub fn weights(&self) -> Vec<(String, ArrayD<f32>)> {
        self.model.network().layer_weights(self.index)
    }
}

impl Model {
    /// The layer named `name`, or an error listing the model's layers.
    ///
    /// ```
    /// use kiln::prelude::*;
    /// let model = Sequential::new().input([4]).add(Dense::new(3).name("hidden")).build()?;
    /// let hidden = model.get_layer("hidden")?;
    /// assert_eq!(hidden.weights()[0].0, "hidden/kernel");
    /// assert_eq!(hidden.weights()[0].1.shape(), &[4, 3]);
    /// assert!(model.get_layer("nope").is_err());
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn get_layer(&self, name: &str) -> Result<LayerRef<'_>> {
        let layers = self.graph().layers();
        match layers.iter().position(|l| l.name() == Some(name)) {
            Some(index) => Ok(LayerRef { model: self, index }),
            None => {
                let known: Vec<&str> = layers.iter().filter_map(|l| l.name()).collect();
                Err(Error::config(
                    format!("layer `{name}`"),
                    format!(
                        "model `{}` has no such layer; its layers are {known:?}",
                        self.name()
                    ),
                ))
            }
        }
    }

    /// This model as a layer of another: every use of it (and of its clones) shares one set
    /// of weights in the outer model, starting from this model's current weights. The outer
    /// model trains its own copy; this model is not changed by it.
    pub fn as_layer(&self) -> SharedLayer {
        let nested = NestedModel {
            name: Some(self.name().to_string()),
            graph: self.graph().clone(),
            weights: Some(Arc::new(self.get_weights())),
        };
        SharedLayer::with_id(self.layer_id(), Layer::new(nested))
    }

    /// Applies this model, as a layer, to symbolic tensors (one per model input); see
    /// [`Model::as_layer`].
    ///
    /// ```
    /// use kiln::prelude::*;
    /// let encoder = Sequential::new().name("encoder").input([8]).add(Dense::new(2)).build()?;
    /// let x = Input::new([8]);
    /// let y = Dense::new(1).apply(&encoder.apply(&x)?)?;
    /// let model = Model::new([&x], [&y])?;
    /// assert_eq!(model.get_layer("encoder")?.params().total(), 18);
    /// assert_eq!(model.get_weights()[0].0, "encoder/dense/kernel");
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn apply(&self, inputs: impl Into<SymbolicInputs>) -> Result<SymbolicTensor> {
        self.as_layer().apply(inputs)
    }
}
