//! `RandomContrast`: each image's contrast scaled by a random factor while training.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::preprocessing::random_affine::{Factor, batch_rng, images, uniform};
use crate::layers::{LayerConfig, Weights};
use crate::shape::Shape;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Scales each channel of each image about its mean by a factor drawn from
/// `[1 - lower, 1 + upper]` while training, then clips to `value_range`, as Keras'
/// `RandomContrast`: `(x - mean) · factor + mean`. `factor` `0.2` draws from `[0.8, 1.2]`.
///
/// ```
/// let layer = kiln::layers::RandomContrast::new(0.2);
/// assert_eq!(layer.value_range, (0.0, 255.0));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomContrast {
    /// How far below and above 1 the factor goes: `f` for `[1 - f, 1 + f]`, or
    /// `(lower, upper)` for `[1 - lower, 1 + upper]`.
    pub factor: Factor,
    /// The range the images' values lie in, and the output is clipped to (default 0–255).
    #[serde(default = "bytes")]
    pub value_range: (f64, f64),
    /// The layer's name; `random_contrast`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn bytes() -> (f64, f64) {
    (0.0, 255.0)
}

impl RandomContrast {
    /// Contrast factors from `factor`, on values in 0–255.
    pub fn new(factor: impl Into<Factor>) -> Self {
        RandomContrast {
            factor: factor.into(),
            value_range: bytes(),
            name: None,
        }
    }

    /// Sets the range of the images' values.
    pub fn value_range(mut self, low: f64, high: f64) -> Self {
        self.value_range = (low, high);
        self
    }

    /// The factors' range: `[1 - lower, 1 + upper]`.
    fn range(&self, what: &str) -> Result<(f64, f64)> {
        let (lower, upper) = match self.factor {
            Factor::Symmetric(f) => (f, f),
            Factor::Range(lower, upper) => (lower, upper),
        };
        let (low, high) = (1.0 - lower, 1.0 + upper);
        if !(low.is_finite() && high.is_finite() && 0.0 <= low && low <= high) {
            return Err(Error::config(
                what,
                format!(
                    "factor ({lower}, {upper}) gives contrast factors from {low} to {high}; give \
                     0 <= 1 - lower <= 1 + upper"
                ),
            ));
        }
        Ok((low, high))
    }

    /// `x` (`[batch, h, w, c]`) with image `b`'s contrast scaled by `factors[b]`.
    pub(crate) fn adjust(&self, x: Tensor<4>, factors: Vec<f32>) -> Tensor<4> {
        let b = factors.len();
        let factor = Tensor::<4>::from_data(TensorData::new(factors, [b, 1, 1, 1]), &x.device());
        let mean = x.clone().mean_dim(1).mean_dim(2);
        let (low, high) = self.value_range;
        ((x - mean.clone()) * factor + mean).clamp(low, high)
    }
}

impl LayerConfig for RandomContrast {
    const CLASS_NAME: &'static str = "RandomContrast";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let what = format!("layer `{name}` (RandomContrast)");
        self.range(&what)?;
        let (low, high) = self.value_range;
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(Error::config(
                what,
                format!("value_range ({low}, {high}) must be finite and increasing"),
            ));
        }
        images(name, Self::CLASS_NAME, &inputs[0])
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        if !call.training {
            return Ok(x);
        }
        let x = x.into_tensor::<4>()?;
        let range = self.range(call.name)?;
        let mut rng = batch_rng();
        let factors = (0..x.dims()[0])
            .map(|_| uniform(&mut rng, range) as f32)
            .collect();
        Ok(Value::R4(self.adjust(x, factors)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::preprocessing::random_affine::tests::run;

    #[test]
    fn contrast_scales_about_each_channels_mean_and_clips() {
        // one 2 × 2 image of 1 channel, mean 15; a fixed factor of 0.5, then of 2
        let image = vec![0.0, 10.0, 20.0, 30.0];
        let half = RandomContrast::new((0.5, -0.5));
        assert_eq!(
            run(half, image.clone(), [1, 2, 2, 1], true).unwrap(),
            [7.5, 12.5, 17.5, 22.5]
        );
        let double = RandomContrast::new((-1.0, 1.0)).value_range(0.0, 20.0);
        assert_eq!(
            run(double, image.clone(), [1, 2, 2, 1], true).unwrap(),
            [0.0, 5.0, 20.0, 20.0]
        );
        // two channels keep their own means
        let two = vec![0.0, 100.0, 10.0, 100.0, 20.0, 100.0, 30.0, 100.0];
        let y = run(RandomContrast::new((0.5, -0.5)), two, [1, 2, 2, 2], true).unwrap();
        assert_eq!(y, [7.5, 100.0, 12.5, 100.0, 17.5, 100.0, 22.5, 100.0]);
        assert_eq!(
            run(RandomContrast::new(0.9), image.clone(), [1, 2, 2, 1], false).unwrap(),
            image
        );
        assert!(run(RandomContrast::new(1.5), image, [1, 2, 2, 1], true).is_err());
    }
}
