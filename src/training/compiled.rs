//! What `compile` fixes: the optimizer, the loss and the metrics, and how one batch is scored.

use crate::data::HostArray;
use crate::error::{Error, Result};
use crate::graph::{Output, Value, map_value};
use crate::shape::Shape;
use crate::training::Logs;
use crate::training::loss::{LossConfig, Target};
use crate::training::metrics::{Metric, MetricFn};
use crate::training::optimizers::{Optimizer, OptimizerState};
use crate::training::per_output::{Losses, Metrics};
use burn::tensor::{Device, Tensor, TensorData};

/// One output's part of the training setup.
pub(crate) struct Head {
    /// The output's name (the layer giving it).
    name: String,
    pub(crate) loss: LossConfig,
    weight: f64,
    metrics: Vec<MetricFn>,
    output: Shape,
}

/// A compiled model's training setup.
pub struct Compiled {
    pub(crate) optimizer: OptimizerState,
    /// The losses as given to `compile`.
    pub(crate) losses: Losses,
    /// The metrics as given to `compile`.
    pub(crate) metrics: Metrics,
    heads: Vec<Head>,
    names: Vec<String>,
}

impl Compiled {
    /// The setup for outputs `outputs` (names and shapes, in order).
    pub(crate) fn new(
        optimizer: Optimizer,
        losses: Losses,
        metrics: Metrics,
        outputs: &[(String, Shape)],
    ) -> Result<Self> {
        optimizer.validate()?;
        let names: Vec<String> = outputs.iter().map(|(n, _)| n.clone()).collect();
        let loss_list = losses.losses.resolve(&names, "loss", None)?;
        let weights = match &losses.loss_weights {
            Some(w) => w.resolve(&names, "loss_weights", Some(1.0))?,
            None => vec![1.0; names.len()],
        };
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(Error::config(
                "loss_weights",
                format!("{w} is not a finite weight of at least 0"),
            ));
        }
        let metric_lists = metrics.0.resolve(&names, "metrics", Some(Vec::new()))?;
        let multi = outputs.len() > 1;
        let mut heads = Vec::with_capacity(outputs.len());
        let mut log_names = vec!["loss".to_string()];
        if multi {
            log_names.extend(names.iter().map(|n| format!("{n}_loss")));
        }
        for (((name, shape), loss), (weight, list)) in outputs
            .iter()
            .zip(loss_list)
            .zip(weights.into_iter().zip(metric_lists))
        {
            let mut resolved = Vec::new();
            let mut seen: Vec<Metric> = Vec::new();
            for m in list {
                if seen.contains(&m) {
                    return Err(Error::config(
                        format!("metric `{}`", m.name()),
                        "it is listed twice",
                    ));
                }
                seen.push(m);
                resolved.push(m.resolve(loss.loss, shape).map_err(|e| {
                    if multi {
                        Error::config(format!("output `{name}`"), e.to_string())
                    } else {
                        e
                    }
                })?);
                log_names.push(if multi {
                    format!("{name}_{}", m.name())
                } else {
                    m.name().to_string()
                });
            }
            heads.push(Head {
                name: name.clone(),
                loss,
                weight,
                metrics: resolved,
                output: shape.clone(),
            });
        }
        Ok(Compiled {
            optimizer: OptimizerState::new(optimizer),
            losses,
            metrics,
            heads,
            names: log_names,
        })
    }

    /// The names of the values scored per batch: `loss`, then (with several outputs) each
    /// output's loss `<output>_loss`, then the metrics (`accuracy`, or `<output>_accuracy`).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    /// The total loss (tracked, for the backward pass) and every value of [`Self::names`]
    /// (detached), with their weights.
    pub(crate) fn score(&self, outputs: &[Output], targets: &[Target]) -> (Tensor<1>, Scores) {
        let mut total: Option<Tensor<1>> = None;
        let mut losses = Vec::with_capacity(self.heads.len());
        let mut metrics = Vec::new();
        let mut metric_weights = Vec::new();
        for ((head, out), target) in self.heads.iter().zip(outputs).zip(targets) {
            let loss = head.loss.compute(out, target);
            let weighted = if head.weight == 1.0 {
                loss.clone()
            } else {
                loss.clone().mul_scalar(head.weight)
            };
            total = Some(match total {
                None => weighted,
                Some(t) => t + weighted,
            });
            losses.push(loss.detach());
            let detached = Output {
                value: map_value!(out.value.clone(), t => t.detach()),
                logits: None,
                mask: out.mask.clone(),
            };
            let weight = MetricFn::weight(&detached);
            for m in &head.metrics {
                metrics.push(m.compute(&detached, target));
                metric_weights.push(weight.clone());
            }
        }
        // compile refuses a model without outputs, and each output adds its loss to total
        let total = total.expect("a compiled model has an output");
        let mut values = vec![total.clone().detach()];
        if self.heads.len() > 1 {
            values.extend(losses);
        }
        // losses weigh by the batch's samples (Keras' loss tracker), metrics by their
        // unmasked steps when their output carries a mask
        let mut weights = vec![None; values.len()];
        values.extend(metrics);
        weights.extend(metric_weights);
        (total, Scores { values, weights })
    }

    /// The targets of samples `indices` of `ys` (one array per output), on `device`.
    pub(crate) fn targets(
        &self,
        ys: &[HostArray],
        indices: &[usize],
        buffer: &mut Vec<f32>,
        device: &Device,
    ) -> Result<Vec<Target>> {
        self.heads
            .iter()
            .zip(ys)
            .map(|(head, y)| head.target(y, indices, buffer, device))
            .collect()
    }

    /// Checks targets (one array per output) against the outputs' shapes, and integer labels
    /// against the classes.
    pub(crate) fn check_targets(&self, ys: &[HostArray]) -> Result<()> {
        let multi = self.heads.len() > 1;
        for (head, y) in self.heads.iter().zip(ys) {
            head.check_target(y).map_err(|e| match e {
                Error::Data { message } if multi => {
                    Error::data(format!("targets of output `{}`: {message}", head.name))
                }
                e => e,
            })?;
        }
        Ok(())
    }
}

impl Head {
    fn target(
        &self,
        y: &HostArray,
        indices: &[usize],
        buffer: &mut Vec<f32>,
        device: &Device,
    ) -> Result<Target> {
        y.gather_into(indices, buffer);
        if self.loss.loss.is_sparse() {
            let labels: Vec<i64> = buffer.iter().map(|v| *v as i64).collect();
            let n = labels.len();
            Ok(Target::Sparse(Tensor::from_data(
                TensorData::new(labels, [n]),
                device,
            )))
        } else {
            // shaped like the output: targets of `(n,)` for a `(None, 1)` output fit too
            let dims = self.output.batched(indices.len());
            Ok(Target::Dense(Value::from_host(
                std::mem::take(buffer),
                &dims,
                device,
            )?))
        }
    }

    fn check_target(&self, y: &HostArray) -> Result<()> {
        let output = &self.output;
        self.loss.check_target(output, y.sample_shape())?;
        if let Some(bad) = y.first_non_finite() {
            return Err(Error::data(format!(
                "the targets: {bad}; a NaN or infinite target would poison the weights"
            )));
        }
        if self.loss.loss.is_sparse() {
            let classes = output.last().unwrap_or(0);
            if let Some((i, v)) = y
                .values()
                .iter()
                .enumerate()
                .find(|(_, v)| v.fract() != 0.0 || **v < 0.0 || **v >= classes as f32)
            {
                return Err(Error::data(format!(
                    "label {v} of sample {i} is not a class in 0..{classes} (the model has \
                     {classes} outputs)"
                )));
            }
        }
        Ok(())
    }
}

/// A batch's values (one per [`Compiled::names`], batch means) and the weight of each in the
/// epoch's mean: `None` for the batch's samples, or a count on the device (a masked output's
/// unmasked steps).
pub struct Scores {
    pub values: Vec<Tensor<1>>,
    pub weights: Vec<Option<Tensor<1>>>,
}

/// Weighted running means of the values of one epoch, summed on the device and read once per
/// display.
pub(crate) struct Running {
    names: Vec<String>,
    sums: Option<Vec<Tensor<1>>>,
    /// Per value, the sum of its weights when they are counts on the device.
    weights: Vec<Option<Tensor<1>>>,
    samples: usize,
}

impl Running {
    pub(crate) fn new(compiled: &Compiled) -> Self {
        Running {
            names: compiled.names().map(String::from).collect(),
            sums: None,
            weights: Vec::new(),
            samples: 0,
        }
    }

    /// Adds the batch means of a batch of `n` samples, each weighed as `scores` says.
    pub(crate) fn add(&mut self, scores: Scores, n: usize) {
        let Scores { values, weights } = scores;
        let weighted = values.into_iter().zip(&weights).map(|(v, w)| match w {
            Some(w) => v * w.clone(),
            None => v.mul_scalar(n as f64),
        });
        self.sums = Some(match self.sums.take() {
            None => weighted.collect(),
            Some(sums) => sums.into_iter().zip(weighted).map(|(s, v)| s + v).collect(),
        });
        if self.weights.is_empty() {
            self.weights = weights;
        } else {
            for (total, w) in self.weights.iter_mut().zip(weights) {
                if let (Some(t), Some(w)) = (total.as_mut(), w) {
                    *t = t.clone() + w;
                }
            }
        }
        self.samples += n;
    }

    /// The means so far, read from the device in one transfer (two when a value is weighed
    /// by a mask).
    pub(crate) fn logs(&self) -> Logs {
        let mut logs = Logs::default();
        let Some(sums) = &self.sums else {
            return logs;
        };
        let read = |ts: Vec<Tensor<1>>| -> Vec<f32> {
            Tensor::cat(ts, 0)
                .into_data()
                .try_to_vec()
                // kiln computes in f32 on every backend it offers
                .expect("metric sums are f32")
        };
        let all = read(sums.clone());
        let counted: Vec<Tensor<1>> = self.weights.iter().flatten().cloned().collect();
        let mut counts = if counted.is_empty() {
            Vec::new()
        } else {
            read(counted)
        }
        .into_iter();
        for ((name, sum), weight) in self.names.iter().zip(all).zip(&self.weights) {
            let denominator = match weight {
                // `counts` was read from exactly the weights that are Some, in this order
                Some(_) => counts.next().expect("one count per weight") as f64,
                None => self.samples as f64,
            };
            // Keras divides without NaN: nothing counted is 0
            let mean = if denominator > 0.0 {
                sum as f64 / denominator
            } else {
                0.0
            };
            logs.insert(name.clone(), mean);
        }
        logs
    }
}
