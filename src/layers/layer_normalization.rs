//! `LayerNormalization`: normalizes each sample over its last axis.

use crate::error::{Error, Result};
use crate::graph::{Value, map_value};
use crate::layers::config::{Call, Torch, TorchModule, TorchTensor, name_field};
use crate::layers::{Initializer, LayerConfig, WeightSpecs, Weights};
use crate::shape::Shape;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// Normalizes each sample over its last axis, as Keras' `LayerNormalization`:
/// `(x - mean) / sqrt(variance + epsilon) · gamma + beta`, with the mean and (population)
/// variance of each position's features, in training and inference alike.
///
/// Keras' defaults: axis -1, epsilon 1e-3, `gamma` (ones) and `beta` (zeros) both trainable,
/// one per feature.
///
/// ```
/// use kiln::layers::LayerNormalization;
/// let ln = LayerNormalization::new();
/// assert_eq!((ln.axis, ln.epsilon, ln.center, ln.scale), (-1, 1e-3, true, true));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNormalization {
    /// The axis normalized over, batch included; kiln takes the last (`-1`, the default).
    #[serde(default = "last")]
    pub axis: i32,
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f64,
    /// Whether to add the learned offset `beta` (default true).
    #[serde(default = "yes")]
    pub center: bool,
    /// Whether to multiply by the learned scale `gamma` (default true).
    #[serde(default = "yes")]
    pub scale: bool,
    /// The layer's name; `layer_normalization`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn last() -> i32 {
    -1
}

fn epsilon() -> f64 {
    1e-3
}

fn yes() -> bool {
    true
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization {
            axis: last(),
            epsilon: epsilon(),
            center: true,
            scale: true,
            name: None,
        }
    }
}

impl LayerNormalization {
    /// A layer normalization with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets epsilon (default 1e-3).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets whether to add `beta` (default true).
    pub fn center(mut self, center: bool) -> Self {
        self.center = center;
        self
    }

    /// Sets whether to multiply by `gamma` (default true).
    pub fn scale(mut self, scale: bool) -> Self {
        self.scale = scale;
        self
    }

    /// Sets the layer's name (default: auto-numbered `layer_normalization`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl LayerConfig for LayerNormalization {
    const CLASS_NAME: &'static str = "LayerNormalization";
    type Module = Weights;
    name_field!(name);

    /// Masks pass through, as in Keras.
    fn supports_masking(&self) -> bool {
        true
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let input = &inputs[0];
        let rank = input.rank() as i32 + 1;
        if self.axis != -1 && self.axis != rank - 1 {
            return Err(Error::config(
                format!("layer `{name}` (LayerNormalization): axis"),
                format!(
                    "kiln normalizes over the last axis only (-1 or {}), got {} for input {input}",
                    rank - 1,
                    self.axis
                ),
            ));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::config(
                format!("layer `{name}` (LayerNormalization): epsilon"),
                format!("{} is not a positive number", self.epsilon),
            ));
        }
        Ok(input.clone())
    }

    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        let features = inputs[0].last().unwrap_or(0);
        if self.scale {
            weights.add_weight("gamma", [features], Initializer::Ones, true);
        }
        if self.center {
            weights.add_weight("beta", [features], Initializer::Zeros, true);
        }
        Ok(())
    }

    /// `torch.nn.LayerNorm(features, eps=epsilon)`: `weight` is `gamma`, `bias` is `beta`
    /// (build it with this layer's epsilon, Keras' 1e-3, not torch's 1e-5; without `center` or
    /// `scale`, with `bias=False` or `elementwise_affine=False`). Only on features: PyTorch's
    /// last axis of an image is its width, not its channels.
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule> {
        if torch.input.rank() > 1 {
            return Err(Error::config(
                format!("layer `{}`", torch.name),
                format!(
                    "a LayerNormalization on input {} normalizes channels, which PyTorch keeps \
                     first; save this model in Keras' layout",
                    torch.input
                ),
            ));
        }
        let tensors = weights
            .into_iter()
            .map(|(name, w)| {
                let leaf = if name == "gamma" { "weight" } else { "bias" };
                (leaf.to_string(), TorchTensor::F32(w))
            })
            .collect();
        Ok(TorchModule {
            tensors,
            modules: 1,
        })
    }

    fn call(&self, w: &Weights, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        let gamma = self.scale.then(|| w.get::<1>("gamma")).transpose()?;
        let beta = self.center.then(|| w.get::<1>("beta")).transpose()?;
        let x = inputs.swap_remove(0);
        Ok(map_value!(x, t => {
            let last = t.dims().len() - 1;
            let centered = t.clone() - t.mean_dim(last);
            let variance = centered.clone().powi_scalar(2).mean_dim(last);
            let mut y = centered / variance.add_scalar(self.epsilon).sqrt();
            if let Some(g) = &gamma {
                y = y * g.clone().unsqueeze();
            }
            if let Some(b) = &beta {
                y = y + b.clone().unsqueeze();
            }
            y
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;

    fn run(layer: LayerNormalization, x: Value) -> Vec<f32> {
        let device = crate::backend::test_device();
        let l = Layer::new(layer);
        let shape = Shape::new(x.dims()[1..].to_vec());
        let m = l.build(std::slice::from_ref(&shape), &device).unwrap();
        let (y, _) = l
            .call(&m, vec![x], crate::graph::Layout::ChannelsLast)
            .unwrap();
        y.flatten().into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn normalizes_each_position_by_hand() {
        let device = crate::backend::test_device();
        // one sample, two positions of three features
        let x =
            Value::from_host(vec![1.0, 2.0, 3.0, 10.0, 10.0, 16.0], &[1, 2, 3], &device).unwrap();
        let y = run(LayerNormalization::new(), x);
        // [1, 2, 3]: mean 2, variance 2/3 -> (x - 2) / sqrt(2/3 + 1e-3)
        // [10, 10, 16]: mean 12, variance 8 -> (x - 12) / sqrt(8 + 1e-3)
        let a = (2.0f64 / 3.0 + 1e-3).sqrt();
        let b = (8.0f64 + 1e-3).sqrt();
        let expected = [-1.0 / a, 0.0, 1.0 / a, -2.0 / b, -2.0 / b, 4.0 / b];
        for (got, want) in y.iter().zip(expected) {
            assert!((*got as f64 - want).abs() < 1e-5, "{y:?} vs {expected:?}");
        }
    }

    #[test]
    fn gamma_and_beta_scale_and_shift() {
        let device = crate::backend::test_device();
        let layer = Layer::new(LayerNormalization::new().epsilon(1e-6));
        let shape = Shape::new([2]);
        let mut m = layer.build(std::slice::from_ref(&shape), &device).unwrap();
        assert!(m.set_weight(
            "gamma",
            burn::tensor::TensorData::new(vec![2.0f32, 3.0], [2])
        ));
        assert!(m.set_weight(
            "beta",
            burn::tensor::TensorData::new(vec![0.5f32, -1.0], [2])
        ));
        let x = Value::from_host(vec![0.0, 4.0], &[1, 2], &device).unwrap();
        let (y, _) = layer
            .call(&m, vec![x], crate::graph::Layout::ChannelsLast)
            .unwrap();
        let y: Vec<f32> = y.flatten().into_data().try_to_vec::<f32>().unwrap();
        // normalized [-1, 1] (up to epsilon), times [2, 3], plus [0.5, -1]
        assert!(
            (y[0] - -1.5).abs() < 1e-4 && (y[1] - 2.0).abs() < 1e-4,
            "{y:?}"
        );
    }

    #[test]
    fn weights_and_counts_follow_keras() {
        let l = Layer::new(LayerNormalization::new());
        assert_eq!(l.param_count(&Shape::new([5, 8])).trainable, 16);
        let specs = l.weight_specs(&[Shape::new([8])]).unwrap();
        let names: Vec<&str> = specs.specs().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gamma", "beta"]);
        let plain = Layer::new(LayerNormalization::new().center(false).scale(false));
        assert_eq!(plain.param_count(&Shape::new([8])).total(), 0);
        assert_eq!(l.base_name(), "layer_normalization");
    }

    #[test]
    fn torch_takes_gamma_and_beta_as_weight_and_bias_on_features_only() {
        let l = Layer::new(LayerNormalization::new());
        let weights = vec![
            (
                "gamma".to_string(),
                ArrayD::from_elem(ndarray::IxDyn(&[3]), 2.0),
            ),
            (
                "beta".to_string(),
                ArrayD::from_elem(ndarray::IxDyn(&[3]), 0.5),
            ),
        ];
        let torch = |input: Shape| Torch {
            name: "ln".into(),
            input,
            flattened: None,
        };
        let m = l.torch(weights.clone(), &torch(Shape::new([3]))).unwrap();
        let names: Vec<&str> = m.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!((names, m.modules), (vec!["weight", "bias"], 1));
        let e = l.torch(weights, &torch(Shape::new([4, 3]))).unwrap_err();
        assert!(e.to_string().contains("`ln`"), "{e}");
    }

    #[test]
    fn another_axis_is_refused_with_the_layer_named() {
        let l = Layer::new(LayerNormalization {
            axis: 1,
            ..LayerNormalization::new().name("ln")
        });
        let e = l.output_shape(&Shape::new([4, 3])).unwrap_err().to_string();
        assert!(e.contains("`ln`") && e.contains("axis"), "{e}");
        assert!(l.output_shape(&Shape::new([3])).is_ok());
    }
}
