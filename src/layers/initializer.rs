//! Weight initializers with Keras' names and formulas.

use burn::tensor::{Device, Tensor, TensorData};
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
    /// Uniform in `[-0.05, 0.05]`: Keras' `RandomUniform()` with its defaults, `Embedding`'s
    /// default.
    #[serde(alias = "random_uniform")]
    Uniform,
    /// A random orthogonal matrix (rows or columns orthonormal, whichever are fewer), gain 1:
    /// Keras' `Orthogonal()`, the recurrent layers' default `recurrent_initializer`. For
    /// weights of 2 or more dimensions, flattened to `[first, rest]`.
    Orthogonal,
    /// An LSTM's bias with `unit_forget_bias`: zeros, except ones for the forget gate's quarter
    /// (gate order i, f, c, o). Not a Keras initializer of its own, so not written to files.
    #[serde(skip)]
    UnitForgetBias,
}

impl Initializer {
    /// A tensor of `shape` drawn from this initializer, with Keras' fans.
    pub(crate) fn tensor<const D: usize>(
        self,
        shape: [usize; D],
        fans: (usize, usize),
        device: &Device,
    ) -> Tensor<D> {
        if self == Initializer::UnitForgetBias {
            let n: usize = shape.iter().product();
            let units = n / 4;
            let values: Vec<f32> = (0..n)
                .map(|i| {
                    if (units..2 * units).contains(&i) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            return Tensor::from_data(TensorData::new(values, shape), device);
        }
        self.to_burn()
            .init_with(shape, Some(fans.0), Some(fans.1), device)
            .into_value()
    }

    /// Why this initializer cannot fill a weight of `shape`, if it cannot.
    pub(crate) fn refuses(self, shape: &[usize]) -> Option<String> {
        match self {
            Initializer::Orthogonal if shape.len() < 2 => {
                Some("the orthogonal initializer needs a weight of 2 or more dimensions".into())
            }
            Initializer::UnitForgetBias if shape.len() != 1 || !shape[0].is_multiple_of(4) => Some(
                "unit_forget_bias needs a bias of 4 gates (one dimension, a multiple of 4)".into(),
            ),
            _ => None,
        }
    }

    /// Burn's initializer computing the same distribution.
    pub(crate) fn to_burn(self) -> burn::nn::Initializer {
        use burn::nn::Initializer as B;
        match self {
            Initializer::Uniform => B::Uniform {
                min: -0.05,
                max: 0.05,
            },
            Initializer::Orthogonal => B::Orthogonal { gain: 1.0 },
            Initializer::UnitForgetBias => B::Zeros,
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
    fn uniform_is_keras_default_range() {
        let w = draw(Initializer::Uniform, 300, 100);
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max <= 0.05 && max > 0.049, "{max}");
    }

    #[test]
    fn orthogonal_rows_are_orthonormal() {
        // a recurrent kernel [units, 4 · units]: its 8 rows are orthonormal
        let device = crate::backend::test_device();
        let w: Tensor<2> = Initializer::Orthogonal.tensor([8, 32], (8, 32), &device);
        let gram = w
            .clone()
            .matmul(w.transpose())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for i in 0..8 {
            for j in 0..8 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (gram[i * 8 + j] - want).abs() < 1e-5,
                    "{i},{j}: {}",
                    gram[i * 8 + j]
                );
            }
        }
    }

    #[test]
    fn unit_forget_bias_is_one_on_the_forget_gate() {
        let device = crate::backend::test_device();
        let b: Tensor<1> = Initializer::UnitForgetBias.tensor([8], (8, 8), &device);
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(b, [0., 0., 1., 1., 0., 0., 0., 0.]);
        assert!(Initializer::UnitForgetBias.refuses(&[6]).is_some());
        assert!(Initializer::Orthogonal.refuses(&[6]).is_some());
    }

    #[test]
    fn constants_are_constant() {
        assert!(draw(Initializer::Zeros, 3, 2).iter().all(|v| *v == 0.0));
        assert!(draw(Initializer::Ones, 3, 2).iter().all(|v| *v == 1.0));
    }
}
