//! `Sequential`: a stack of layers, lowered to a chain graph.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::layers::Layer;
use crate::models::{Input, Model, Summary};
use crate::training::{Losses, Metrics, Optimizer};
use std::sync::Arc;

/// A plain stack of layers, each reading the previous one's output, as Keras' `Sequential`.
///
/// The builder holds configurations only; [`Sequential::build`] checks every shape and creates
/// the weights, [`Sequential::compile`] also sets up training.
///
/// ```
/// use kiln::layers::Dense;
/// use kiln::{Activation, Sequential};
/// let model = Sequential::new()
///     .input([784])
///     .add(Dense::new(512).activation(Activation::Relu))
///     .add(Dense::new(10).activation(Activation::Softmax));
/// let summary = model.summary().unwrap();
/// assert_eq!(summary.total_params, 407_050);
/// assert_eq!(summary.rows[1].name, "dense_1");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sequential {
    name: Option<String>,
    input: Option<Input>,
    layers: Vec<Layer>,
    device: Option<Device>,
}

impl Sequential {
    /// An empty model.
    pub fn new() -> Self {
        Sequential::default()
    }

    /// Sets the input: a sample shape (`[784]`) or an [`Input`].
    pub fn input(mut self, input: impl Into<Input>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// Appends a layer.
    #[allow(clippy::should_implement_trait)] // Keras' name; `+` would read oddly here
    pub fn add(mut self, layer: impl Into<Layer>) -> Self {
        self.layers.push(layer.into());
        self
    }

    /// Removes and returns the last layer.
    pub fn pop(&mut self) -> Option<Layer> {
        self.layers.pop()
    }

    /// The layers added so far.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Names the model (default `sequential`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the device the model is built on (default: `KILN_DEVICE`, else `auto`).
    pub fn device(mut self, device: Device) -> Self {
        self.device = Some(device);
        self
    }

    /// The graph this stack lowers to: every layer named and every shape checked.
    pub fn graph(&self) -> Result<Graph> {
        let input = self.input.as_ref().ok_or_else(|| {
            Error::config(
                "sequential model",
                "it has no input shape; start with `.input([784])` (the shape of one sample)",
            )
        })?;
        Graph::sequential(input.spec("input_layer"), self.layers.clone())
    }

    /// The Keras-style summary, without building weights.
    pub fn summary(&self) -> Result<Summary> {
        Ok(Summary::new(self.model_name(), &self.graph()?))
    }

    /// Checks the stack and creates its weights.
    pub fn build(self) -> Result<Model> {
        let graph = self.graph()?;
        let device = match self.device {
            Some(d) => d,
            None => Device::from_env()?,
        };
        let name = self.name.unwrap_or_else(|| "sequential".into());
        Model::build(name, Arc::new(graph), device)
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
        self.name.as_deref().unwrap_or("sequential")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Dense, Flatten};

    #[test]
    fn pop_removes_the_last_layer() {
        let mut s = Sequential::new()
            .input([4])
            .add(Dense::new(3))
            .add(Flatten::new());
        assert!(s.pop().is_some_and(|l| l.is::<crate::layers::Flatten>()));
        assert_eq!(s.layers().len(), 1);
    }

    #[test]
    fn a_missing_input_or_layer_is_explained() {
        let e = Sequential::new().add(Dense::new(3)).graph().unwrap_err();
        assert!(e.to_string().contains(".input("), "{e}");
        let e = Sequential::new().input([3]).graph().unwrap_err();
        assert!(e.to_string().contains(".add("), "{e}");
    }
}
