//! `BatchNormalization`: normalizes each channel with batch statistics while training and
//! with moving statistics otherwise.

use crate::error::{Error, Result};
use crate::graph::{Layout, Value, map_value};
use crate::layers::config::{Call, Torch, TorchModule, TorchTensor, name_field};
use crate::layers::module::{reload, set_running};
use crate::layers::{BuiltLayer, Initializer, LayerConfig, WeightSpecs};
use crate::ops::normalize;
use crate::shape::Shape;
use burn::module::ParamId;
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// Normalizes each channel (the last axis): with the batch's mean and variance in `fit`, where
/// it also updates its moving statistics, and with those moving statistics in `evaluate` and
/// `predict`. Then scales by `gamma` and shifts by `beta`.
///
/// Keras' defaults: momentum 0.99 (`moving = momentum · moving + (1 - momentum) · batch`),
/// epsilon 1e-3. `gamma` and `beta` are trainable; the moving mean and variance are weights
/// that are not.
///
/// ```
/// let bn = kiln::layers::BatchNormalization::new();
/// assert_eq!((bn.momentum, bn.epsilon), (0.99, 1e-3));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormalization {
    /// Weight of the old value in the moving statistics (default 0.99).
    #[serde(default = "momentum")]
    pub momentum: f64,
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f64,
    /// The layer's name; `batch_normalization`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn momentum() -> f64 {
    0.99
}

fn epsilon() -> f64 {
    1e-3
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization {
            momentum: momentum(),
            epsilon: epsilon(),
            name: None,
        }
    }
}

impl BatchNormalization {
    /// A batch normalization with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the momentum (default 0.99).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets epsilon (default 1e-3).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the layer's name (default: auto-numbered `batch_normalization`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::config(
                format!("layer `{layer}` (BatchNormalization): momentum"),
                format!("{} is outside [0, 1]", self.momentum),
            ));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::config(
                format!("layer `{layer}` (BatchNormalization): epsilon"),
                format!("{} is not a positive number", self.epsilon),
            ));
        }
        Ok(input.clone())
    }

    pub(crate) fn build(
        &self,
        input: &Shape,
        device: &burn::tensor::Device,
    ) -> burn::nn::BatchNorm {
        // Burn weighs the new batch by `momentum`; Keras weighs the old value.
        burn::nn::BatchNormConfig::new(input.last().unwrap_or(0))
            .with_momentum(1.0 - self.momentum)
            .with_epsilon(self.epsilon)
            .init(device)
    }
}

impl LayerConfig for BatchNormalization {
    const CLASS_NAME: &'static str = "BatchNormalization";
    type Module = BatchNorm;
    name_field!(name);

    /// Masks pass through, as in Keras.
    fn supports_masking(&self) -> bool {
        true
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        BatchNormalization::output_shape(self, name, &inputs[0])
    }

    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        let channels = inputs[0].last().unwrap_or(0);
        weights
            .add_weight("gamma", [channels], Initializer::Ones, true)
            .add_weight("beta", [channels], Initializer::Zeros, true)
            .add_weight("moving_mean", [channels], Initializer::Zeros, false)
            .add_weight("moving_variance", [channels], Initializer::Ones, false);
        Ok(())
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<BatchNorm> {
        Ok(BatchNormalization::build(self, &inputs[0], device))
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let x = node.input(0, Layout::ChannelsFirst);
        let mut inputs = vec![x];
        for weight in ["gamma", "beta", "moving_mean", "moving_variance"] {
            let array = node.weight(weight)?.clone();
            inputs.push(node.constant(weight, &array));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let epsilon = crate::io::onnx::OnnxAttribute::Float("epsilon", self.epsilon as f32);
        let y = node.op("BatchNormalization", &refs, vec![epsilon]);
        Ok(vec![(y, Layout::ChannelsFirst)])
    }

    /// Channels last, the layout of the convolutions around it: no permutation in between.
    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsLast)
    }

    fn call(&self, m: &BatchNorm, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        Ok(map_value!(inputs.swap_remove(0), t => normalize_last_axis(m, t)))
    }

    /// `BatchNorm1d`/`2d` buffers: `weight`, `bias`, `running_mean`, `running_var` and
    /// `num_batches_tracked`. Build the torch module with this layer's epsilon (Keras' 1e-3,
    /// not torch's 1e-5).
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, _: &Torch) -> Result<TorchModule> {
        let mut tensors: Vec<(String, TorchTensor)> = weights
            .into_iter()
            .map(|(name, w)| {
                let leaf = match name.as_str() {
                    "gamma" => "weight",
                    "beta" => "bias",
                    "moving_mean" => "running_mean",
                    _ => "running_var",
                };
                (leaf.to_string(), TorchTensor::F32(w))
            })
            .collect();
        tensors.push((
            "num_batches_tracked".into(),
            TorchTensor::I64(ArrayD::zeros(IxDyn(&[]))),
        ));
        Ok(TorchModule {
            tensors,
            modules: 1,
        })
    }
}

/// Burn's `BatchNorm` module (its weights, moving statistics and settings) applied over the
/// last axis of `x`: with the batch's statistics, updating the moving ones, on an autodiff
/// device while the layer trains (as Burn's own `forward` decides); with the moving
/// statistics otherwise. The leading axes fold into rows (a free reshape of a contiguous
/// tensor), so the channels stay last.
fn normalize_last_axis<const D: usize>(m: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let channels = dims[D - 1];
    let x = x.reshape([dims[..D - 1].iter().product(), channels]);
    let out = if x.device().is_autodiff() && m.training.is_enabled() {
        let batch = normalize(x, m.gamma.val(), m.beta.val(), m.epsilon);
        let device = batch.mean.device();
        // Burn's convention: `momentum` weighs the new batch
        let blend = |running: Tensor<1>, new: Tensor<1>| {
            let updated = running.to_device(&device).mul_scalar(1.0 - m.momentum)
                + new.detach().mul_scalar(m.momentum);
            updated.detach()
        };
        let mean = blend(m.running_mean.value_sync(), batch.mean);
        let variance = blend(m.running_var.value_sync(), batch.variance);
        m.running_mean.update(mean);
        m.running_var.update(variance);
        // Burn keeps an update apart for the thread that made it until that thread syncs:
        // `fit` runs on a thread of the CPU's pool, and the model is read on another
        m.running_mean.value_sync();
        m.running_var.value_sync();
        batch.output
    } else {
        let device = x.device();
        let mean = m.running_mean.value().to_device(&device);
        let variance = m.running_var.value().to_device(&device);
        let scale = m.gamma.val() / (variance + m.epsilon).sqrt();
        let shift = m.beta.val() - mean * scale.clone();
        x * scale.unsqueeze::<2>() + shift.unsqueeze::<2>()
    };
    out.reshape(dims)
}

impl BuiltLayer for BatchNorm {
    fn weights(&self) -> Vec<(String, TensorData)> {
        vec![
            ("gamma".into(), self.gamma.val().to_data()),
            ("beta".into(), self.beta.val().to_data()),
            (
                "moving_mean".into(),
                self.running_mean.value_sync().to_data(),
            ),
            (
                "moving_variance".into(),
                self.running_var.value_sync().to_data(),
            ),
        ]
    }

    fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        match name {
            "gamma" => self.gamma = reload(&self.gamma, data, |t| t),
            "beta" => self.beta = reload(&self.beta, data, |t| t),
            "moving_mean" => set_running(&self.running_mean, data),
            "moving_variance" => set_running(&self.running_var, data),
            _ => return false,
        }
        true
    }

    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        vec![
            ("gamma".into(), &mut self.gamma.id),
            ("beta".into(), &mut self.beta.id),
        ]
    }
}
