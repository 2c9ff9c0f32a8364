//! `BatchNormalization`: normalizes each channel with batch statistics while training and
//! with moving statistics otherwise.

use crate::error::{Error, Result};
use crate::layers::ParamCount;
use crate::shape::Shape;
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

    pub(crate) fn param_count(&self, input: &Shape) -> ParamCount {
        let channels = input.last().unwrap_or(0);
        ParamCount {
            trainable: 2 * channels,
            non_trainable: 2 * channels,
        }
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
