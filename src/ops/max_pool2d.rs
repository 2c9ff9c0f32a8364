//! Max pooling of channels-last images, as one backend operation with its own backward pass.
//!
//! On burn-flex, Burn's `max_pool2d` took about 10 ms forward and 2 ms backward for the
//! MNIST convnet's first pooling (batch 128, 26×26×32), more than that layer's convolution;
//! kiln's kernel reads whole pixels, all channels at once. Other backends run Burn's pooling
//! between two permutations. Padding is the caller's (`-inf` rows and columns), so the
//! operation itself never pads.

// burn-ndarray is deprecated in Burn 0.22 but stays one of kiln's CPU backends.
#![cfg_attr(feature = "ndarray", allow(deprecated))]

use crate::error::{Error, Result};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::{IntDType, Tensor};

/// Max pooling over `[batch, height, width, channels]` without padding.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub(crate) trait MaxPoolNhwc: Backend {
    /// The max of each `kernel` window, windows `stride` apart: `[batch, oh, ow, channels]`.
    fn max_pool2d_nhwc(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        by_burn_max_pool::<Self>(x, kernel, stride)
    }

    /// The input's gradient: each window's output gradient goes to its (first) largest input.
    fn max_pool2d_nhwc_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        backward_by_burn::<Self>(x, grad, kernel, stride)
    }
}

/// The pooling through Burn's channels-first `max_pool2d`.
pub(crate) fn by_burn_max_pool<B: Backend>(
    x: FloatTensor<B>,
    kernel: [usize; 2],
    stride: [usize; 2],
) -> FloatTensor<B> {
    let x = B::float_permute(x, &[0, 3, 1, 2]);
    let y = B::max_pool2d(x, kernel, stride, [0, 0], [1, 1], false);
    B::float_permute(y, &[0, 2, 3, 1])
}

/// The input's gradient through Burn's channels-first backward operation.
pub(crate) fn backward_by_burn<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    kernel: [usize; 2],
    stride: [usize; 2],
) -> FloatTensor<B> {
    let x = B::float_permute(x, &[0, 3, 1, 2]);
    let grad = B::float_permute(grad, &[0, 3, 1, 2]);
    let (k, s, p, d) = (kernel, stride, [0, 0], [1, 1]);
    let indices = B::max_pool2d_with_indices(x.clone(), k, s, p, d, false, IntDType::I64).indices;
    let dx = B::max_pool2d_with_indices_backward(x, k, s, p, d, false, grad, indices);
    B::float_permute(dx.x_grad, &[0, 2, 3, 1])
}

#[cfg(feature = "ndarray")]
impl MaxPoolNhwc for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl MaxPoolNhwc for burn::backend::Cube {}

/// Max pooling of channels-last images, as `MaxPooling2D` computes it: `x` is
/// `[batch, height, width, channels]`, windows of `kernel` pixels `stride` apart, no padding
/// (pad with `f32::NEG_INFINITY` first for Keras' "same"). Differentiable on an autodiff device:
/// each window's gradient goes to its first largest input, as in Burn and TensorFlow.
///
/// A kernel larger than the image, or a size of 0, is an error.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let x = Tensor::<4>::from_floats([[[[1.0], [5.0]], [[3.0], [2.0]]]], &Device::flex());
/// let y = kiln::ops::max_pool2d_nhwc(x.clone(), [2, 2], [2, 2])?;
/// assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), [5.0]);
/// assert!(kiln::ops::max_pool2d_nhwc(x, [3, 3], [1, 1]).is_err());
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn max_pool2d_nhwc(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2]) -> Result<Tensor<4>> {
    let [_, h, w, _] = x.dims();
    if kernel.contains(&0) || stride.contains(&0) || kernel[0] > h || kernel[1] > w {
        return Err(Error::config(
            "kiln::ops::max_pool2d_nhwc",
            format!(
                "a kernel {kernel:?} with strides {stride:?} over images of {h}×{w}: sizes must \
                 be at least 1 and the kernel fit in the image"
            ),
        ));
    }
    Ok(pool(x, kernel, stride))
}

/// The pooling, for kiln's layers, which check these sizes when a model is built.
pub(crate) fn pool(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2]) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as MaxPoolNhwc>::max_pool2d_nhwc(
        x.into_dispatch(),
        kernel,
        stride,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d::tests::{devices, values};
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::Distribution;

    #[test]
    fn forward_and_gradient_match_burns_max_pooling() {
        let cases = [
            ([2, 6, 6, 3], [2, 2], [2, 2]),
            ([3, 7, 5, 2], [2, 2], [2, 2]),
            ([2, 7, 7, 4], [3, 3], [2, 2]),
            ([1, 5, 6, 1], [2, 3], [1, 1]),
            ([2, 8, 7, 5], [2, 2], [3, 3]),
            ([2, 9, 9, 37], [2, 2], [2, 2]),
            ([2, 6, 7, 3], [1, 1], [2, 3]),
        ];
        for device in devices() {
            let device = device.autodiff();
            for (dims, kernel, stride) in cases {
                let x = Tensor::<4>::random(dims, Distribution::Default, &device).require_grad();
                let ours = max_pool2d_nhwc(x.clone(), kernel, stride).unwrap();
                let pool = MaxPool2dConfig::new(kernel).with_strides(stride).init();
                let burn = pool
                    .forward(x.clone().permute([0, 3, 1, 2]))
                    .permute([0, 2, 3, 1]);
                let case = format!("{device:?} {dims:?} kernel {kernel:?} stride {stride:?}");
                assert_eq!(ours.dims(), burn.dims(), "{case}");
                let d: f32 = (ours.clone() - burn.clone()).abs().max().into_scalar();
                assert!(d == 0.0, "{case}: outputs differ by {d}");
                let g = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
                let ours = x.grad(&(ours * g.clone()).sum().backward()).unwrap();
                let burn = x.grad(&(burn * g).sum().backward()).unwrap();
                let d: f32 = (ours - burn).abs().max().into_scalar();
                assert!(d < 1e-6, "{case}: gradients differ by {d}");
            }
        }
    }

    #[test]
    fn a_tie_sends_the_gradient_to_the_first_largest_input() {
        for device in devices() {
            let device = device.autodiff();
            let x = Tensor::<4>::from_floats([[[[2.0], [2.0]], [[1.0], [2.0]]]], &device)
                .require_grad();
            let grads = max_pool2d_nhwc(x.clone(), [2, 2], [2, 2])
                .unwrap()
                .sum()
                .backward();
            let dx = values(x.grad(&grads).unwrap());
            assert_eq!(dx, [1.0, 0.0, 0.0, 0.0], "{device:?}");
        }
    }
}
