//! Losses with Keras' names and formulas, stable for softmax and sigmoid outputs.

use crate::error::{Error, Result};
use crate::graph::{Output, Value};
use crate::layers::Activation;
use crate::shape::Shape;
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// Keras' fuzz factor: probabilities are clipped to `[EPSILON, 1 - EPSILON]` before a log.
const EPSILON: f64 = 1e-7;

/// A loss function, named as in Keras.
///
/// With probabilities as outputs (the default), crossentropy reads the logits of a final
/// softmax or sigmoid when the model has one, so it stays finite even for saturated outputs;
/// [`Loss::from_logits`] says the model outputs logits itself.
///
/// ```
/// use kiln::Loss;
/// let loss = Loss::SparseCategoricalCrossentropy.from_logits();
/// assert!(loss.from_logits);
/// assert_eq!(Loss::MeanSquaredError.name(), "mean_squared_error");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// `-sum(y log p)` over classes, targets one-hot.
    CategoricalCrossentropy,
    /// Categorical crossentropy with integer class targets.
    SparseCategoricalCrossentropy,
    /// `-(y log p + (1 - y) log(1 - p))`, averaged over outputs.
    BinaryCrossentropy,
    /// `mean((y - p)²)`.
    MeanSquaredError,
    /// `mean(|y - p|)`.
    MeanAbsoluteError,
}

/// A loss and whether the model's outputs are logits, as `compile` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossConfig {
    /// The function.
    pub loss: Loss,
    /// Whether the outputs are logits rather than probabilities (default false).
    #[serde(default)]
    pub from_logits: bool,
}

impl Loss {
    /// The same loss reading the model's outputs as logits.
    pub fn from_logits(self) -> LossConfig {
        LossConfig {
            loss: self,
            from_logits: true,
        }
    }

    /// The Keras name (`categorical_crossentropy`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
        }
    }

    /// Whether targets are integer classes rather than arrays shaped like the output.
    pub fn is_sparse(self) -> bool {
        matches!(self, Loss::SparseCategoricalCrossentropy)
    }
}

impl std::str::FromStr for Loss {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "categorical_crossentropy" => Loss::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy,
            "binary_crossentropy" => Loss::BinaryCrossentropy,
            "mean_squared_error" | "mse" => Loss::MeanSquaredError,
            "mean_absolute_error" | "mae" => Loss::MeanAbsoluteError,
            other => {
                return Err(Error::config(
                    "loss",
                    format!(
                        "`{other}` is not a loss; use categorical_crossentropy, \
                         sparse_categorical_crossentropy, binary_crossentropy, \
                         mean_squared_error or mean_absolute_error"
                    ),
                ));
            }
        })
    }
}

impl From<Loss> for LossConfig {
    fn from(loss: Loss) -> Self {
        LossConfig {
            loss,
            from_logits: false,
        }
    }
}

/// Targets of one batch, as the loss needs them.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// Arrays shaped like the output.
    Dense(Value),
    /// Class indices, one per output row (`[rows]`).
    Sparse(Tensor<1, Int>),
}

/// Rows of the last axis: `[batch, ..., k]` as `[batch * ..., k]`.
pub(crate) fn rows(v: &Value) -> Tensor<2> {
    let dims = v.dims();
    // a Value has rank 2 to 5
    let k = *dims.last().expect("values have a rank of at least 2");
    v.clone()
        .flatten()
        .reshape([dims.iter().product::<usize>() / k, k])
}

impl LossConfig {
    /// Checks that targets of sample shape `target` fit outputs of shape `output`.
    pub(crate) fn check_target(&self, output: &Shape, target: &[usize]) -> Result<()> {
        let fits = if self.loss.is_sparse() {
            let classes = &output.dims()[..output.rank() - 1];
            target == classes
                || (target.len() == output.rank()
                    && target.last() == Some(&1)
                    && &target[..target.len() - 1] == classes)
        } else {
            // a single-unit output also takes one value per sample, as Keras allows
            let squeezed = &output.dims()[..output.rank() - 1];
            target == output.dims() || (output.last() == Some(1) && target == squeezed)
        };
        if fits {
            return Ok(());
        }
        let expected = if self.loss.is_sparse() {
            format!(
                "one integer class per sample (shape {:?}) for {}",
                &output.dims()[..output.rank() - 1],
                self.loss.name()
            )
        } else if matches!(self.loss, Loss::CategoricalCrossentropy) {
            format!(
                "one-hot targets of shape {:?}; for integer labels use \
                 Loss::SparseCategoricalCrossentropy or kiln::to_categorical",
                output.dims()
            )
        } else {
            format!("targets of the output's shape {:?}", output.dims())
        };
        Err(Error::data(format!(
            "targets have sample shape {target:?} but the model's output is {output}: expected {expected}"
        )))
    }

    /// The mean loss over a batch, as a one-element tensor: over the output's unmasked
    /// steps when it carries a mask, as Keras weighs a masked output.
    pub(crate) fn compute(&self, out: &Output, target: &Target) -> Tensor<1> {
        masked_mean(self.per_row(out, target), out)
    }

    /// The loss of each row of the output's last axis.
    fn per_row(&self, out: &Output, target: &Target) -> Tensor<1> {
        let logits = |activation: Activation| -> Option<Tensor<2>> {
            if self.from_logits {
                return Some(rows(&out.value));
            }
            out.logits
                .as_ref()
                .filter(|l| l.activation == activation)
                .map(|l| rows(&l.value))
        };
        let each = |t: Tensor<2>| -> Tensor<1> {
            let n = t.dims()[0];
            t.reshape([n])
        };
        match (self.loss, target) {
            (Loss::CategoricalCrossentropy, Target::Dense(y)) => {
                let log_p = log_probabilities(logits(Activation::Softmax), &out.value);
                each((rows(y) * log_p).sum_dim(1).neg())
            }
            (Loss::SparseCategoricalCrossentropy, Target::Sparse(labels)) => {
                let log_p = log_probabilities(logits(Activation::Softmax), &out.value);
                let n = labels.dims()[0];
                each(log_p.gather(1, labels.clone().reshape([n, 1])).neg())
            }
            (Loss::BinaryCrossentropy, Target::Dense(y)) => {
                let y = rows(y);
                each(match logits(Activation::Sigmoid) {
                    // max(z, 0) - z y + log(1 + exp(-|z|))
                    Some(z) => {
                        (relu(z.clone()) - z.clone() * y + z.abs().neg().exp().log1p()).mean_dim(1)
                    }
                    None => {
                        let p = rows(&out.value).clamp(EPSILON, 1.0 - EPSILON);
                        let one_minus = p.clone().neg().add_scalar(1.0);
                        (y.clone() * p.log() + y.neg().add_scalar(1.0) * one_minus.log())
                            .mean_dim(1)
                            .neg()
                    }
                })
            }
            (Loss::MeanSquaredError, Target::Dense(y)) => {
                each((rows(y) - rows(&out.value)).square().mean_dim(1))
            }
            (Loss::MeanAbsoluteError, Target::Dense(y)) => {
                each((rows(y) - rows(&out.value)).abs().mean_dim(1))
            }
            // Head::target builds Sparse targets exactly for the sparse losses, Dense for the others
            (loss, _) => unreachable!("targets for {} are built to match it", loss.name()),
        }
    }
}

/// The mean of `values` (one per row of the output's last axis), or, when the output carries
/// a mask with one entry per row (`[batch, time]` for `[batch, time, k]`), their mean over the
/// unmasked rows (0 when every row is masked), as Keras' `apply_mask`.
pub(crate) fn masked_mean(values: Tensor<1>, out: &Output) -> Tensor<1> {
    match mask_rows(out, values.dims()[0]) {
        Some(m) => (values * m.clone()).sum() / m.sum().clamp_min(1.0),
        None => values.mean(),
    }
}

/// The output's mask flattened to one weight per row, when it has one per row.
pub(crate) fn mask_rows(out: &Output, rows: usize) -> Option<Tensor<1>> {
    let m = out.mask.as_ref()?;
    let [batch, time] = m.dims();
    (batch * time == rows).then(|| m.clone().reshape([rows]))
}

/// Log-probabilities of rows: from logits when there are some, else from clipped probabilities
/// renormalized to sum to one, as Keras does.
fn log_probabilities(logits: Option<Tensor<2>>, probabilities: &Value) -> Tensor<2> {
    match logits {
        Some(z) => log_softmax(z, 1),
        None => {
            let p = rows(probabilities);
            let p = p.clone() / p.sum_dim(1);
            p.clamp(EPSILON, 1.0 - EPSILON).log()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Logits;
    use burn::tensor::{Device, TensorData};

    fn device() -> Device {
        crate::backend::test_device()
    }

    fn value(rows: &[[f32; 3]]) -> Value {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Value::from_host(flat, &[rows.len(), 3], &device()).unwrap()
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    fn softmax_output(z: &[[f32; 3]]) -> Output {
        let zv = value(z);
        Output {
            value: Activation::Softmax.apply(zv.clone()),
            logits: Logits::of(Activation::Softmax, &zv),
            mask: None,
        }
    }

    #[test]
    fn categorical_crossentropy_by_hand() {
        let p = [[0.7f32, 0.2, 0.1], [0.1, 0.1, 0.8]];
        let out = Output {
            value: value(&p),
            logits: None,
            mask: None,
        };
        let y = Target::Dense(value(&[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]));
        let expected = -(0.7f32.ln() + 0.8f32.ln()) / 2.0;
        let got = scalar(LossConfig::from(Loss::CategoricalCrossentropy).compute(&out, &y));
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }

    #[test]
    fn sparse_and_categorical_agree() {
        let out = softmax_output(&[[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]]);
        let dense = Target::Dense(value(&[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]));
        let sparse = Target::Sparse(Tensor::from_data(
            TensorData::new(vec![2i64, 1], [2]),
            &device(),
        ));
        let a = scalar(LossConfig::from(Loss::CategoricalCrossentropy).compute(&out, &dense));
        let b =
            scalar(LossConfig::from(Loss::SparseCategoricalCrossentropy).compute(&out, &sparse));
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    #[test]
    fn saturated_softmax_stays_finite_and_exact() {
        // softmax of these logits rounds to exactly 0 for the true class in f32
        let z = [[200.0f32, 0.0, -200.0]];
        let out = softmax_output(&z);
        let y = Target::Dense(value(&[[0.0, 0.0, 1.0]]));
        let got = scalar(LossConfig::from(Loss::CategoricalCrossentropy).compute(&out, &y));
        assert!((got - 400.0).abs() < 1e-3, "{got}");
        // from_logits on raw logits gives the same number
        let raw = Output {
            value: value(&z),
            logits: None,
            mask: None,
        };
        let got2 = scalar(
            Loss::CategoricalCrossentropy
                .from_logits()
                .compute(&raw, &y),
        );
        assert!((got2 - 400.0).abs() < 1e-3, "{got2}");
    }

    #[test]
    fn binary_crossentropy_with_and_without_logits() {
        let z = [[0.5f32, -1.0, 2.0]];
        let zv = value(&z);
        let sig = Activation::Sigmoid.apply(zv.clone());
        let y = Target::Dense(value(&[[1.0, 0.0, 1.0]]));
        let s = |x: f32| 1.0 / (1.0 + (-x).exp());
        let expected = -((s(0.5)).ln() + (1.0 - s(-1.0)).ln() + s(2.0).ln()) / 3.0;
        let bce = LossConfig::from(Loss::BinaryCrossentropy);
        let with = Output {
            value: sig.clone(),
            logits: Logits::of(Activation::Sigmoid, &zv),
            mask: None,
        };
        let without = Output {
            value: sig,
            logits: None,
            mask: None,
        };
        let a = scalar(bce.compute(&with, &y));
        let b = scalar(bce.compute(&without, &y));
        let c = scalar(Loss::BinaryCrossentropy.from_logits().compute(
            &Output {
                value: zv,
                logits: None,
                mask: None,
            },
            &y,
        ));
        for got in [a, b, c] {
            assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        }
    }

    #[test]
    fn regression_losses_by_hand() {
        let out = Output {
            value: value(&[[1.0, 2.0, 3.0]]),
            logits: None,
            mask: None,
        };
        let y = Target::Dense(value(&[[1.5, 2.0, 1.0]]));
        let mse = scalar(LossConfig::from(Loss::MeanSquaredError).compute(&out, &y));
        let mae = scalar(LossConfig::from(Loss::MeanAbsoluteError).compute(&out, &y));
        assert!((mse - (0.25 + 0.0 + 4.0) / 3.0).abs() < 1e-6);
        assert!((mae - (0.5 + 0.0 + 2.0) / 3.0).abs() < 1e-6);
    }

    #[test]
    fn target_shapes_are_checked() {
        let out = Shape::new([10]);
        assert!(
            LossConfig::from(Loss::SparseCategoricalCrossentropy)
                .check_target(&out, &[])
                .is_ok()
        );
        assert!(
            LossConfig::from(Loss::SparseCategoricalCrossentropy)
                .check_target(&out, &[1])
                .is_ok()
        );
        assert!(
            LossConfig::from(Loss::CategoricalCrossentropy)
                .check_target(&out, &[10])
                .is_ok()
        );
        let e = LossConfig::from(Loss::CategoricalCrossentropy)
            .check_target(&out, &[])
            .unwrap_err();
        assert!(e.to_string().contains("to_categorical"), "{e}");
    }
}
