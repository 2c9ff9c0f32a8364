//! Conv2D on channels-last images, as one backend operation with its own backward pass.
//!
//! Burn's `conv2d` takes channels-first images and, on burn-flex, spends most of a CNN step
//! outside its matrix products: a serial layout change per call, and a weight gradient computed
//! as a convolution whose "batch" is the input's channels (one task for a one-channel input).
//! kiln's convolution reads and writes `[batch, height, width, channels]`, the order Keras
//! users pass, so an im2col row is a run of whole pixels and the output of one matrix product
//! is the output itself. burn-flex gets kernels of its own ([`flex`](super::conv2d_flex));
//! other backends compute it with Burn's convolution between two permutations.

// burn-ndarray is deprecated in Burn 0.22 but stays one of kiln's CPU backends.
#![cfg_attr(feature = "ndarray", allow(deprecated))]

use super::max_pool2d::by_burn_max_pool;
use crate::error::{Error, Result};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

/// A 2D convolution over channels-last images, optionally followed by ReLU, and its gradients.
///
/// Shapes: `x` is `[batch, height, width, channels]`, `weight` `[kh, kw, channels, filters]`
/// (Keras' kernel layout), `bias` `[filters]` (zeros for a layer without one: a constant gets
/// no gradient), and the output `[batch, oh, ow, filters]`. `options.groups` must be 1.
///
/// The backward pass takes the gradient of the layer's output and, with a fused ReLU, that
/// output, which masks the gradient (`relu_backward`) before the convolution's own gradients.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub(crate) trait ConvNhwc: Backend {
    /// The convolution of `x` by `weight`, plus `bias`, then ReLU when `relu` is set.
    fn conv2d_nhwc(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let out = by_burn_conv2d::<Self>(x, weight, bias, options);
        if relu { Self::relu(out) } else { out }
    }

    /// The gradients of the input, the weight and the bias, each computed when its flag is set,
    /// from the gradient of the output `grad`.
    #[allow(clippy::type_complexity)] // the extension macro reads no aliases of `Self` types
    fn conv2d_nhwc_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        wanted: [bool; 3],
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    ) {
        backward_by_burn::<Self>(x, weight, grad, options, wanted)
    }

    /// The same with a fused ReLU: `output`, the layer's output, masks `grad` first.
    #[allow(clippy::type_complexity)] // the extension macro reads no aliases of `Self` types
    fn conv2d_nhwc_relu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        output: FloatTensor<Self>,
        options: ConvOptions<2>,
        wanted: [bool; 3],
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    ) {
        let grad = Self::relu_backward(output, grad);
        Self::conv2d_nhwc_backward(x, weight, grad, options, wanted)
    }

    /// The convolution (then ReLU when `relu` is set), then max pooling by `pool` windows
    /// `pool` apart without padding: `[batch, oh / ph, ow / pw, filters]` (rounded down). For
    /// inference: no gradient is kept. The values are the convolution's then the pooling's.
    fn conv2d_nhwc_max_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
        pool: [usize; 2],
    ) -> FloatTensor<Self> {
        let out = Self::conv2d_nhwc(x, weight, bias, options, relu);
        by_burn_max_pool::<Self>(out, pool, pool)
    }
}

/// The gradients of a convolution's input, kernel and bias, each when it was wanted.
pub(crate) type Gradients<B> = (
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
);

/// The convolution through Burn's channels-first `conv2d`.
pub(crate) fn by_burn_conv2d<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    options: ConvOptions<2>,
) -> FloatTensor<B> {
    let x = B::float_permute(x, &[0, 3, 1, 2]);
    let weight = B::float_permute(weight, &[3, 2, 0, 1]);
    B::float_permute(B::conv2d(x, weight, Some(bias), options), &[0, 2, 3, 1])
}

/// The gradients through Burn's channels-first backward operations.
pub(crate) fn backward_by_burn<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    options: ConvOptions<2>,
    [want_x, want_weight, want_bias]: [bool; 3],
) -> Gradients<B> {
    let x = B::float_permute(x, &[0, 3, 1, 2]);
    let weight = B::float_permute(weight, &[3, 2, 0, 1]);
    let grad = B::float_permute(grad, &[0, 3, 1, 2]);
    let dx = want_x.then(|| {
        let dx = B::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
        B::float_permute(dx, &[0, 2, 3, 1])
    });
    let db = want_bias.then(|| {
        let g = B::float_sum_dim(B::float_sum_dim(grad.clone(), 3), 2);
        let g = B::float_sum_dim(g, 0);
        let filters = g.shape().num_elements();
        B::float_reshape(g, [filters].into())
    });
    let dw = want_weight.then(|| {
        let dw = B::conv2d_weight_backward(x, weight, grad, options);
        B::float_permute(dw, &[2, 3, 1, 0])
    });
    (dx, dw, db)
}

#[cfg(feature = "ndarray")]
impl ConvNhwc for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl ConvNhwc for burn::backend::Cube {}

/// A 2D convolution of channels-last images, as `Conv2D` computes it.
///
/// `x` is `[batch, height, width, channels]`, `kernel` `[kh, kw, channels, filters]` (Keras'
/// layout), `bias` `[filters]`; the result is `[batch, out_h, out_w, filters]`. On an autodiff
/// device the gradients of all three flow back. burn-flex runs kiln's own kernels; other
/// backends run Burn's `conv2d` between two permutations.
///
/// Shapes that disagree (channels, filters, a kernel larger than the padded input), a zero
/// stride or dilation, or `options.groups` other than 1 are an error.
///
/// ```
/// use burn::tensor::{Device, Tensor, ops::ConvOptions};
/// let device = Device::flex();
/// let x = Tensor::<4>::ones([1, 4, 4, 1], &device);
/// let kernel = Tensor::<4>::ones([3, 3, 1, 2], &device);
/// let bias = Tensor::<1>::from_floats([0.0, 1.0], &device);
/// let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
/// let y = kiln::ops::conv2d_nhwc(x.clone(), kernel.clone(), bias.clone(), options.clone())?;
/// assert_eq!(y.dims(), [1, 2, 2, 2]);
/// let values: Vec<f32> = y.into_data().to_vec().unwrap();
/// assert_eq!(values, [9.0, 10.0, 9.0, 10.0, 9.0, 10.0, 9.0, 10.0]);
/// // a 3×3 kernel over a 2×2 image
/// let small = Tensor::<4>::ones([1, 2, 2, 1], &device);
/// assert!(kiln::ops::conv2d_nhwc(small, kernel, bias, options).is_err());
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn conv2d_nhwc(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
) -> Result<Tensor<4>> {
    check(
        x.dims(),
        weight.dims(),
        bias.dims(),
        &options,
        "conv2d_nhwc",
    )?;
    Ok(convolve(x, weight, bias, options, false))
}

/// [`conv2d_nhwc`] followed by ReLU, in one pass over the output: what `Conv2D` with
/// `activation(Relu)` runs. The same as `relu(conv2d_nhwc(..))`, gradients included (ReLU's
/// gradient at 0 is 0, as in Burn).
///
/// ```
/// use burn::tensor::{Device, Tensor, ops::ConvOptions};
///
/// let device = Device::flex();
/// let x = Tensor::<4>::from_floats([[[[1.0], [-2.0]], [[3.0], [-4.0]]]], &device);
/// let kernel = Tensor::<4>::ones([1, 1, 1, 1], &device);
/// let bias = Tensor::<1>::zeros([1], &device);
/// let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
/// let y = kiln::ops::conv2d_nhwc_relu(x, kernel, bias, options)?;
/// assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), [1.0, 0.0, 3.0, 0.0]);
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn conv2d_nhwc_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
) -> Result<Tensor<4>> {
    check(
        x.dims(),
        weight.dims(),
        bias.dims(),
        &options,
        "conv2d_nhwc_relu",
    )?;
    Ok(convolve(x, weight, bias, options, true))
}

/// Checks what the kernels assume of the shapes and options.
fn check(
    [_, h, w, c]: [usize; 4],
    [kh, kw, kc, filters]: [usize; 4],
    [b]: [usize; 1],
    options: &ConvOptions<2>,
    op: &str,
) -> Result<()> {
    let what = format!("kiln::ops::{op}");
    let bad = |message: String| Err(Error::config(what.clone(), message));
    if options.groups != 1 {
        return bad(format!("groups {} (only 1 is supported)", options.groups));
    }
    if kc != c || b != filters {
        return bad(format!(
            "an input of {c} channels, a kernel [{kh}, {kw}, {kc}, {filters}] and {b} biases: \
             the kernel is [height, width, input channels, filters] and the bias [filters]"
        ));
    }
    for (axis, (size, k)) in [(h, kh), (w, kw)].into_iter().enumerate() {
        let (stride, dilation) = (options.stride[axis], options.dilation[axis]);
        let (before, after) = options.padding[axis];
        if k == 0 || stride == 0 || dilation == 0 {
            return bad(format!(
                "kernel size {k}, stride {stride} and dilation {dilation} on axis {axis}: each \
                 must be at least 1"
            ));
        }
        let span = (k - 1).checked_mul(dilation).and_then(|s| s.checked_add(1));
        let padded = size.checked_add(before).and_then(|s| s.checked_add(after));
        if span.zip(padded).is_none_or(|(span, padded)| span > padded) {
            return bad(format!(
                "a kernel of {k} (dilation {dilation}) is larger than the input's {size} plus its \
                 padding ({before}, {after}) on axis {axis}"
            ));
        }
    }
    Ok(())
}

/// The convolution then max pooling by `pool` windows `pool` apart, for kiln's executor,
/// which fuses a Conv2D and the MaxPooling2D reading it in inference.
pub(crate) fn convolve_max_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
    relu: bool,
    pool: [usize; 2],
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvNhwc>::conv2d_nhwc_max_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
        relu,
        pool,
    ))
}

/// The convolution, for kiln's layers, which check these shapes when a model is built.
pub(crate) fn convolve(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
    relu: bool,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvNhwc>::conv2d_nhwc(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
        relu,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::module::conv2d;
    use burn::tensor::{Device, Distribution, activation};

    /// `(input [n, h, w, c], filters, kernel, stride, dilation, padding (top, bottom, left,
    /// right), bias)`: strides, dilation, asymmetric "same" padding, one channel, no bias; the
    /// last is large enough for the flex kernel's forward pass to use the pool.
    type Case = (
        [usize; 4],
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 2],
        [usize; 4],
        bool,
    );
    const CASES: [Case; 8] = [
        ([3, 7, 6, 2], 4, [3, 3], [1, 1], [1, 1], [0; 4], true),
        ([2, 9, 8, 1], 3, [3, 2], [2, 1], [1, 1], [0; 4], true),
        ([2, 8, 8, 3], 5, [2, 2], [1, 1], [1, 1], [0, 1, 0, 1], false),
        ([1, 9, 7, 2], 2, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], true),
        ([2, 10, 9, 3], 2, [3, 2], [1, 1], [2, 2], [0; 4], true),
        (
            [600, 5, 5, 2],
            3,
            [3, 3],
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            true,
        ),
        ([40, 12, 12, 8], 16, [3, 3], [1, 1], [1, 1], [0; 4], true),
        // a thin patch (9 values), padded, with a whole block of 16 filters and 4 more
        ([3, 9, 8, 1], 20, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], true),
    ];

    /// The CPU backends compiled in.
    pub(crate) fn devices() -> Vec<Device> {
        vec![
            #[cfg(feature = "flex")]
            Device::flex(),
            #[cfg(feature = "ndarray")]
            Device::ndarray(),
        ]
    }

    /// The values of `t`, in order.
    pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The largest difference between `a` and the reference `b`, relative to `b`'s largest value
    /// (at least 1): sums over thousands of terms round differently in another order.
    pub(crate) fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale: f32 = b.clone().abs().max().into_scalar();
        (a - b).abs().max().into_scalar::<f32>() / scale.max(1.0)
    }

    #[test]
    fn forward_and_gradients_match_burns_channels_first_convolution() {
        // values of both signs, so that the fused ReLU cuts about half the outputs
        let values = Distribution::Uniform(-1.0, 1.0);
        for (device, relu) in devices()
            .into_iter()
            .flat_map(|d| [(d.clone(), false), (d, true)])
        {
            let device = device.autodiff();
            for (dims, filters, kernel, stride, dilation, [t, b, l, r], with_bias) in CASES {
                let options = ConvOptions::new_with_padding(stride, [(t, b), (l, r)], dilation, 1);
                let x = Tensor::<4>::random(dims, values, &device).require_grad();
                let shape = [kernel[0], kernel[1], dims[3], filters];
                let w = Tensor::<4>::random(shape, values, &device).require_grad();
                let bias = with_bias.then(|| {
                    Tensor::<1>::random([filters], Distribution::Default, &device).require_grad()
                });
                let zeros = Tensor::zeros([filters], &device);
                let ours = if relu { conv2d_nhwc_relu } else { conv2d_nhwc };
                let ours = ours(
                    x.clone(),
                    w.clone(),
                    bias.clone().unwrap_or(zeros),
                    options.clone(),
                )
                .unwrap();
                let burn = conv2d(
                    x.clone().permute([0, 3, 1, 2]),
                    w.clone().permute([3, 2, 0, 1]),
                    bias.clone(),
                    options,
                )
                .permute([0, 2, 3, 1]);
                // ReLU by kiln's own mask: an output within rounding of 0 can be positive in
                // one convolution and not in the other, and its whole gradient then differs
                // (about one run in fifty, on random inputs)
                let burn = if relu {
                    burn * ours.clone().detach().greater_elem(0.0).float()
                } else {
                    burn
                };
                let case =
                    format!("{device:?} relu {relu} {dims:?} kernel {kernel:?} stride {stride:?}");
                assert_eq!(ours.dims(), burn.dims(), "{case}");
                let d = max_diff(ours.clone(), burn.clone());
                assert!(d < 1e-5, "{case}: outputs differ by {d}");
                let g = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
                let ours = (ours * g.clone()).sum().backward();
                let burn = (burn * g).sum().backward();
                let pairs = [(&x, "input"), (&w, "kernel")];
                for (t, name) in pairs {
                    let d = max_diff(t.grad(&ours).unwrap(), t.grad(&burn).unwrap());
                    assert!(d < 1e-5, "{case}: {name} gradients differ by {d}");
                }
                if let Some(bias) = bias {
                    let d = max_diff(bias.grad(&ours).unwrap(), bias.grad(&burn).unwrap());
                    assert!(d < 1e-5, "{case}: bias gradients differ by {d}");
                }
            }
        }
    }

    #[test]
    fn inference_matches_burns_channels_first_convolution() {
        // outside autodiff, burn-flex multiplies by the kernel packed once, reading unpadded
        // patches in place: strided, dilated, padded at one end only, thin
        let values = Distribution::Uniform(-1.0, 1.0);
        let across: [Case; 2] = [
            // strided and dilated across only, 40 filters (a panel and a part of one)
            ([2, 9, 11, 3], 5, [3, 3], [1, 2], [1, 1], [0; 4], true),
            ([1, 8, 9, 2], 40, [2, 3], [1, 1], [1, 2], [0; 4], true),
        ];
        for device in devices() {
            for (dims, filters, kernel, stride, dilation, [t, b, l, r], _) in
                CASES.into_iter().chain(across)
            {
                let options = ConvOptions::new_with_padding(stride, [(t, b), (l, r)], dilation, 1);
                let x = Tensor::<4>::random(dims, values, &device);
                let w =
                    Tensor::<4>::random([kernel[0], kernel[1], dims[3], filters], values, &device);
                let bias = Tensor::<1>::random([filters], values, &device);
                let burn = conv2d(
                    x.clone().permute([0, 3, 1, 2]),
                    w.clone().permute([3, 2, 0, 1]),
                    Some(bias.clone()),
                    options.clone(),
                )
                .permute([0, 2, 3, 1]);
                // twice: the second call multiplies by the kept packed kernel
                for call in 0..2 {
                    let ours =
                        conv2d_nhwc_relu(x.clone(), w.clone(), bias.clone(), options.clone())
                            .unwrap();
                    let want = activation::relu(burn.clone());
                    let case = format!(
                        "{device:?} {dims:?} kernel {kernel:?} stride {stride:?} dilation {dilation:?} call {call}"
                    );
                    assert_eq!(ours.dims(), want.dims(), "{case}");
                    let d = max_diff(ours, want);
                    assert!(d < 1e-5, "{case}: outputs differ by {d}");
                }
            }
        }
    }

    #[test]
    fn a_frozen_input_gets_no_gradient_and_inference_needs_no_autodiff() {
        for device in devices() {
            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            let x = Tensor::<4>::random([2, 5, 5, 1], Distribution::Default, &device);
            let w = Tensor::<4>::random([3, 3, 1, 2], Distribution::Default, &device);
            let y = conv2d_nhwc(
                x.clone(),
                w.clone(),
                Tensor::zeros([2], &device),
                options.clone(),
            )
            .unwrap();
            assert_eq!(y.dims(), [2, 3, 3, 2]);
            let ad = device.clone().autodiff();
            let x = Tensor::<4>::from_data(x.into_data(), &ad);
            let w = Tensor::<4>::from_data(w.into_data(), &ad).require_grad();
            let zeros = Tensor::zeros([2], &ad);
            let grads = conv2d_nhwc(x.clone(), w.clone(), zeros.clone(), options)
                .unwrap()
                .sum()
                .backward();
            assert!(x.grad(&grads).is_none());
            assert!(zeros.grad(&grads).is_none());
            assert_eq!(w.grad(&grads).unwrap().dims(), [3, 3, 1, 2]);
        }
    }
}
