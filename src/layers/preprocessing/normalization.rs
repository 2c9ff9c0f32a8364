//! `Normalization`: features shifted and scaled by a mean and variance learned from data.

use crate::error::{Error, Result};
use crate::graph::{Value, map_value};
use crate::layers::config::{Call, name_field};
use crate::layers::{LayerConfig, Weights};
use crate::shape::Shape;
use burn::tensor::{Tensor, TensorData};
use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};

/// Keras' `backend.epsilon()`: the smallest standard deviation divided by.
const EPSILON: f32 = 1e-7;

/// Normalizes each feature (the last axis) as Keras' `Normalization`:
/// `(x - mean) / max(sqrt(variance), 1e-7)`, or back with `invert`. The mean and variance are
/// given, or learned by [`adapt`](Self::adapt) (the population variance, as Keras), and kept in
/// the configuration, so a saved model keeps them.
///
/// Before it is adapted (no mean and variance) it passes its input on unchanged, as Keras'
/// layer does with its starting weights, so that a model file can hold it unadapted (the
/// `kiln` command adapts it to the training rows).
///
/// The layer is therefore Keras' `Normalization(mean=..., variance=...)`, which has no weights
/// either: its summary counts 0 parameters. Keras' layer adapted in place keeps its statistics
/// as weights instead (`mean`, `variance` and `count`: `2·features + 1` non-trainable
/// parameters); the numbers it computes are the same.
///
/// ```
/// use kiln::layers::Normalization;
///
/// let data = ndarray::array![[1.0f32, 10.0], [3.0, 30.0]].into_dyn();
/// let mut norm = Normalization::new();
/// norm.adapt(&data)?;
/// assert_eq!(norm.mean, Some(vec![2.0, 20.0]));
/// assert_eq!(norm.variance, Some(vec![1.0, 100.0]));
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// The per-feature mean.
    #[serde(default)]
    pub mean: Option<Vec<f32>>,
    /// The per-feature variance.
    #[serde(default)]
    pub variance: Option<Vec<f32>>,
    /// Whether to undo the normalization instead (`x · std + mean`).
    #[serde(default)]
    pub invert: bool,
    /// The layer's name; `normalization`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Normalization {
    /// A normalization to adapt, or to give a mean and variance.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the mean and variance, one per feature.
    pub fn mean_variance(mut self, mean: Vec<f32>, variance: Vec<f32>) -> Self {
        self.mean = Some(mean);
        self.variance = Some(variance);
        self
    }

    /// Sets whether to undo the normalization (default false).
    pub fn invert(mut self, invert: bool) -> Self {
        self.invert = invert;
        self
    }

    /// Sets the layer's name (default: auto-numbered `normalization`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Learns each feature's mean and population variance from `data` (samples first, features
    /// last; every other axis pooled).
    pub fn adapt(&mut self, data: &ArrayD<f32>) -> Result<()> {
        let features = *data.shape().last().unwrap_or(&0);
        if data.ndim() < 2 || data.is_empty() {
            return Err(Error::data(format!(
                "Normalization.adapt: data of shape {:?} has no samples of features",
                data.shape()
            )));
        }
        let rows = data
            .view()
            .into_shape_with_order((data.len() / features, features))
            .map_err(|e| Error::data(format!("Normalization.adapt: {e}")))?;
        // None only for 0 rows: empty data was refused above
        let mean = rows.mean_axis(Axis(0)).expect("rows exist");
        let variance = rows.var_axis(Axis(0), 0.0);
        self.mean = Some(mean.to_vec());
        self.variance = Some(variance.to_vec());
        Ok(())
    }
}

impl LayerConfig for Normalization {
    const CLASS_NAME: &'static str = "Normalization";
    type Module = Weights;
    name_field!(name);

    fn supports_masking(&self) -> bool {
        true
    }

    /// A Keras layer adapted in place keeps its statistics as variables (`mean`, `variance`,
    /// `count`), not in its configuration: they become this layer's mean and variance.
    #[cfg(feature = "keras")]
    fn keras_state(&mut self, state: &mut crate::io::keras::KerasState<'_>) -> Result<()> {
        if self.mean.is_some() || self.variance.is_some() {
            return Ok(());
        }
        match state.variables()?.as_slice() {
            [] => Ok(()),
            [mean, variance, _count] if mean.len() == variance.len() => {
                self.mean = Some(mean.iter().copied().collect());
                self.variance = Some(variance.iter().copied().collect());
                Ok(())
            }
            other => Err(state.error(format!(
                "expected Normalization's mean, variance and count, found {} variables of shapes \
                 {:?}",
                other.len(),
                other.iter().map(|a| a.shape().to_vec()).collect::<Vec<_>>()
            ))),
        }
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let features = inputs[0].last().unwrap_or(0);
        let what = || format!("layer `{name}` (Normalization)");
        let (mean, variance) = match (&self.mean, &self.variance) {
            (Some(mean), Some(variance)) => (mean, variance),
            // not adapted yet: Keras' starting weights, the identity
            (None, None) => return Ok(inputs[0].clone()),
            _ => {
                return Err(Error::config(
                    what(),
                    "it has a mean without a variance or a variance without a mean; give both",
                ));
            }
        };
        if mean.len() != features || variance.len() != features {
            return Err(Error::config(
                what(),
                format!(
                    "{} means and {} variances for {features} features (input {})",
                    mean.len(),
                    variance.len(),
                    inputs[0]
                ),
            ));
        }
        if variance.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::config(
                what(),
                "a variance is negative or not finite",
            ));
        }
        Ok(inputs[0].clone())
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        let device = x.device();
        let (Some(mean), Some(variance)) = (self.mean.clone(), self.variance.clone()) else {
            return Ok(x);
        };
        let n = mean.len();
        let std: Vec<f32> = variance.iter().map(|v| v.sqrt().max(EPSILON)).collect();
        let mean = Tensor::<1>::from_data(TensorData::new(mean, [n]), &device);
        let std = Tensor::<1>::from_data(TensorData::new(std, [n]), &device);
        Ok(map_value!(x, t => {
            let (m, s) = (mean.clone().unsqueeze(), std.clone().unsqueeze());
            if self.invert { t * s + m } else { (t - m) / s }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;
    use crate::graph::Layout;

    fn run(norm: Normalization, rows: &[[f32; 2]]) -> Result<Vec<f32>> {
        let device = crate::backend::test_device();
        let layer = Layer::new(norm);
        let shape = Shape::new([2]);
        layer.output_shape(&shape)?;
        let module = layer.build(std::slice::from_ref(&shape), &device)?;
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let x = Value::from_host(flat, &[rows.len(), 2], &device).unwrap();
        let (y, _) = layer.call(&module, vec![x], Layout::ChannelsLast)?;
        Ok(y.into_tensor::<2>()?.into_data().try_to_vec().unwrap())
    }

    #[test]
    fn features_are_shifted_and_scaled_and_back() {
        let stats = || Normalization::new().mean_variance(vec![2.0, -1.0], vec![4.0, 0.0]);
        // (x - mean) / max(sqrt(variance), 1e-7): a zero variance divides by 1e-7
        let y = run(stats(), &[[4.0, -1.0], [0.0, -0.5]]).unwrap();
        let expected = [1.0, 0.0, -1.0, 5e6];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{y:?}");
        }
        let back = run(stats().invert(true), &[[1.0, 5e6]]).unwrap();
        assert!(
            (back[0] - 4.0).abs() < 1e-6 && (back[1] + 0.5).abs() < 1e-5,
            "{back:?}"
        );
    }

    #[test]
    fn an_unadapted_layer_is_the_identity_and_half_statistics_are_refused() {
        assert_eq!(
            run(Normalization::new(), &[[3.0, -2.0]]).unwrap(),
            vec![3.0, -2.0]
        );
        let mut half = Normalization::new();
        half.mean = Some(vec![0.0, 0.0]);
        let err = run(half, &[[1.0, 1.0]]).unwrap_err().to_string();
        assert!(err.contains("without a variance"), "{err}");
        let wrong = Normalization::new().mean_variance(vec![0.0; 3], vec![1.0; 3]);
        let err = run(wrong, &[[1.0, 1.0]]).unwrap_err().to_string();
        assert!(
            err.contains("3 means and 3 variances for 2 features"),
            "{err}"
        );
    }
}
