//! kiln's channels-last batch normalization kernels for burn-flex.
//!
//! The rows split into a fixed number of parts; each part sums its channels in f64, and the
//! parts' sums add up in order, so results do not depend on the number of threads or their
//! timing. The statistics take two passes (the mean, then the squares around it, as Burn
//! computes them), the output one; the gradients take one pass for their sums and one for the
//! input's gradient.

use super::batch_norm::BatchNormRows;
use super::flex_buffers::{filled, tensor};
use super::flex_contiguous::contiguous;
use crate::backend::map_items;
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::tensor::DType;

/// How many parts the rows split into for the sums.
const PARTS: usize = 32;

impl BatchNormRows for Flex {
    fn batch_norm_rows(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [rows, channels] = dims(&x);
        if !f32s(&[&x, &gamma, &beta]) || rows == 0 || channels == 0 {
            let r = Flex::batch_norm_train(x, gamma, beta, epsilon);
            return (r.output, r.mean, r.variance);
        }
        let (x, gamma, beta) = (contiguous(&x), contiguous(&gamma), contiguous(&beta));
        let rows_of = Rows::new(x.storage(), channels);
        let mean = rows_of.sums(|_, row, acc| add(acc, row.iter().map(|v| *v as f64)));
        let mean: Vec<f64> = mean.iter().map(|s| s / rows as f64).collect();
        let variance = rows_of.sums(|_, row, acc| {
            add(
                acc,
                row.iter().zip(&mean).map(|(v, m)| (*v as f64 - m).powi(2)),
            )
        });
        let variance: Vec<f64> = variance.iter().map(|s| s / rows as f64).collect();
        let (gamma, beta) = (gamma.storage::<f32>(), beta.storage::<f32>());
        let scale: Vec<f32> = (0..channels)
            .map(|c| (gamma[c] as f64 / (variance[c] + epsilon).sqrt()) as f32)
            .collect();
        let mean32: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
        let output = rows_of.map(|_, x, out| {
            for c in 0..channels {
                out[c] = (x[c] - mean32[c]) * scale[c] + beta[c];
            }
        });
        (
            tensor(output, vec![rows, channels]),
            tensor(mean32, vec![channels]),
            tensor(variance.iter().map(|v| *v as f32).collect(), vec![channels]),
        )
    }

    fn batch_norm_rows_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [rows, channels] = dims(&x);
        if !f32s(&[&x, &gamma, &mean, &variance, &grad]) || rows == 0 || channels == 0 {
            let r = Flex::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
            return (r.x_grad, r.gamma_grad, r.beta_grad);
        }
        let [x, gamma, mean, variance, grad] =
            [x, gamma, mean, variance, grad].map(|t| contiguous(&t));
        let (gamma, mean) = (gamma.storage::<f32>(), mean.storage::<f32>());
        let inv_std: Vec<f32> = variance
            .storage::<f32>()
            .iter()
            .map(|v| (1.0 / (*v as f64 + epsilon).sqrt()) as f32)
            .collect();
        let normalized = |c: usize, v: f32| (v - mean[c]) * inv_std[c];
        let grad = grad.storage::<f32>();
        let rows_of = Rows::new(x.storage(), channels);
        // one pass for both sums: beta's gradient, then gamma's, side by side
        let sums = Rows::new(x.storage(), channels).wide(2).sums(|r, x, acc| {
            let g = &grad[r * channels..][..channels];
            let (beta, gamma) = acc.split_at_mut(channels);
            add(beta, g.iter().map(|v| *v as f64));
            add(
                gamma,
                (0..channels).map(|c| g[c] as f64 * normalized(c, x[c]) as f64),
            );
        });
        let (beta_grad, gamma_grad) = sums.split_at(channels);
        let n = rows as f64;
        let mean_grad: Vec<f32> = beta_grad.iter().map(|s| (s / n) as f32).collect();
        let mean_projected: Vec<f32> = gamma_grad.iter().map(|s| (s / n) as f32).collect();
        let scale: Vec<f32> = (0..channels).map(|c| gamma[c] * inv_std[c]).collect();
        let x_grad = rows_of.map(|r, x, out| {
            let g = &grad[r * channels..][..channels];
            for c in 0..channels {
                let projected = normalized(c, x[c]) * mean_projected[c];
                out[c] = scale[c] * (g[c] - mean_grad[c] - projected);
            }
        });
        let to_f32 = |s: &[f64]| s.iter().map(|v| *v as f32).collect::<Vec<_>>();
        (
            tensor(x_grad, vec![rows, channels]),
            tensor(to_f32(gamma_grad), vec![channels]),
            tensor(to_f32(beta_grad), vec![channels]),
        )
    }
}

fn dims(x: &FlexTensor) -> [usize; 2] {
    let shape = x.layout().shape();
    [shape[0], shape[1]]
}

fn f32s(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// `acc[i] += values[i]`.
fn add(acc: &mut [f64], values: impl Iterator<Item = f64>) {
    acc.iter_mut().zip(values).for_each(|(a, v)| *a += v);
}

/// A contiguous `[rows, channels]` matrix, visited by parts of rows in parallel.
struct Rows<'a> {
    x: &'a [f32],
    channels: usize,
    /// How many sums each channel has (the accumulator is `width × channels` long).
    width: usize,
}

impl<'a> Rows<'a> {
    fn new(x: &'a [f32], channels: usize) -> Self {
        Rows {
            x,
            channels,
            width: 1,
        }
    }

    fn wide(self, width: usize) -> Self {
        Rows { width, ..self }
    }

    fn rows(&self) -> usize {
        self.x.len() / self.channels
    }

    /// Rows per part.
    fn part(&self) -> usize {
        self.rows().div_ceil(PARTS).max(1)
    }

    /// The sums `visit(row index, row, accumulator)` accumulates over every row: each part
    /// from zeros, then the parts in order.
    fn sums(&self, visit: impl Fn(usize, &[f32], &mut [f64]) + Sync) -> Vec<f64> {
        let (channels, part) = (self.channels, self.part());
        let len = self.width * channels;
        let chunks: Vec<(usize, &[f32])> = self.x.chunks(part * channels).enumerate().collect();
        let partials: Vec<Vec<f64>> = map_items(chunks, |(p, chunk)| {
            let mut acc = vec![0.0f64; len];
            for (i, row) in chunk.chunks_exact(channels).enumerate() {
                visit(p * part + i, row, &mut acc);
            }
            acc
        });
        let mut total = vec![0.0f64; len];
        for partial in partials {
            add(&mut total, partial.into_iter());
        }
        total
    }

    /// A new `[rows, channels]` matrix whose row `r` is written by `row(r, x's row r, out)`.
    fn map(&self, row: impl Fn(usize, &[f32], &mut [f32]) + Sync + Send) -> Vec<f32> {
        let (channels, part) = (self.channels, self.part());
        filled(self.x.len(), part * channels, |p, out| {
            let x = &self.x[p * part * channels..][..out.len()];
            for (i, (x, out)) in x
                .chunks_exact(channels)
                .zip(out.chunks_exact_mut(channels))
                .enumerate()
            {
                row(p * part + i, x, out);
            }
        })
    }
}
