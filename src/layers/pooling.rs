//! Pooling over images: `MaxPooling2D`, `AveragePooling2D`, and the global poolings (the 1D
//! ones are in `pooling1d.rs`).

use crate::error::Result;
use crate::graph::{Layout, Value};
use crate::layers::built::no_weights;
use crate::layers::config::{Call, name_field};
use crate::layers::conv::image;
use crate::layers::spatial::{IntoPair, Padding, Window, check_positive, output_sizes};
use crate::layers::{LayerConfig, WeightSpecs};
use crate::ops::max_pool2d;
use crate::shape::Shape;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool1d, MaxPool2d, MaxPool2dConfig};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

/// Settings shared by the 2D poolings: window, strides (default: the window), padding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool2D {
    /// The window's height and width (default `[2, 2]`).
    pub pool_size: [usize; 2],
    /// The step between windows (default: `pool_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<[usize; 2]>,
    /// Border handling (default valid); "same" pads with values that never win the max and
    /// are left out of the average.
    #[serde(default)]
    pub padding: Padding,
    /// The layer's name; auto-numbered when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Max over windows of `(height, width, channels)` images.
///
/// ```
/// let pool = kiln::layers::MaxPooling2D::new(2);
/// assert_eq!(pool.0.pool_size, [2, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaxPooling2D(pub Pool2D);

/// Mean over windows of `(height, width, channels)` images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AveragePooling2D(pub Pool2D);

macro_rules! pool2d_builders {
    ($ty:ident, $base:literal) => {
        impl $ty {
            /// A pooling over windows of `pool_size` (`2` or `[2, 3]`), strided by the window.
            pub fn new(pool_size: impl IntoPair) -> Self {
                $ty(Pool2D {
                    pool_size: pool_size.into_pair(),
                    strides: None,
                    padding: Padding::Valid,
                    name: None,
                })
            }

            /// Sets the strides (default: the pool size).
            pub fn strides(mut self, strides: impl IntoPair) -> Self {
                self.0.strides = Some(strides.into_pair());
                self
            }

            /// Sets the padding (default valid).
            pub fn padding(mut self, padding: Padding) -> Self {
                self.0.padding = padding;
                self
            }

            #[doc = concat!("Sets the layer's name (default: auto-numbered `", $base, "`).")]
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.0.name = Some(name.into());
                self
            }
        }
    };
}
pool2d_builders!(MaxPooling2D, "max_pooling2d");
pool2d_builders!(AveragePooling2D, "average_pooling2d");

impl Pool2D {
    /// MaxPool or AveragePool (not counting the padding, as Keras) over NCHW data.
    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
        op: &str,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let input = node.inputs()[0].shape.dims().to_vec();
        let x = node.input(0, Layout::ChannelsFirst);
        let mut attributes =
            crate::layers::spatial::onnx_window(&self.windows(), &input[..2], self.padding, false);
        if op == "AveragePool" {
            attributes.push(crate::io::onnx::OnnxAttribute::Int("count_include_pad", 0));
        }
        Ok(vec![(
            node.op(op, &[&x], attributes),
            Layout::ChannelsFirst,
        )])
    }

    fn windows(&self) -> [Window; 2] {
        let strides = self.strides.unwrap_or(self.pool_size);
        [0, 1].map(|i| Window {
            kernel: self.pool_size[i],
            stride: strides[i],
            dilation: 1,
        })
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        check_positive(layer, "pool_size", &self.pool_size)?;
        check_positive(layer, "strides", &self.strides.unwrap_or(self.pool_size))?;
        let [h, w, c] = image(layer, input)?;
        let out = output_sizes(layer, &self.windows(), &[h, w], self.padding, input)?;
        Ok(Shape::new([out[0], out[1], c]))
    }

    fn padding_config(&self, input: &Shape) -> PaddingConfig2d {
        let d = input.dims();
        let [wh, ww] = self.windows();
        let (top, bottom) = wh.pads(d[0], self.padding);
        let (left, right) = ww.pads(d[1], self.padding);
        PaddingConfig2d::Explicit(top, left, bottom, right)
    }

    pub(crate) fn build_max(&self, input: &Shape) -> PoolModule {
        let strides = self.strides.unwrap_or(self.pool_size);
        PoolModule::Max2d(
            MaxPool2dConfig::new(self.pool_size)
                .with_strides(strides)
                .with_padding(self.padding_config(input))
                .init(),
        )
    }

    pub(crate) fn build_average(&self, input: &Shape) -> PoolModule {
        let strides = self.strides.unwrap_or(self.pool_size);
        PoolModule::Avg2d(
            AvgPool2dConfig::new(self.pool_size)
                .with_strides(strides)
                .with_padding(self.padding_config(input))
                .with_count_include_pad(false)
                .init(),
        )
    }
}

macro_rules! global_pooling {
    ($ty:ident, $what:literal, $base:literal) => {
        #[doc = concat!("The ", $what, " of each channel over all positions: `(h, w, c)` → `(c)`.")]
        ///
        /// ```
        #[doc = concat!("let pool = kiln::layers::", stringify!($ty), "::new();")]
        /// assert!(pool.name.is_none());
        /// ```
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct $ty {
            #[doc = concat!("The layer's name; `", $base, "`… when not set.")]
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
        }

        impl $ty {
            /// A global pooling layer.
            pub fn new() -> Self {
                Self::default()
            }

            #[doc = concat!("Sets the layer's name (default: auto-numbered `", $base, "`).")]
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }

            pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
                let [_, _, c] = image(layer, input)?;
                Ok(Shape::new([c]))
            }
        }
    };
}
global_pooling!(GlobalAveragePooling2D, "mean", "global_average_pooling2d");
global_pooling!(GlobalMaxPooling2D, "maximum", "global_max_pooling2d");

macro_rules! global_pooling_config {
    ($ty:ident, $class:literal, $reduce:ident) => {
        impl LayerConfig for $ty {
            const CLASS_NAME: &'static str = $class;
            type Module = PoolModule;
            name_field!(name);

            fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
                $ty::output_shape(self, name, &inputs[0])
            }

            fn build(&self, _: &[Shape], _: WeightSpecs, _: &Device) -> Result<PoolModule> {
                Ok(PoolModule::global(Reduce::$reduce))
            }

            #[cfg(feature = "onnx")]
            fn onnx(
                &self,
                node: &mut crate::io::onnx::OnnxNode<'_>,
            ) -> Result<Vec<(String, crate::graph::Layout)>> {
                let op = match Reduce::$reduce {
                    Reduce::Average => "GlobalAveragePool",
                    Reduce::Max => "GlobalMaxPool",
                };
                let x = node.input(0, Layout::ChannelsFirst);
                let pooled = node.op(op, &[&x], vec![]);
                let flat = node.op(
                    "Flatten",
                    &[&pooled],
                    vec![crate::io::onnx::OnnxAttribute::Int("axis", 1)],
                );
                Ok(vec![(flat, Layout::ChannelsLast)])
            }

            fn call(&self, m: &PoolModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
                m.forward(inputs.swap_remove(0))
            }
        }
    };
}
global_pooling_config!(GlobalAveragePooling2D, "GlobalAveragePooling2D", Average);
global_pooling_config!(GlobalMaxPooling2D, "GlobalMaxPooling2D", Max);

/// Which statistic a global pooling takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reduce {
    Average,
    Max,
}

/// A built pooling. It reads channels-first values.
#[derive(Module, Debug)]
pub enum PoolModule {
    /// Max over 2D windows.
    Max2d(MaxPool2d),
    /// Mean over 2D windows.
    Avg2d(AvgPool2d),
    /// Max over 1D windows.
    Max1d(MaxPool1d),
    /// Mean or max over all positions.
    Global(GlobalModule),
}

/// A built global pooling.
#[derive(Module, Debug)]
pub struct GlobalModule {
    #[module(skip)]
    reduce: Reduce,
}

impl PoolModule {
    pub(crate) fn global(reduce: Reduce) -> Self {
        PoolModule::Global(GlobalModule { reduce })
    }

    /// The window of a 2D max pooling whose windows neither overlap nor pad (the stride is the
    /// window), which kiln's executor fuses into the convolution before it in inference.
    pub(crate) fn disjoint_max_pool(&self) -> Option<[usize; 2]> {
        let PoolModule::Max2d(p) = self else {
            return None;
        };
        let unpadded = match p.padding {
            PaddingConfig2d::Valid => true,
            PaddingConfig2d::Explicit(top, left, bottom, right) => top + left + bottom + right == 0,
            _ => false,
        };
        (unpadded && p.stride == p.kernel_size).then_some(p.kernel_size)
    }

    pub(crate) fn forward(&self, x: Value) -> Result<Value> {
        Ok(match (self, x) {
            (PoolModule::Max2d(p), Value::R4(t)) => Value::R4(max_pool_channels_last(p, t)),
            (PoolModule::Avg2d(p), Value::R4(t)) => Value::R4(p.forward(t)),
            (PoolModule::Max1d(p), Value::R3(t)) => Value::R3(p.forward(t)),
            (PoolModule::Global(g), Value::R4(t)) => {
                let [b, h, w, c] = t.dims();
                let flat = t.reshape([b, h * w, c]);
                let reduced = match g.reduce {
                    Reduce::Average => flat.mean_dim(1),
                    Reduce::Max => flat.max_dim(1),
                };
                Value::R2(reduced.reshape([b, c]))
            }
            (_, x) => {
                return Err(Value::rank_mismatch(
                    "pooling",
                    "the rank the pooling was built for",
                    &x,
                ));
            }
        })
    }
}

/// Burn's `MaxPool2d` module applied to a channels-last batch by kiln's pooling
/// ([`max_pool2d_nhwc`](crate::ops::max_pool2d_nhwc)); "same" padding adds rows and columns of `-inf` first.
fn max_pool_channels_last(p: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let x = match p.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top + left + bottom + right > 0 => x
            .pad(
                [(0, 0), (top, bottom), (left, right), (0, 0)],
                PadMode::Constant(f32::NEG_INFINITY),
            ),
        _ => x,
    };
    max_pool2d(x, p.kernel_size, p.stride)
}

impl LayerConfig for MaxPooling2D {
    const CLASS_NAME: &'static str = "MaxPooling2D";
    type Module = PoolModule;
    name_field!(0.name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.0.output_shape(name, &inputs[0])
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<PoolModule> {
        Ok(self.0.build_max(&inputs[0]))
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        self.0.onnx(node, "MaxPool")
    }

    fn call(&self, m: &PoolModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        m.forward(inputs.swap_remove(0))
    }
}

impl LayerConfig for AveragePooling2D {
    const CLASS_NAME: &'static str = "AveragePooling2D";
    type Module = PoolModule;
    name_field!(0.name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.0.output_shape(name, &inputs[0])
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<PoolModule> {
        Ok(self.0.build_average(&inputs[0]))
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        self.0.onnx(node, "AveragePool")
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsFirst)
    }

    fn call(&self, m: &PoolModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        m.forward(inputs.swap_remove(0))
    }
}

no_weights!(PoolModule);
