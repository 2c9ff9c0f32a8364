//! `Conv2D` and `Conv1D`: convolutions over images `(h, w, channels)` and sequences
//! `(length, channels)`, channels last as in Keras.

use crate::error::{Error, Result};
use crate::graph::{Layout, Logits, Value};
use crate::layers::config::{Call, Torch, TorchModule, TorchTensor, name_field};
use crate::layers::module::{kernel_and_bias, kernel_and_bias_ids, reload, set_bias};
use crate::layers::spatial::{IntoPair, Padding, Window, check_positive, output_sizes};
use crate::layers::{Activation, BuiltLayer, Initializer, LayerConfig, WeightSpecs};
use crate::ops::{convolve, convolve_max_pool};
use crate::shape::Shape;
use burn::module::Module;
use burn::module::ParamId;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, TensorData};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// A 2D convolution over `(height, width, channels)` images: `filters` kernels of
/// `kernel_size`, then the activation.
///
/// Defaults as in Keras: strides 1, padding "valid", dilation 1, linear activation, a bias,
/// Glorot-uniform kernel, zero bias. The kernel has `kh · kw · channels · filters` weights.
///
/// ```
/// use kiln::layers::{Conv2D, Padding};
/// let conv = kiln::layers::Conv2D::new(32, 3).strides(2).padding(Padding::Same);
/// assert_eq!(conv.kernel_size, [3, 3]);
/// assert_eq!(conv.strides, [2, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2D {
    /// The number of output channels.
    pub filters: usize,
    /// The kernel's height and width.
    pub kernel_size: [usize; 2],
    /// The step between windows (default `[1, 1]`).
    #[serde(default = "ones")]
    pub strides: [usize; 2],
    /// Border handling (default valid).
    #[serde(default)]
    pub padding: Padding,
    /// The spacing of kernel taps (default `[1, 1]`).
    #[serde(default = "ones")]
    pub dilation_rate: [usize; 2],
    /// Applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// How the kernel starts (default Glorot uniform).
    #[serde(default)]
    pub kernel_initializer: Initializer,
    /// How the bias starts (default zeros).
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// The layer's name; `conv2d`, `conv2d_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn ones() -> [usize; 2] {
    [1, 1]
}

fn yes() -> bool {
    true
}

fn zeros() -> Initializer {
    Initializer::Zeros
}

impl Conv2D {
    /// `filters` kernels of `kernel_size` (`3` or `[3, 5]`), Keras' defaults otherwise.
    pub fn new(filters: usize, kernel_size: impl IntoPair) -> Self {
        Conv2D {
            filters,
            kernel_size: kernel_size.into_pair(),
            strides: [1, 1],
            padding: Padding::Valid,
            dilation_rate: [1, 1],
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            name: None,
        }
    }

    /// Sets the strides (default 1).
    pub fn strides(mut self, strides: impl IntoPair) -> Self {
        self.strides = strides.into_pair();
        self
    }

    /// Sets the padding (default valid).
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation rate (default 1).
    pub fn dilation_rate(mut self, rate: impl IntoPair) -> Self {
        self.dilation_rate = rate.into_pair();
        self
    }

    /// Sets the activation (default linear).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets whether to add a bias (default true).
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// Sets the kernel initializer (default Glorot uniform).
    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }

    /// Sets the layer's name (default: auto-numbered `conv2d`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn windows(&self) -> [Window; 2] {
        [0, 1].map(|i| Window {
            kernel: self.kernel_size[i],
            stride: self.strides[i],
            dilation: self.dilation_rate[i],
        })
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        check_positive(layer, "filters", &[self.filters])?;
        check_positive(layer, "kernel_size", &self.kernel_size)?;
        check_positive(layer, "strides", &self.strides)?;
        check_positive(layer, "dilation_rate", &self.dilation_rate)?;
        let [h, w, _] = image(layer, input)?;
        let out = output_sizes(layer, &self.windows(), &[h, w], self.padding, input)?;
        Ok(Shape::new([out[0], out[1], self.filters]))
    }

    pub(crate) fn build(&self, input: &Shape, device: &burn::tensor::Device) -> ConvModule {
        let d = input.dims();
        let [wh, ww] = self.windows();
        let (top, bottom) = wh.pads(d[0], self.padding);
        let (left, right) = ww.pads(d[1], self.padding);
        let mut conv = Conv2dConfig::new([d[2], self.filters], self.kernel_size)
            .with_stride(self.strides)
            .with_dilation(self.dilation_rate)
            .with_padding(PaddingConfig2d::Explicit(top, left, bottom, right))
            .with_bias(false)
            .with_initializer(self.kernel_initializer.to_burn())
            .init(device);
        if self.use_bias {
            let fans = (
                d[2] * wh.kernel * ww.kernel,
                self.filters * wh.kernel * ww.kernel,
            );
            conv.bias = Some(self.bias_initializer.to_burn().init_with(
                [self.filters],
                Some(fans.0),
                Some(fans.1),
                device,
            ));
        }
        ConvModule {
            conv: ConvKind::D2(conv),
            activation: self.activation,
        }
    }
}

/// A 1D convolution over `(length, channels)` sequences; Keras' defaults, like [`Conv2D`].
///
/// ```
/// let conv = kiln::layers::Conv1D::new(16, 5);
/// assert_eq!(conv.kernel_size, 5);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv1D {
    /// The number of output channels.
    pub filters: usize,
    /// The kernel's length.
    pub kernel_size: usize,
    /// The step between windows (default 1).
    #[serde(default = "one")]
    pub strides: usize,
    /// Border handling (default valid).
    #[serde(default)]
    pub padding: Padding,
    /// The spacing of kernel taps (default 1).
    #[serde(default = "one")]
    pub dilation_rate: usize,
    /// Applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// How the kernel starts (default Glorot uniform).
    #[serde(default)]
    pub kernel_initializer: Initializer,
    /// The layer's name; `conv1d`, `conv1d_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn one() -> usize {
    1
}

impl Conv1D {
    /// `filters` kernels of length `kernel_size`, Keras' defaults otherwise.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1D {
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            dilation_rate: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            name: None,
        }
    }

    /// Sets the stride (default 1).
    pub fn strides(mut self, strides: usize) -> Self {
        self.strides = strides;
        self
    }

    /// Sets the padding (default valid).
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation rate (default 1).
    pub fn dilation_rate(mut self, rate: usize) -> Self {
        self.dilation_rate = rate;
        self
    }

    /// Sets the activation (default linear).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets whether to add a bias (default true).
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// Sets the layer's name (default: auto-numbered `conv1d`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn window(&self) -> Window {
        Window {
            kernel: self.kernel_size,
            stride: self.strides,
            dilation: self.dilation_rate,
        }
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        check_positive(
            layer,
            "filters, kernel_size, strides and dilation_rate",
            &[
                self.filters,
                self.kernel_size,
                self.strides,
                self.dilation_rate,
            ],
        )?;
        let [len, _] = sequence(layer, input)?;
        let out = output_sizes(layer, &[self.window()], &[len], self.padding, input)?;
        Ok(Shape::new([out[0], self.filters]))
    }

    pub(crate) fn build(&self, input: &Shape, device: &burn::tensor::Device) -> ConvModule {
        let d = input.dims();
        let (left, right) = self.window().pads(d[0], self.padding);
        let mut conv = Conv1dConfig::new(d[1], self.filters, self.kernel_size)
            .with_stride(self.strides)
            .with_dilation(self.dilation_rate)
            .with_padding(PaddingConfig1d::Explicit(left, right))
            .with_bias(false)
            .with_initializer(self.kernel_initializer.to_burn())
            .init(device);
        if self.use_bias {
            conv.bias = Some(Initializer::Zeros.to_burn().init([self.filters], device));
        }
        ConvModule {
            conv: ConvKind::D1(conv),
            activation: self.activation,
        }
    }
}

/// The `(height, width, channels)` of an image input, or a shape error naming the layer.
pub(crate) fn image(layer: &str, input: &Shape) -> Result<[usize; 3]> {
    match *input.dims() {
        [h, w, c] => Ok([h, w, c]),
        _ => Err(Error::Shape {
            layer: layer.into(),
            expected: "(None, height, width, channels)".into(),
            received: input.to_string(),
        }),
    }
}

/// The `(length, channels)` of a sequence input, or a shape error naming the layer.
pub(crate) fn sequence(layer: &str, input: &Shape) -> Result<[usize; 2]> {
    match *input.dims() {
        [l, c] => Ok([l, c]),
        _ => Err(Error::Shape {
            layer: layer.into(),
            expected: "(None, length, channels)".into(),
            received: input.to_string(),
        }),
    }
}

/// Burn's convolution of either rank.
#[derive(Module, Debug)]
pub enum ConvKind {
    /// Over sequences, `[batch, channels, length]`.
    D1(Conv1d),
    /// Over images, `[batch, channels, height, width]`.
    D2(Conv2d),
}

/// A built convolution: Burn's module (weights `[filters, channels, kh, kw]`) and the
/// activation. It reads and writes values in its [`layout`](ConvModule::layout).
#[derive(Module, Debug)]
pub struct ConvModule {
    /// The convolution.
    pub conv: ConvKind,
    #[module(skip)]
    activation: Activation,
}

impl ConvModule {
    /// The layout the convolution reads and writes: channels last, as kiln's own operation
    /// ([`conv2d_nhwc`](crate::ops::conv2d_nhwc)) computes both ranks.
    pub(crate) fn layout(&self) -> Layout {
        Layout::ChannelsLast
    }

    /// The output for `x` in [`layout`](Self::layout), and the logits of a softmax or sigmoid.
    pub(crate) fn forward(&self, x: Value) -> Result<(Value, Option<Logits>)> {
        // the convolution fuses ReLU into its own pass over the output
        let fused = self.activation == Activation::Relu;
        let z = match (&self.conv, x) {
            (ConvKind::D1(c), Value::R3(t)) => Value::R3(conv1d_channels_last(c, t, fused)),
            (ConvKind::D2(c), Value::R4(t)) => Value::R4(conv2d_channels_last(c, t, fused, None)),
            (_, x) => {
                return Err(Value::rank_mismatch(
                    "convolution",
                    "the rank the convolution was built for",
                    &x,
                ));
            }
        };
        if fused {
            return Ok((z, None));
        }
        let logits = Logits::of(self.activation, &z);
        let out = match self.layout() {
            Layout::ChannelsFirst => self.activation.apply_channels_first(z),
            Layout::ChannelsLast => self.activation.apply(z),
        };
        Ok((out, logits))
    }

    /// For inference, the output for `x` max-pooled by `pool` windows `pool` apart without
    /// padding, in one pass ([`convolve_max_pool`](crate::ops::convolve_max_pool)): what
    /// a `MaxPooling2D` reading this layer alone computes from its output. `None` where the
    /// activation is neither ReLU nor linear, or the layer is not a 2D convolution of `x`.
    pub(crate) fn forward_max_pooled(&self, x: &Value, pool: [usize; 2]) -> Option<Value> {
        let relu = match self.activation {
            Activation::Relu => true,
            Activation::Linear => false,
            _ => return None,
        };
        match (&self.conv, x) {
            (ConvKind::D2(c), Value::R4(t)) => Some(Value::R4(conv2d_channels_last(
                c,
                t.clone(),
                relu,
                Some(pool),
            ))),
            _ => None,
        }
    }
}

/// Burn's `Conv2d` module applied to a channels-last batch `[batch, h, w, channels]` by kiln's
/// convolution ([`conv2d_nhwc`](crate::ops::conv2d_nhwc), or its ReLU form when `relu`), which gives
/// `[batch, oh, ow, filters]`; then max-pooled by `pool` windows `pool` apart when given.
///
/// kiln builds its convolutions with explicit padding (Keras' "same" computed from the input
/// size); a module built elsewhere with Burn's `Same` gets the same split, the extra row or
/// column at the bottom or right.
fn conv2d_channels_last(
    c: &Conv2d,
    x: Tensor<4>,
    relu: bool,
    pool: Option<[usize; 2]>,
) -> Tensor<4> {
    let [_, h, w, _] = x.dims();
    let same = |i: usize, size: usize| {
        let span = c.dilation[i] * (c.kernel_size[i] - 1) + 1;
        let total = ((size.div_ceil(c.stride[i]) - 1) * c.stride[i] + span).saturating_sub(size);
        (total / 2, total - total / 2)
    };
    let padding = match c.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [same(0, h), same(1, w)],
    };
    let options = ConvOptions::new_with_padding(c.stride, padding, c.dilation, c.groups);
    let kernel = c.weight.val().permute([2, 3, 1, 0]);
    let filters = kernel.dims()[3];
    let bias = match &c.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([filters], &x.device()),
    };
    match pool {
        Some(pool) => convolve_max_pool(x, kernel, bias, options, relu, pool),
        None => convolve(x, kernel, bias, options, relu),
    }
}

/// Burn's `Conv1d` module applied to a channels-last batch `[batch, length, channels]` as a 2D
/// convolution of images one pixel high, by kiln's convolution: `[batch, out, filters]`.
fn conv1d_channels_last(c: &Conv1d, x: Tensor<3>, relu: bool) -> Tensor<3> {
    let [batch, length, channels] = x.dims();
    let (left, right) = match c.padding {
        PaddingConfig1d::Explicit(left, right) => (left, right),
        PaddingConfig1d::Valid => (0, 0),
        PaddingConfig1d::Same => {
            let span = c.dilation * (c.kernel_size - 1) + 1;
            let total = ((length.div_ceil(c.stride) - 1) * c.stride + span).saturating_sub(length);
            (total / 2, total - total / 2)
        }
    };
    let options = ConvOptions::new_with_padding(
        [1, c.stride],
        [(0, 0), (left, right)],
        [1, c.dilation],
        c.groups,
    );
    // [filters, channels, k] → [1, k, channels, filters]
    let kernel = c.weight.val().permute([2, 1, 0]).unsqueeze_dim::<4>(0);
    let filters = kernel.dims()[3];
    let bias = match &c.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([filters], &x.device()),
    };
    let x = x.reshape([batch, 1, length, channels]);
    let y = convolve(x, kernel, bias, options, relu);
    let [_, _, out, _] = y.dims();
    y.reshape([batch, out, filters])
}

/// The forward pass of a convolution: its module's, with the logits of a final softmax.
macro_rules! conv_call {
    () => {
        fn call(&self, m: &ConvModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
            Ok(self.call_with_logits(m, inputs, call)?.0)
        }

        fn call_with_logits(
            &self,
            m: &ConvModule,
            mut inputs: Vec<Value>,
            _: &Call,
        ) -> Result<(Value, Option<Logits>)> {
            m.forward(inputs.swap_remove(0))
        }
    };
}

/// Declares a convolution's `kernel` (`kernel_dims` in Keras' layout) and its bias.
fn add_kernel_and_bias(
    weights: &mut WeightSpecs,
    kernel_dims: Vec<usize>,
    config: (Initializer, bool, Initializer),
) {
    let (kernel_init, use_bias, bias_init) = config;
    // callers pass Keras' kernel dims, [k.., in, filters], built from the layer's config
    let filters = *kernel_dims.last().expect("kernels have a filter axis");
    weights.add_weight("kernel", kernel_dims, kernel_init, true);
    if use_bias {
        weights.add_weight("bias", [filters], bias_init, true);
    }
}

impl LayerConfig for Conv2D {
    const CLASS_NAME: &'static str = "Conv2D";
    type Module = ConvModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Conv2D::output_shape(self, name, &inputs[0])
    }

    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        let [kh, kw] = self.kernel_size;
        let channels = inputs[0].last().unwrap_or(0);
        add_kernel_and_bias(
            weights,
            vec![kh, kw, channels, self.filters],
            (
                self.kernel_initializer,
                self.use_bias,
                self.bias_initializer,
            ),
        );
        Ok(())
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<ConvModule> {
        Ok(Conv2D::build(self, &inputs[0], device))
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsLast)
    }

    conv_call!();

    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, _: &Torch) -> Result<TorchModule> {
        Ok(torch_conv(weights, &[3, 2, 0, 1], self.activation))
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let input = node.inputs()[0].shape.dims().to_vec();
        let x = node.input(0, Layout::ChannelsFirst);
        // Keras' [kh, kw, in, out] → ONNX's [out, in, kh, kw]
        let kernel = node
            .weight("kernel")?
            .clone()
            .permuted_axes(vec![3, 2, 0, 1]);
        let kernel = node.constant("kernel", &kernel.as_standard_layout().to_owned());
        let mut inputs = vec![x, kernel];
        if self.use_bias {
            let bias = node.weight("bias")?.clone();
            inputs.push(node.constant("bias", &bias));
        }
        let attributes =
            crate::layers::spatial::onnx_window(&self.windows(), &input[..2], self.padding, true);
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = node.op("Conv", &refs, attributes);
        Ok(vec![(
            self.activation.onnx(node, y, 1),
            Layout::ChannelsFirst,
        )])
    }
}

impl LayerConfig for Conv1D {
    const CLASS_NAME: &'static str = "Conv1D";
    type Module = ConvModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Conv1D::output_shape(self, name, &inputs[0])
    }

    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        let channels = inputs[0].last().unwrap_or(0);
        add_kernel_and_bias(
            weights,
            vec![self.kernel_size, channels, self.filters],
            (self.kernel_initializer, self.use_bias, Initializer::Zeros),
        );
        Ok(())
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<ConvModule> {
        Ok(Conv1D::build(self, &inputs[0], device))
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsLast)
    }

    conv_call!();

    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, _: &Torch) -> Result<TorchModule> {
        Ok(torch_conv(weights, &[2, 1, 0], self.activation))
    }
}

/// A convolution in PyTorch: its kernel permuted by `axes` to `[out, in, ...]`, its bias, and
/// a second module for a fused activation.
fn torch_conv(
    weights: Vec<(String, ArrayD<f32>)>,
    axes: &[usize],
    activation: Activation,
) -> TorchModule {
    let tensors = weights
        .into_iter()
        .map(|(name, w)| match name.as_str() {
            "kernel" => (
                "weight".to_string(),
                TorchTensor::F32(w.permuted_axes(IxDyn(axes)).as_standard_layout().to_owned()),
            ),
            _ => (name, TorchTensor::F32(w)),
        })
        .collect();
    TorchModule {
        tensors,
        modules: 1 + usize::from(activation != Activation::Linear),
    }
}

impl BuiltLayer for ConvModule {
    fn weights(&self) -> Vec<(String, TensorData)> {
        match &self.conv {
            ConvKind::D2(c) => kernel_and_bias(&c.weight, &c.bias, |t| t.permute([2, 3, 1, 0])),
            ConvKind::D1(c) => kernel_and_bias(&c.weight, &c.bias, |t| t.permute([2, 1, 0])),
        }
    }

    fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        match (&mut self.conv, name) {
            (ConvKind::D2(c), "kernel") => {
                c.weight = reload(&c.weight, data, |t| t.permute([3, 2, 0, 1]))
            }
            (ConvKind::D1(c), "kernel") => {
                c.weight = reload(&c.weight, data, |t| t.permute([2, 1, 0]))
            }
            (ConvKind::D2(c), "bias") => return set_bias(&mut c.bias, data),
            (ConvKind::D1(c), "bias") => return set_bias(&mut c.bias, data),
            _ => return false,
        }
        true
    }

    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        match &mut self.conv {
            ConvKind::D2(c) => kernel_and_bias_ids(&mut c.weight, &mut c.bias),
            ConvKind::D1(c) => kernel_and_bias_ids(&mut c.weight, &mut c.bias),
        }
    }
}
