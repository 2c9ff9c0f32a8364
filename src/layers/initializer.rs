//! Weight initializers with Keras' names and formulas.

use serde::{Deserialize, Serialize};

/// How a layer's weights start, named as in Keras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initializer {
    /// Uniform in `[-l, l]`, `l = sqrt(6 / (fan_in + fan_out))`. Keras' default kernel.
    #[default]
    GlorotUniform,
    /// Uniform in `[-l, l]`, `l = sqrt(6 / fan_in)`.
    HeUniform,
    /// All zeros. Keras' default bias.
    Zeros,
    /// All ones.
    Ones,
}

impl Initializer {
    /// Burn's initializer computing the same distribution.
    pub(crate) fn to_burn(self) -> burn::nn::Initializer {
        use burn::nn::Initializer as B;
        match self {
            Initializer::GlorotUniform => B::XavierUniform { gain: 1.0 },
            Initializer::HeUniform => B::KaimingUniform {
                gain: std::f64::consts::SQRT_2,
                fan_out_only: false,
            },
            Initializer::Zeros => B::Zeros,
            Initializer::Ones => B::Ones,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    fn draw(init: Initializer, fan_in: usize, fan_out: usize) -> Vec<f32> {
        let device = crate::backend::test_device();
        let t: Tensor<2> = init
            .to_burn()
            .init_with([fan_in, fan_out], Some(fan_in), Some(fan_out), &device)
            .into_value();
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn glorot_uniform_fills_its_bounds() {
        let limit = (6.0f32 / (300.0 + 100.0)).sqrt();
        let w = draw(Initializer::GlorotUniform, 300, 100);
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max <= limit, "{max} > {limit}");
        assert!(max > 0.95 * limit, "{max} far below {limit}");
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        assert!(mean.abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn he_uniform_fills_its_bounds() {
        let limit = (6.0f32 / 300.0).sqrt();
        let w = draw(Initializer::HeUniform, 300, 100);
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max <= limit && max > 0.95 * limit, "{max} vs {limit}");
    }

    #[test]
    fn constants_are_constant() {
        assert!(draw(Initializer::Zeros, 3, 2).iter().all(|v| *v == 0.0));
        assert!(draw(Initializer::Ones, 3, 2).iter().all(|v| *v == 1.0));
    }
}
