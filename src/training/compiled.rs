//! What `compile` fixes: the optimizer, the loss and the metrics, and how one batch is scored.

use crate::data::HostArray;
use crate::error::{Error, Result};
use crate::graph::{Output, Value, map_value};
use crate::shape::Shape;
use crate::training::Logs;
use crate::training::loss::{LossConfig, Target};
use crate::training::metrics::{Metric, MetricFn};
use crate::training::optimizers::{Optimizer, OptimizerState};
use burn::tensor::{Device, Tensor, TensorData};

/// A compiled model's training setup.
pub(crate) struct Compiled {
    pub(crate) optimizer: OptimizerState,
    pub(crate) loss: LossConfig,
    metrics: Vec<(&'static str, MetricFn)>,
    metric_list: Vec<Metric>,
    output: Shape,
}

impl Compiled {
    pub(crate) fn new(
        optimizer: Optimizer,
        loss: LossConfig,
        metrics: &[Metric],
        output: &Shape,
    ) -> Result<Self> {
        optimizer.validate()?;
        let mut resolved: Vec<(&'static str, MetricFn)> = Vec::new();
        for m in metrics {
            if resolved.iter().any(|(n, _)| *n == m.name()) {
                return Err(Error::config(
                    format!("metric `{}`", m.name()),
                    "it is listed twice",
                ));
            }
            resolved.push((m.name(), m.resolve(loss.loss, output)?));
        }
        Ok(Compiled {
            optimizer: OptimizerState::new(optimizer),
            loss,
            metrics: resolved,
            metric_list: metrics.to_vec(),
            output: output.clone(),
        })
    }

    /// The metrics as compiled.
    pub(crate) fn metric_list(&self) -> &[Metric] {
        &self.metric_list
    }

    /// The names of the values scored per batch: `loss`, then each metric.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once("loss").chain(self.metrics.iter().map(|(n, _)| *n))
    }

    /// The loss (tracked, for the backward pass) and every value of [`Self::names`] (detached).
    pub(crate) fn score(&self, out: &Output, target: &Target) -> (Tensor<1>, Vec<Tensor<1>>) {
        let loss = self.loss.compute(out, target);
        let detached = Output {
            value: map_value!(out.value.clone(), t => t.detach()),
            logits: None,
        };
        let mut values = vec![loss.clone().detach()];
        values.extend(
            self.metrics
                .iter()
                .map(|(_, m)| m.compute(&detached, target)),
        );
        (loss, values)
    }

    /// The targets of samples `indices` of `y`, on `device`.
    pub(crate) fn target(
        &self,
        y: &HostArray,
        indices: &[usize],
        buffer: &mut Vec<f32>,
        device: &Device,
    ) -> Target {
        y.gather_into(indices, buffer);
        if self.loss.loss.is_sparse() {
            let labels: Vec<i64> = buffer.iter().map(|v| *v as i64).collect();
            let n = labels.len();
            Target::Sparse(Tensor::from_data(TensorData::new(labels, [n]), device))
        } else {
            // shaped like the output: targets of `(n,)` for a `(None, 1)` output fit too
            let dims = self.output.batched(indices.len());
            Target::Dense(Value::from_host(std::mem::take(buffer), &dims, device))
        }
    }

    /// Checks targets against the output shape, and integer labels against the classes.
    pub(crate) fn check_targets(&self, y: &HostArray, output: &Shape) -> Result<()> {
        self.loss.check_target(output, y.sample_shape())?;
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

/// Sample-weighted running means of the values of one epoch, summed on the device and read
/// once per display.
pub(crate) struct Running {
    names: Vec<&'static str>,
    sums: Option<Vec<Tensor<1>>>,
    samples: usize,
}

impl Running {
    pub(crate) fn new(compiled: &Compiled) -> Self {
        Running {
            names: compiled.names().collect(),
            sums: None,
            samples: 0,
        }
    }

    /// Adds the batch means `values` of a batch of `n` samples.
    pub(crate) fn add(&mut self, values: Vec<Tensor<1>>, n: usize) {
        let weighted = values.into_iter().map(|v| v.mul_scalar(n as f64));
        self.sums = Some(match self.sums.take() {
            None => weighted.collect(),
            Some(sums) => sums.into_iter().zip(weighted).map(|(s, v)| s + v).collect(),
        });
        self.samples += n;
    }

    /// The means so far, read from the device in one transfer.
    pub(crate) fn logs(&self) -> Logs {
        let mut logs = Logs::default();
        let Some(sums) = &self.sums else {
            return logs;
        };
        let all: Vec<f32> = Tensor::cat(sums.clone(), 0)
            .into_data()
            .try_to_vec()
            .expect("metric sums are f32");
        for (name, sum) in self.names.iter().zip(all) {
            logs.insert(*name, sum as f64 / self.samples as f64);
        }
        logs
    }
}
