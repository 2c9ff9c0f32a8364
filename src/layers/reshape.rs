//! `Flatten` and `Reshape`: layers that only change a sample's shape.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::built::no_weights;
use crate::layers::config::{Call, ElementOrder, Torch, TorchModule, name_field};
use crate::layers::{LayerConfig, WeightSpecs};
use crate::shape::Shape;
use burn::module::Module;
use burn::tensor::Device;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// The largest sample rank kiln's layers take (batch excluded).
pub(crate) const MAX_RANK: usize = 4;

/// Flattens each sample to one dimension: `(None, 28, 28, 1)` → `(None, 784)`.
///
/// ```
/// let layer = kiln::layers::Flatten::new();
/// assert!(layer.name.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Flatten {
    /// The layer's name; `flatten`, `flatten_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Flatten {
    /// A flattening layer.
    pub fn new() -> Self {
        Flatten::default()
    }

    /// Sets the layer's name (default: auto-numbered `flatten`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape> {
        Ok(Shape::new([input.size()]))
    }
}

/// Reshapes each sample to `target_shape` (batch excluded); one dimension may be `-1`, inferred
/// from the others, as in Keras.
///
/// ```
/// let layer = kiln::layers::Reshape::new([28, 28, 1]);
/// assert_eq!(layer.target_shape, vec![28, 28, 1]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// The new sample shape; one entry may be `-1`.
    pub target_shape: Vec<i64>,
    /// The layer's name; `reshape`, `reshape_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Reshape {
    /// A layer reshaping each sample to `target_shape`.
    pub fn new(target_shape: impl Into<Vec<i64>>) -> Self {
        Reshape {
            target_shape: target_shape.into(),
            name: None,
        }
    }

    /// Sets the layer's name (default: auto-numbered `reshape`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        let refuse = |why: String| {
            Err(Error::config(
                format!("layer `{layer}` (Reshape)"),
                format!("target shape {:?} {why}", self.target_shape),
            ))
        };
        if self.target_shape.is_empty() || self.target_shape.len() > MAX_RANK {
            return refuse(format!("must have 1 to {MAX_RANK} dimensions"));
        }
        let unknown = self.target_shape.iter().filter(|d| **d == -1).count();
        if unknown > 1 || self.target_shape.iter().any(|d| *d == 0 || *d < -1) {
            return refuse("may hold positive sizes and at most one -1".into());
        }
        let known: usize = self
            .target_shape
            .iter()
            .filter(|d| **d > 0)
            .map(|d| *d as usize)
            .product();
        let size = input.size();
        let fits = if unknown == 1 {
            size.is_multiple_of(known)
        } else {
            size == known
        };
        if !fits {
            return Err(Error::Shape {
                layer: layer.into(),
                expected: format!(
                    "a sample of {} values to fill {:?}",
                    if unknown == 1 {
                        format!("a multiple of {known}")
                    } else {
                        known.to_string()
                    },
                    self.target_shape
                ),
                received: format!("{input} ({size} values)"),
            });
        }
        let dims = self
            .target_shape
            .iter()
            .map(|d| if *d == -1 { size / known } else { *d as usize })
            .collect::<Vec<_>>();
        Ok(Shape::new(dims))
    }
}

impl LayerConfig for Flatten {
    const CLASS_NAME: &'static str = "Flatten";
    type Module = ReshapeModule;
    name_field!(name);

    fn output_shape(&self, _: &str, inputs: &[Shape]) -> Result<Shape> {
        Flatten::output_shape(self, &inputs[0])
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<ReshapeModule> {
        ReshapeModule::to(Flatten::output_shape(self, &inputs[0])?)
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let x = node.input(0, crate::graph::Layout::ChannelsLast);
        let attributes = vec![crate::io::onnx::OnnxAttribute::Int("axis", 1)];
        Ok(vec![(
            node.op("Flatten", &[&x], attributes),
            crate::graph::Layout::ChannelsLast,
        )])
    }

    fn call(&self, m: &ReshapeModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        m.forward(inputs.swap_remove(0))
    }

    fn element_order(&self) -> ElementOrder {
        ElementOrder::Flattens
    }
}

impl LayerConfig for Reshape {
    const CLASS_NAME: &'static str = "Reshape";
    type Module = ReshapeModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Reshape::output_shape(self, name, &inputs[0])
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<ReshapeModule> {
        let name = self.name.as_deref().unwrap_or_default();
        ReshapeModule::to(Reshape::output_shape(self, name, &inputs[0])?)
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let x = node.input(0, crate::graph::Layout::ChannelsLast);
        // 0 keeps the (dynamic) batch
        let dims: Vec<i64> = std::iter::once(0)
            .chain(node.output_shapes()[0].dims().iter().map(|&d| d as i64))
            .collect();
        let shape = node.constant_i64("shape", &dims);
        Ok(vec![(
            node.op("Reshape", &[&x, &shape], vec![]),
            crate::graph::Layout::ChannelsLast,
        )])
    }

    fn call(&self, m: &ReshapeModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        m.forward(inputs.swap_remove(0))
    }

    fn torch(&self, _: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule> {
        Err(Error::config(
            format!("layer `{}`", torch.name),
            "Reshape has no PyTorch equivalent in channels-first layout; save this model in \
             Keras' layout",
        ))
    }
}

/// A built `Flatten` or `Reshape` layer.
#[derive(Module, Debug)]
pub struct ReshapeModule {
    /// The dims of one sample after the layer (batch excluded).
    #[module(skip)]
    pub(crate) dims: Vec<usize>,
}

impl ReshapeModule {
    fn to(shape: Shape) -> Result<Self> {
        Ok(ReshapeModule {
            dims: shape.dims().to_vec(),
        })
    }

    fn forward(&self, x: Value) -> Result<Value> {
        let mut full = Vec::with_capacity(self.dims.len() + 1);
        full.push(x.batch());
        full.extend_from_slice(&self.dims);
        x.reshape(&full)
    }
}

no_weights!(ReshapeModule);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_multiplies_the_dims() {
        assert_eq!(
            Flatten::new()
                .output_shape(&Shape::new([5, 5, 64]))
                .unwrap(),
            Shape::new([1600])
        );
    }

    #[test]
    fn reshape_infers_one_dim() {
        let r = Reshape::new([-1, 7]);
        assert_eq!(
            r.output_shape("r", &Shape::new([28])).unwrap(),
            Shape::new([4, 7])
        );
        let r = Reshape::new([28, 28, 1]);
        assert_eq!(
            r.output_shape("r", &Shape::new([784])).unwrap(),
            Shape::new([28, 28, 1])
        );
    }

    #[test]
    fn reshape_refuses_what_does_not_fit() {
        let e = Reshape::new([5, 5])
            .output_shape("reshape_1", &Shape::new([24]))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("reshape_1") && text.contains("(None, 24)"),
            "{text}"
        );
        assert!(
            Reshape::new([-1, -1])
                .output_shape("r", &Shape::new([4]))
                .is_err()
        );
        assert!(
            Reshape::new([-1, 5])
                .output_shape("r", &Shape::new([12]))
                .is_err()
        );
        assert!(
            Reshape::new([1, 1, 1, 1, 4])
                .output_shape("r", &Shape::new([4]))
                .is_err()
        );
    }
}
