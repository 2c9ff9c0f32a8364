//! Batch normalization over the last axis (channels last), as one backend operation with its
//! own backward pass.
//!
//! Burn normalizes over axis 1 (channels first), so a channels-last network paid a permutation
//! into and out of every `BatchNormalization`, and on burn-flex Burn's training step is a chain
//! of reductions and broadcasts, each a pass over the activation. kiln's operation takes the
//! activation as `[rows, channels]` (a free reshape of `[batch, ..., channels]`); burn-flex gets
//! kernels of its own ([`flex`](super::batch_norm_flex)): two passes for the statistics, one for
//! the output, two for the gradients. Other backends run Burn's `batch_norm_train` on the same
//! `[rows, channels]` matrix, whose axis 1 is the channels.

// burn-ndarray is deprecated in Burn 0.22 but stays one of kiln's CPU backends.
#![cfg_attr(feature = "ndarray", allow(deprecated))]

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

/// Batch normalization of `[rows, channels]` with the batch's own statistics, and its
/// gradients.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub(crate) trait BatchNormRows: Backend {
    /// `(x - mean) / sqrt(variance + epsilon) * gamma + beta` per channel, with the mean and
    /// biased variance of each channel over the rows; returns the output, the mean and the
    /// variance (`[channels]` each).
    fn batch_norm_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        (r.output, r.mean, r.variance)
    }

    /// The gradients of the input, gamma and beta from the gradient of the output `grad`,
    /// given the statistics [`batch_norm_rows`](Self::batch_norm_rows) returned.
    fn batch_norm_rows_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }
}

#[cfg(feature = "ndarray")]
impl BatchNormRows for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl BatchNormRows for burn::backend::Cube {}

/// What [`normalize`] returns: the output and the batch's statistics per channel.
pub(crate) struct Normalized {
    pub(crate) output: Tensor<2>,
    pub(crate) mean: Tensor<1>,
    pub(crate) variance: Tensor<1>,
}

/// Normalizes each column of `x` (`[rows, channels]`) with its mean and biased variance over
/// the rows, then scales by `gamma` and shifts by `beta` (`[channels]` each); gradients flow to
/// all three on an autodiff device. For `BatchNormalization`, which checks the shapes.
pub(crate) fn normalize(
    x: Tensor<2>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> Normalized {
    let (output, mean, variance) = <Dispatch as BatchNormRows>::batch_norm_rows(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    Normalized {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d::tests::{devices, max_diff, values};
    use burn::tensor::Distribution;
    use burn::tensor::module::batch_norm_train;

    /// `[rows, channels]`: one row per channel, a few, one part of the flex kernel's partition
    /// and many.
    const SHAPES: [[usize; 2]; 5] = [[2, 1], [5, 3], [64, 32], [1000, 7], [4513, 64]];

    #[test]
    fn matches_burns_batch_norm_train_with_gradients() {
        for device in devices() {
            let device = device.autodiff();
            for [rows, channels] in SHAPES {
                // an offset and a spread that differ by channel, as after a convolution
                let x =
                    Tensor::<2>::random([rows, channels], Distribution::Normal(3.0, 2.0), &device)
                        .require_grad();
                let gamma =
                    Tensor::<1>::random([channels], Distribution::Uniform(0.5, 1.5), &device)
                        .require_grad();
                let beta =
                    Tensor::<1>::random([channels], Distribution::Default, &device).require_grad();
                let ours = normalize(x.clone(), gamma.clone(), beta.clone(), 1e-3);
                let burn = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-3);
                let case = format!("{device:?} [{rows}, {channels}]");
                for (name, a, b) in [
                    ("mean", ours.mean.clone(), burn.mean.clone()),
                    ("variance", ours.variance.clone(), burn.variance.clone()),
                ] {
                    let d = max_diff(a, b);
                    assert!(d < 1e-5, "{case}: {name} differs by {d}");
                }
                let d = max_diff(ours.output.clone(), burn.output.clone());
                assert!(d < 1e-5, "{case}: outputs differ by {d}");
                let g = Tensor::<2>::random([rows, channels], Distribution::Default, &device);
                let ours = (ours.output * g.clone()).sum().backward();
                let burn = (burn.output * g).sum().backward();
                let d = max_diff(x.grad(&ours).unwrap(), x.grad(&burn).unwrap());
                assert!(d < 1e-4, "{case}: input gradients differ by {d}");
                for (name, t) in [("gamma", &gamma), ("beta", &beta)] {
                    let d = max_diff(t.grad(&ours).unwrap(), t.grad(&burn).unwrap());
                    assert!(d < 1e-4, "{case}: {name} gradients differ by {d}");
                }
            }
        }
    }

    #[test]
    fn hand_computed_statistics_and_output() {
        for device in devices() {
            // channel 0: 1, 3 (mean 2, variance 1); channel 1: 0, 0 (variance 0)
            let x = Tensor::<2>::from_floats([[1.0, 0.0], [3.0, 0.0]], &device);
            let gamma = Tensor::<1>::from_floats([2.0, 1.0], &device);
            let beta = Tensor::<1>::from_floats([0.5, -1.0], &device);
            let r = normalize(x, gamma, beta, 1e-3);
            assert_eq!(values(r.mean), [2.0, 0.0], "{device:?}");
            assert_eq!(values(r.variance), [1.0, 0.0], "{device:?}");
            let s = 2.0 / (1.0f32 + 1e-3).sqrt();
            let out = values(r.output);
            let expected = [0.5 - s, -1.0, 0.5 + s, -1.0];
            for (a, b) in out.iter().zip(expected) {
                assert!(
                    (a - b).abs() < 1e-6,
                    "{device:?}: {out:?} against {expected:?}"
                );
            }
        }
    }
}
