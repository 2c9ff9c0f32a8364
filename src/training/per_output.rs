//! What `compile` takes per model output: losses, their weights, metrics.

use crate::error::{Error, Result};
use crate::training::{Loss, LossConfig, Metric};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A setting for each output of a model: one for all, one per output in order, or by output
/// name, as Keras' `compile` takes a single value, a list or a dict.
///
/// In JSON: a single value, a list, or an object keyed by output name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerOutput<T> {
    /// The same value for every output.
    All(T),
    /// One value per output, in the order of the model's outputs.
    List(Vec<T>),
    /// Values by output name (the name of the layer giving the output).
    Named(BTreeMap<String, T>),
}

impl<T: Clone> PerOutput<T> {
    /// Values by output name.
    pub fn named<S: Into<String>, V: Into<T>>(values: impl IntoIterator<Item = (S, V)>) -> Self {
        PerOutput::Named(
            values
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// One value per output in `outputs` (the model's output names); `fallback` for outputs a
    /// `Named` setting leaves out, which is an error when there is none. `what` names the
    /// setting in messages (`loss`).
    pub(crate) fn resolve(
        &self,
        outputs: &[String],
        what: &str,
        fallback: Option<T>,
    ) -> Result<Vec<T>> {
        match self {
            PerOutput::All(v) => Ok(vec![v.clone(); outputs.len()]),
            PerOutput::List(vs) if vs.len() == outputs.len() => Ok(vs.clone()),
            PerOutput::List(vs) => Err(Error::config(
                what,
                format!(
                    "{} values are given for {} outputs ({}); give one per output, in order, or \
                     name them",
                    vs.len(),
                    outputs.len(),
                    quoted(outputs)
                ),
            )),
            PerOutput::Named(map) => {
                if let Some(unknown) = map.keys().find(|k| !outputs.contains(k)) {
                    return Err(Error::config(
                        what,
                        format!(
                            "it names output `{unknown}`, but the model's outputs are {}",
                            quoted(outputs)
                        ),
                    ));
                }
                outputs
                    .iter()
                    .map(|o| match (map.get(o), &fallback) {
                        (Some(v), _) => Ok(v.clone()),
                        (None, Some(f)) => Ok(f.clone()),
                        (None, None) => Err(Error::config(
                            what,
                            format!("none is given for output `{o}`; give one for each output"),
                        )),
                    })
                    .collect()
            }
        }
    }
}

/// `` `a`, `b` ``
pub(crate) fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The losses `compile` takes: one for every output (`Loss::MeanSquaredError`), one per output
/// (`[Loss::MeanSquaredError, Loss::SparseCategoricalCrossentropy]`) or by output name
/// ([`Losses::named`]), and optionally a weight per output: the total loss that training
/// minimizes is `sum(weight * loss)` (weights default to 1).
///
/// ```
/// use kiln::training::Losses;
/// use kiln::Loss;
/// let losses = Losses::named([("score", Loss::MeanSquaredError), ("class", Loss::BinaryCrossentropy)])
///     .loss_weights(kiln::training::PerOutput::named([("score", 0.5)]));
/// assert!(losses.loss_weights.is_some());
/// let one: Losses = Loss::MeanSquaredError.into();
/// let each: Losses = [Loss::MeanSquaredError, Loss::MeanAbsoluteError].into();
/// assert_ne!(one, each);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Losses {
    /// The loss of each output.
    pub losses: PerOutput<LossConfig>,
    /// The weight of each output's loss in the total (default: 1 each).
    pub loss_weights: Option<PerOutput<f64>>,
}

impl Losses {
    /// Losses by output name.
    pub fn named<S: Into<String>, L: Into<LossConfig>>(
        losses: impl IntoIterator<Item = (S, L)>,
    ) -> Self {
        PerOutput::named(losses).into()
    }

    /// Weighs each output's loss in the total (Keras' `loss_weights`; default 1 each).
    pub fn loss_weights(mut self, weights: impl Into<PerOutput<f64>>) -> Self {
        self.loss_weights = Some(weights.into());
        self
    }
}

impl From<PerOutput<LossConfig>> for Losses {
    fn from(losses: PerOutput<LossConfig>) -> Self {
        Losses {
            losses,
            loss_weights: None,
        }
    }
}

impl From<Loss> for Losses {
    fn from(loss: Loss) -> Self {
        PerOutput::All(loss.into()).into()
    }
}

impl From<LossConfig> for Losses {
    fn from(loss: LossConfig) -> Self {
        PerOutput::All(loss).into()
    }
}

impl<L: Into<LossConfig>, const N: usize> From<[L; N]> for Losses {
    fn from(losses: [L; N]) -> Self {
        PerOutput::List(losses.into_iter().map(Into::into).collect()).into()
    }
}

impl<L: Into<LossConfig>> From<Vec<L>> for Losses {
    fn from(losses: Vec<L>) -> Self {
        PerOutput::List(losses.into_iter().map(Into::into).collect()).into()
    }
}

impl<const N: usize> From<[f64; N]> for PerOutput<f64> {
    fn from(weights: [f64; N]) -> Self {
        PerOutput::List(weights.to_vec())
    }
}

impl From<Vec<f64>> for PerOutput<f64> {
    fn from(weights: Vec<f64>) -> Self {
        PerOutput::List(weights)
    }
}

/// The metrics `compile` takes: one list for every output (`&[Metric::Accuracy]`), or per
/// output ([`Metrics::named`], [`Metrics::per_output`]).
///
/// ```
/// use kiln::training::Metrics;
/// use kiln::Metric;
/// let all: Metrics = (&[Metric::Accuracy]).into();
/// let some = Metrics::named([("class", vec![Metric::Accuracy])]);
/// assert_ne!(all, some);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics(pub PerOutput<Vec<Metric>>);

impl Metrics {
    /// Metrics by output name; outputs left out get none.
    pub fn named<S: Into<String>>(metrics: impl IntoIterator<Item = (S, Vec<Metric>)>) -> Self {
        Metrics(PerOutput::named(metrics))
    }

    /// One list of metrics per output, in order.
    pub fn per_output(metrics: impl IntoIterator<Item = Vec<Metric>>) -> Self {
        Metrics(PerOutput::List(metrics.into_iter().collect()))
    }
}

impl<const N: usize> From<&[Metric; N]> for Metrics {
    fn from(metrics: &[Metric; N]) -> Self {
        Metrics(PerOutput::All(metrics.to_vec()))
    }
}

impl From<&[Metric]> for Metrics {
    fn from(metrics: &[Metric]) -> Self {
        Metrics(PerOutput::All(metrics.to_vec()))
    }
}

impl From<&Vec<Metric>> for Metrics {
    fn from(metrics: &Vec<Metric>) -> Self {
        Metrics(PerOutput::All(metrics.clone()))
    }
}

impl From<Vec<Metric>> for Metrics {
    fn from(metrics: Vec<Metric>) -> Self {
        Metrics(PerOutput::All(metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn settings_resolve_per_output() {
        let outs = names(&["a", "b"]);
        assert_eq!(PerOutput::All(1).resolve(&outs, "x", None).unwrap(), [1, 1]);
        assert_eq!(
            PerOutput::List(vec![1, 2])
                .resolve(&outs, "x", None)
                .unwrap(),
            [1, 2]
        );
        let e = PerOutput::List(vec![1])
            .resolve(&outs, "loss", None)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("1 values are given for 2 outputs (`a`, `b`)"),
            "{e}"
        );
        let named = PerOutput::named([("b", 5)]);
        assert_eq!(named.resolve(&outs, "x", Some(0)).unwrap(), [0, 5]);
        let e = named.resolve(&outs, "loss", None).unwrap_err();
        assert!(e.to_string().contains("output `a`"), "{e}");
        let e = PerOutput::named([("c", 5)])
            .resolve(&outs, "loss", Some(0))
            .unwrap_err();
        assert!(e.to_string().contains("`c`"), "{e}");
    }

    #[test]
    fn json_reads_a_value_a_list_or_names() {
        let one: PerOutput<LossConfig> =
            serde_json::from_str(r#"{"loss": "mean_squared_error", "from_logits": false}"#)
                .unwrap();
        assert_eq!(one, PerOutput::All(Loss::MeanSquaredError.into()));
        let list: PerOutput<Vec<Metric>> = serde_json::from_str(r#"["accuracy"]"#).unwrap();
        assert_eq!(list, PerOutput::All(vec![Metric::Accuracy]));
        let named: PerOutput<f64> = serde_json::from_str(r#"{"a": 0.5}"#).unwrap();
        assert_eq!(named, PerOutput::named([("a", 0.5)]));
    }
}
