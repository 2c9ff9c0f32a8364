//! Dense: `x · kernel + bias`, optionally through ReLU, as one backend operation with its own
//! backward pass.
//!
//! Burn's `Linear` on burn-flex makes three passes and three buffers per call: the matrix
//! product (into a zeroed buffer, then copied to an aligned one), the broadcast bias, then the
//! activation; and below Burn's size threshold it multiplies on one thread, as it does for every
//! `predict` of one sample. kiln's burn-flex kernel ([`flex`](super::dense_flex)) writes each
//! block of the output once, bias first, then the product, then ReLU, while the block is in
//! cache, and splits the work between the threads by rows or, for few rows, by columns. Other
//! backends compute it with Burn's `matmul`.

// burn-ndarray is deprecated in Burn 0.22 but stays one of kiln's CPU backends.
#![cfg_attr(feature = "ndarray", allow(deprecated))]

use crate::error::{Error, Result};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

/// A fully connected layer's product, optionally followed by ReLU, and its gradients.
///
/// Shapes: `x` is `[rows, inputs]`, `weight` `[inputs, units]` (Keras' kernel layout), `bias`
/// `[units]` (zeros for a layer without one: a constant gets no gradient), and the output
/// `[rows, units]`.
///
/// The backward pass takes the gradient of the product's own output: the autodiff step of a
/// fused ReLU masks it first (`relu_backward`).
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub(crate) trait DenseOps: Backend {
    /// `x · weight + bias`, then ReLU when `relu` is set.
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        by_burn_dense::<Self>(x, weight, bias, relu)
    }

    /// The gradients of the input, the weight and the bias, each computed when its flag is set,
    /// from the gradient of the output `grad`.
    #[allow(clippy::type_complexity)] // the extension macro reads no aliases of `Self` types
    fn dense_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        wanted: [bool; 3],
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    ) {
        by_burn_dense_backward::<Self>(x, weight, grad, wanted)
    }
}

/// The gradients of [`DenseOps::dense_backward`] through Burn's `matmul` and `sum_dim`.
#[allow(clippy::type_complexity)]
pub(crate) fn by_burn_dense_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    [want_x, want_weight, want_bias]: [bool; 3],
) -> (
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
) {
    let dx = want_x.then(|| {
        let weight_t = B::float_swap_dims(weight, 0, 1);
        B::float_matmul(grad.clone(), weight_t)
    });
    let dw = want_weight.then(|| {
        let x_t = B::float_swap_dims(x, 0, 1);
        B::float_matmul(x_t, grad.clone())
    });
    let db = want_bias.then(|| {
        let units = grad.shape()[1];
        B::float_reshape(B::float_sum_dim(grad, 0), [units].into())
    });
    (dx, dw, db)
}

/// The product through Burn's `matmul`, a broadcast addition and `relu`.
pub(crate) fn by_burn_dense<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    relu: bool,
) -> FloatTensor<B> {
    let units = bias.shape()[0];
    let z = B::float_add(
        B::float_matmul(x, weight),
        B::float_reshape(bias, [1, units].into()),
    );
    if relu { B::relu(z) } else { z }
}

#[cfg(feature = "ndarray")]
impl DenseOps for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl DenseOps for burn::backend::Cube {}

/// `x · kernel + bias` over the last axis of `x`, as `Dense` computes it.
///
/// `x` is `[rows, inputs]`, `kernel` `[inputs, units]` (Keras' layout) and `bias` `[units]`;
/// the result is `[rows, units]`. On an autodiff device the gradients of all three flow back.
/// burn-flex runs kiln's own kernel; other backends run Burn's `matmul`.
///
/// Shapes that disagree are an error that names them.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
/// let kernel = Tensor::<2>::from_floats([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]], &device);
/// let bias = Tensor::<1>::from_floats([0.5, 0.0, 0.0], &device);
/// let y = kiln::ops::dense(x.clone(), kernel.clone(), bias.clone())?;
/// let values: Vec<f32> = y.into_data().to_vec().unwrap();
/// assert_eq!(values, [1.5, 2.0, -3.0, 3.5, 4.0, -7.0]);
/// // three inputs per row, but a kernel for two
/// let wide = Tensor::<2>::ones([2, 3], &device);
/// assert!(kiln::ops::dense(wide, kernel, bias).is_err());
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn dense(x: Tensor<2>, kernel: Tensor<2>, bias: Tensor<1>) -> Result<Tensor<2>> {
    check(x.dims(), kernel.dims(), bias.dims(), "dense")?;
    Ok(project(x, kernel, bias, false))
}

/// [`dense`] followed by ReLU, in one pass over the output: what `Dense` with
/// `activation(Relu)` runs. The same as `relu(dense(..))`, gradients included (ReLU's gradient
/// at 0 is 0, as in Burn).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[1.0, -2.0]], &device);
/// let kernel = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
/// let bias = Tensor::<1>::zeros([2], &device);
/// let y = kiln::ops::dense_relu(x, kernel, bias)?;
/// assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), [1.0, 0.0]);
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn dense_relu(x: Tensor<2>, kernel: Tensor<2>, bias: Tensor<1>) -> Result<Tensor<2>> {
    check(x.dims(), kernel.dims(), bias.dims(), "dense_relu")?;
    Ok(project(x, kernel, bias, true))
}

/// Checks that the input's features, the kernel and the bias agree.
fn check(
    [_, features]: [usize; 2],
    [inputs, units]: [usize; 2],
    [b]: [usize; 1],
    op: &str,
) -> Result<()> {
    if features == inputs && b == units {
        return Ok(());
    }
    Err(Error::config(
        format!("kiln::ops::{op}"),
        format!(
            "an input of {features} features, a kernel [{inputs}, {units}] and {b} biases: the \
             kernel is [input features, units] and the bias [units]"
        ),
    ))
}

/// The product, for kiln's layers, which check these shapes when a model is built.
pub(crate) fn project(x: Tensor<2>, kernel: Tensor<2>, bias: Tensor<1>, relu: bool) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as DenseOps>::dense(
        x.into_dispatch(),
        kernel.into_dispatch(),
        bias.into_dispatch(),
        relu,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d::tests::{devices, max_diff, values};
    use burn::tensor::Distribution;

    /// `[rows, inputs, units]` that take each path of the flex kernel: one block (by rows
    /// apart for one sample), blocks of columns for few rows (by rows apart, by gemm), blocks
    /// of rows, and sizes that do not divide evenly.
    const SHAPES: [[usize; 3]; 8] = [
        [1, 3, 2],
        [1, 784, 512],
        [3, 784, 512],
        [20, 300, 200],
        [32, 784, 512],
        [500, 64, 10],
        [129, 200, 50],
        [600, 100, 70],
    ];

    #[test]
    fn forward_and_gradients_match_burns_matmul() {
        let values = Distribution::Uniform(-1.0, 1.0);
        for (device, relu) in devices()
            .into_iter()
            .flat_map(|d| [(d.clone(), false), (d, true)])
        {
            let device = device.autodiff();
            for [rows, inputs, units] in SHAPES {
                let x = Tensor::<2>::random([rows, inputs], values, &device).require_grad();
                let w = Tensor::<2>::random([inputs, units], values, &device).require_grad();
                let b = Tensor::<1>::random([units], values, &device).require_grad();
                let ours = if relu { dense_relu } else { dense };
                let ours = ours(x.clone(), w.clone(), b.clone()).unwrap();
                let burn = x.clone().matmul(w.clone()) + b.clone().unsqueeze::<2>();
                // ReLU by kiln's own mask: an output within rounding of 0 can be positive in
                // one product and not in the other, and its whole gradient then differs
                let burn = if relu {
                    burn * ours.clone().detach().greater_elem(0.0).float()
                } else {
                    burn
                };
                let case =
                    format!("{device:?} relu {relu} [{rows}, {inputs}] · [{inputs}, {units}]");
                assert_eq!(ours.dims(), burn.dims(), "{case}");
                let d = max_diff(ours.clone(), burn.clone());
                assert!(d < 1e-5, "{case}: outputs differ by {d}");
                let g = Tensor::<2>::random(ours.dims(), values, &device);
                let ours = (ours * g.clone()).sum().backward();
                let burn = (burn * g).sum().backward();
                let d = max_diff(x.grad(&ours).unwrap(), x.grad(&burn).unwrap());
                assert!(d < 1e-5, "{case}: input gradients differ by {d}");
                let d = max_diff(w.grad(&ours).unwrap(), w.grad(&burn).unwrap());
                assert!(d < 1e-5, "{case}: kernel gradients differ by {d}");
                let d = max_diff(b.grad(&ours).unwrap(), b.grad(&burn).unwrap());
                assert!(d < 1e-5, "{case}: bias gradients differ by {d}");
            }
        }
    }

    #[test]
    fn inference_matches_burns_matmul() {
        // outside autodiff burn-flex multiplies from packed panels: by panels for few rows,
        // by halves of the rows, or by blocks of 48 rows claimed by the threads (200 rows)
        let values = Distribution::Uniform(-1.0, 1.0);
        for device in devices() {
            for [rows, inputs, units] in SHAPES.into_iter().chain([[200, 784, 512], [1000, 30, 40]])
            {
                let x = Tensor::<2>::random([rows, inputs], values, &device);
                let w = Tensor::<2>::random([inputs, units], values, &device);
                let b = Tensor::<1>::random([units], values, &device);
                let burn =
                    (x.clone().matmul(w.clone()) + b.clone().unsqueeze::<2>()).clamp_min(0.0);
                // twice: the second call multiplies from the panels kept from the first
                for call in 0..2 {
                    let ours = dense_relu(x.clone(), w.clone(), b.clone()).unwrap();
                    let d = max_diff(ours, burn.clone());
                    let case = format!("{device:?} [{rows}, {inputs}] · [{inputs}, {units}]");
                    assert!(d < 1e-4, "{case}, call {call}: outputs differ by {d}");
                }
            }
        }
    }

    #[test]
    fn a_hand_computed_product_without_autodiff_and_a_frozen_input() {
        for device in devices() {
            // [[1, 2], [3, 4]] · [[1, 0, -1], [0, 1, -1]] + [0.5, 0, 0], through ReLU
            let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, -4.0]], &device);
            let w = Tensor::<2>::from_floats([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]], &device);
            let b = Tensor::<1>::from_floats([0.5, 0.0, 0.0], &device);
            let y = dense_relu(x.clone(), w.clone(), b.clone()).unwrap();
            assert_eq!(values(y), [1.5, 2.0, 0.0, 3.5, 0.0, 1.0], "{device:?}");
            let ad = device.clone().autodiff();
            let x = Tensor::<2>::from_data(x.into_data(), &ad);
            let w = Tensor::<2>::from_data(w.into_data(), &ad).require_grad();
            let zeros = Tensor::zeros([3], &ad);
            let grads = dense(x.clone(), w.clone(), zeros.clone())
                .unwrap()
                .sum()
                .backward();
            assert!(x.grad(&grads).is_none());
            assert!(zeros.grad(&grads).is_none());
            // d(sum)/d(kernel[i][j]) = the column sums of x: [4, -2] for every unit
            let dw = w.grad(&grads).unwrap();
            assert_eq!(values(dw), [4.0, 4.0, 4.0, -2.0, -2.0, -2.0], "{device:?}");
        }
    }

    #[test]
    fn relu_keeps_nan() {
        for device in devices() {
            // a NaN bias, so that only its own unit is NaN (a NaN input reaches every unit)
            let x = Tensor::<2>::from_floats([[0.0, 1.0, -1.0]], &device);
            let eye = Tensor::<2>::from_floats(
                [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                &device,
            );
            let bias = Tensor::<1>::from_floats([f32::NAN, 0.0, 0.0], &device);
            let y = values(dense_relu(x, eye, bias).unwrap());
            assert!(y[0].is_nan(), "{device:?}");
            assert_eq!(y[1..], [1.0, 0.0], "{device:?}");
        }
    }

    #[test]
    fn shapes_that_disagree_are_named() {
        let device = devices().remove(0);
        let err = dense(
            Tensor::ones([2, 4], &device),
            Tensor::ones([3, 5], &device),
            Tensor::zeros([5], &device),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("kiln::ops::dense") && err.contains("4 features"),
            "{err}"
        );
        let err = dense_relu(
            Tensor::ones([2, 3], &device),
            Tensor::ones([3, 5], &device),
            Tensor::zeros([4], &device),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("4 biases"), "{err}");
    }
}
