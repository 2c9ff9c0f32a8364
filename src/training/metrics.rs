//! Metrics reported by `fit` and `evaluate`, with Keras' names.

use crate::error::{Error, Result};
use crate::graph::Output;
use crate::shape::Shape;
use crate::training::loss::{Loss, Target, rows};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// A metric to report, named as in Keras.
///
/// `Accuracy` picks the right kind from the loss like Keras: sparse categorical for integer
/// labels, binary for binary crossentropy or single-unit outputs, categorical otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Accuracy of the kind the loss implies, reported as `accuracy`.
    Accuracy,
    /// argmax(prediction) = argmax(one-hot target).
    CategoricalAccuracy,
    /// argmax(prediction) = integer target.
    SparseCategoricalAccuracy,
    /// (prediction > 0.5) = target.
    BinaryAccuracy,
    /// Mean squared error, reported as `mse`.
    Mse,
    /// Mean absolute error, reported as `mae`.
    Mae,
}

impl Metric {
    /// The name it is reported under.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::CategoricalAccuracy => "categorical_accuracy",
            Metric::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
        }
    }

    /// The concrete computation for a model trained with `loss` on outputs of `output` shape.
    pub(crate) fn resolve(self, loss: Loss, output: &Shape) -> Result<MetricFn> {
        let single_unit = output.last() == Some(1);
        let f = match self {
            Metric::Accuracy => match loss {
                Loss::SparseCategoricalCrossentropy => MetricFn::SparseCategoricalAccuracy,
                Loss::BinaryCrossentropy => MetricFn::BinaryAccuracy,
                _ if single_unit => MetricFn::BinaryAccuracy,
                _ => MetricFn::CategoricalAccuracy,
            },
            Metric::CategoricalAccuracy => MetricFn::CategoricalAccuracy,
            Metric::SparseCategoricalAccuracy => MetricFn::SparseCategoricalAccuracy,
            Metric::BinaryAccuracy => MetricFn::BinaryAccuracy,
            Metric::Mse => MetricFn::Mse,
            Metric::Mae => MetricFn::Mae,
        };
        let sparse_metric = f == MetricFn::SparseCategoricalAccuracy;
        if sparse_metric != loss.is_sparse() {
            return Err(Error::config(
                format!("metric `{}`", self.name()),
                format!(
                    "it needs {} targets but the loss {} takes {} targets",
                    if sparse_metric { "integer" } else { "array" },
                    loss.name(),
                    if loss.is_sparse() { "integer" } else { "array" },
                ),
            ));
        }
        Ok(f)
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "accuracy" | "acc" => Metric::Accuracy,
            "categorical_accuracy" => Metric::CategoricalAccuracy,
            "sparse_categorical_accuracy" => Metric::SparseCategoricalAccuracy,
            "binary_accuracy" => Metric::BinaryAccuracy,
            "mse" | "mean_squared_error" => Metric::Mse,
            "mae" | "mean_absolute_error" => Metric::Mae,
            other => {
                return Err(Error::config(
                    "metric",
                    format!("`{other}` is not a metric; use accuracy, mse or mae"),
                ));
            }
        })
    }
}

/// A metric's computation once the loss is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricFn {
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    BinaryAccuracy,
    Mse,
    Mae,
}

impl MetricFn {
    /// The metric's mean over one batch, as a one-element tensor.
    pub(crate) fn compute(self, out: &Output, target: &Target) -> Tensor<1> {
        crate::training::loss::masked_mean(self.per_row(out, target), out)
    }

    /// The metric's value for each row of the output's last axis.
    fn per_row(self, out: &Output, target: &Target) -> Tensor<1> {
        let p = rows(&out.value);
        let n = p.dims()[0];
        match (self, target) {
            (MetricFn::CategoricalAccuracy, Target::Dense(y)) => {
                p.argmax(1).equal(rows(y).argmax(1)).float().reshape([n])
            }
            (MetricFn::SparseCategoricalAccuracy, Target::Sparse(labels)) => {
                p.argmax(1).reshape([n]).equal(labels.clone()).float()
            }
            (MetricFn::BinaryAccuracy, Target::Dense(y)) => p
                .greater_elem(0.5)
                .float()
                .equal(rows(y).greater_elem(0.5).float())
                .float()
                .mean_dim(1)
                .reshape([n]),
            (MetricFn::Mse, Target::Dense(y)) => (rows(y) - p).square().mean_dim(1).reshape([n]),
            (MetricFn::Mae, Target::Dense(y)) => (rows(y) - p).abs().mean_dim(1).reshape([n]),
            // metrics are resolved against the loss, whose targets Head::target builds (sparse or dense)
            (m, _) => unreachable!("{m:?} is resolved to match its targets"),
        }
    }

    /// How much a batch's value weighs in the epoch's mean: its unmasked rows when the output
    /// carries a mask (Keras' metrics weigh by the mask), none (the batch's samples) otherwise.
    pub(crate) fn weight(out: &Output) -> Option<Tensor<1>> {
        let dims = out.value.dims();
        let rows = dims.iter().product::<usize>() / dims.last().copied().unwrap_or(1).max(1);
        crate::training::loss::mask_rows(out, rows).map(|m| m.sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Value;
    use burn::tensor::TensorData;

    fn out(rows: &[[f32; 2]]) -> Output {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Output {
            value: Value::from_host(flat, &[rows.len(), 2], &crate::backend::test_device())
                .unwrap(),
            logits: None,
            mask: None,
        }
    }

    #[test]
    fn accuracy_follows_the_loss() {
        let s = Shape::new([10]);
        assert_eq!(
            Metric::Accuracy
                .resolve(Loss::SparseCategoricalCrossentropy, &s)
                .unwrap(),
            MetricFn::SparseCategoricalAccuracy
        );
        assert_eq!(
            Metric::Accuracy
                .resolve(Loss::CategoricalCrossentropy, &s)
                .unwrap(),
            MetricFn::CategoricalAccuracy
        );
        assert_eq!(
            Metric::Accuracy
                .resolve(Loss::MeanSquaredError, &Shape::new([1]))
                .unwrap(),
            MetricFn::BinaryAccuracy
        );
        assert!(
            Metric::Mse
                .resolve(Loss::SparseCategoricalCrossentropy, &s)
                .is_err()
        );
    }

    #[test]
    fn accuracies_by_hand() {
        let o = out(&[[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]]);
        let y = Target::Dense(out(&[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]).value);
        let acc = MetricFn::CategoricalAccuracy
            .compute(&o, &y)
            .into_scalar::<f32>();
        assert!((acc - 0.75).abs() < 1e-6);
        // argmax per row is [0, 1, 0, 1]
        let labels = Tensor::from_data(
            TensorData::new(vec![0i64, 1, 1, 0], [4]),
            &crate::backend::test_device(),
        );
        let acc = MetricFn::SparseCategoricalAccuracy
            .compute(&o, &Target::Sparse(labels))
            .into_scalar::<f32>();
        assert!((acc - 0.5).abs() < 1e-6);
        // binary: predictions > 0.5 are [1,0],[0,1],[1,0],[0,1] against the targets: 6 of 8 equal
        let acc = MetricFn::BinaryAccuracy
            .compute(&o, &y)
            .into_scalar::<f32>();
        assert!((acc - 0.75).abs() < 1e-6);
    }
}
