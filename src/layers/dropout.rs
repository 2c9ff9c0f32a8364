//! `Dropout`: zeroes a fraction of its inputs while training.

use crate::error::{Error, Result};
use crate::graph::{Layout, Value, map_value};
use crate::layers::built::no_weights;
use crate::layers::config::{Call, ElementOrder, name_field};
use crate::layers::{LayerConfig, WeightSpecs};
use crate::shape::Shape;
use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Sets a random fraction `rate` of its inputs to zero during `fit` and scales the rest by
/// `1 / (1 - rate)`; `evaluate` and `predict` pass inputs through unchanged.
///
/// ```
/// let layer = kiln::layers::Dropout::new(0.5);
/// assert_eq!(layer.rate, 0.5);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// The fraction of inputs dropped, in `[0, 1)`.
    pub rate: f64,
    /// The layer's name; `dropout`, `dropout_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Dropout {
    /// A layer dropping a fraction `rate` of its inputs while training.
    pub fn new(rate: f64) -> Self {
        Dropout { rate, name: None }
    }

    /// Sets the layer's name (default: auto-numbered `dropout`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::config(
                format!("layer `{layer}` (Dropout)"),
                format!("rate must be in [0, 1), got {}", self.rate),
            ));
        }
        Ok(input.clone())
    }

    pub(crate) fn build(&self) -> DropoutModule {
        DropoutModule { rate: self.rate }
    }
}

/// A built `Dropout`: [`crate::ops::dropout`] with a fresh seed from kiln's stream
/// ([`crate::set_random_seed`]) on each training batch.
#[derive(Module, Debug)]
pub struct DropoutModule {
    /// The fraction of inputs dropped.
    pub(crate) rate: f64,
}

impl DropoutModule {
    /// Drops values on an autodiff device (training), passes `x` through elsewhere.
    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>> {
        if !x.device().is_autodiff() || self.rate == 0.0 {
            return Ok(x);
        }
        crate::ops::dropout(x, self.rate, crate::random::next_seed())
    }
}

impl LayerConfig for Dropout {
    const CLASS_NAME: &'static str = "Dropout";
    type Module = DropoutModule;
    name_field!(name);

    /// Masks pass through, as in Keras.
    fn supports_masking(&self) -> bool {
        true
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Dropout::output_shape(self, name, &inputs[0])
    }

    fn build(&self, _: &[Shape], _: WeightSpecs, _: &Device) -> Result<DropoutModule> {
        Ok(Dropout::build(self))
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let x = &node.inputs()[0];
        Ok(vec![(x.name.clone(), x.layout)])
    }

    fn layout(&self) -> Option<Layout> {
        None
    }

    fn call(&self, m: &DropoutModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        Ok(map_value!(inputs.swap_remove(0), t => m.forward(t)?))
    }

    fn element_order(&self) -> ElementOrder {
        ElementOrder::Keeps
    }
}

no_weights!(DropoutModule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_outside_zero_one_is_refused() {
        for rate in [-0.1, 1.0, 2.0, f64::NAN] {
            let e = Dropout::new(rate)
                .output_shape("dropout_3", &Shape::new([4]))
                .unwrap_err();
            assert!(e.to_string().contains("dropout_3"), "{e}");
        }
        assert_eq!(
            Dropout::new(0.5)
                .output_shape("d", &Shape::new([4, 2]))
                .unwrap(),
            Shape::new([4, 2])
        );
    }
}
