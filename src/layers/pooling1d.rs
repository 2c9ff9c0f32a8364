//! Poolings over sequences `(length, channels)`: `MaxPooling1D`, `AveragePooling1D`, and the
//! global poolings `GlobalAveragePooling1D`, `GlobalMaxPooling1D`.

use crate::error::{Error, Result};
use crate::graph::{Layout, Value};
use crate::layers::config::{Call, name_field};
use crate::layers::conv::sequence;
use crate::layers::spatial::{Padding, Window, check_positive, output_sizes};
use crate::layers::{LayerConfig, PoolModule, WeightSpecs, Weights};
use crate::shape::Shape;
use burn::nn::pool::{AvgPool2dConfig, MaxPool1dConfig};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// A pooling over windows of `(length, channels)` sequences, with Keras' settings.
macro_rules! pool1d {
    ($(#[$doc:meta])* $ty:ident, $base:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $ty {
            /// The window's length.
            pub pool_size: usize,
            /// The step between windows (default: `pool_size`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub strides: Option<usize>,
            /// Border handling (default valid).
            #[serde(default)]
            pub padding: Padding,
            #[doc = concat!("The layer's name; `", $base, "`… when not set.")]
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
        }

        impl $ty {
            /// A pooling over windows of `pool_size`, strided by the window.
            pub fn new(pool_size: usize) -> Self {
                $ty {
                    pool_size,
                    strides: None,
                    padding: Padding::Valid,
                    name: None,
                }
            }

            /// Sets the stride (default: the pool size).
            pub fn strides(mut self, strides: usize) -> Self {
                self.strides = Some(strides);
                self
            }

            /// Sets the padding (default valid).
            pub fn padding(mut self, padding: Padding) -> Self {
                self.padding = padding;
                self
            }

            #[doc = concat!("Sets the layer's name (default: auto-numbered `", $base, "`).")]
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }

            fn window(&self) -> Window {
                Window {
                    kernel: self.pool_size,
                    stride: self.strides.unwrap_or(self.pool_size),
                    dilation: 1,
                }
            }

            fn sequence_shape(&self, name: &str, input: &Shape) -> Result<Shape> {
                let w = self.window();
                check_positive(name, "pool_size and strides", &[w.kernel, w.stride])?;
                let [len, c] = sequence(name, input)?;
                let out = output_sizes(name, &[w], &[len], self.padding, input)?;
                Ok(Shape::new([out[0], c]))
            }
        }
    };
}

pool1d!(
    /// Max over windows of `(length, channels)` sequences, as Keras' `MaxPooling1D`.
    ///
    /// ```
    /// let pool = kiln::layers::MaxPooling1D::new(2);
    /// assert_eq!(pool.pool_size, 2);
    /// ```
    MaxPooling1D,
    "max_pooling1d"
);

pool1d!(
    /// Mean over windows of `(length, channels)` sequences, as Keras' `AveragePooling1D`:
    /// windows of `pool_size`, strided by `strides` (default: the window); "same" padding
    /// leaves the padded positions out of the mean.
    ///
    /// ```
    /// let pool = kiln::layers::AveragePooling1D::new(3).strides(2);
    /// assert_eq!((pool.pool_size, pool.strides), (3, Some(2)));
    /// ```
    AveragePooling1D,
    "average_pooling1d"
);

impl LayerConfig for MaxPooling1D {
    const CLASS_NAME: &'static str = "MaxPooling1D";
    type Module = PoolModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.sequence_shape(name, &inputs[0])
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<PoolModule> {
        let w = self.window();
        let (left, right) = w.pads(inputs[0].dims()[0], self.padding);
        Ok(PoolModule::Max1d(
            MaxPool1dConfig::new(w.kernel)
                .with_stride(w.stride)
                .with_padding(PaddingConfig1d::Explicit(left, right))
                .init(),
        ))
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsFirst)
    }

    fn call(&self, m: &PoolModule, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        m.forward(inputs.swap_remove(0))
    }
}

impl LayerConfig for AveragePooling1D {
    const CLASS_NAME: &'static str = "AveragePooling1D";
    type Module = PoolModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.sequence_shape(name, &inputs[0])
    }

    /// Burn's 2D average pooling over `[batch, channels, length, 1]`, which takes Keras'
    /// uneven "same" padding and leaves padding out of the mean.
    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<PoolModule> {
        let w = self.window();
        let (left, right) = w.pads(inputs[0].dims()[0], self.padding);
        Ok(PoolModule::Avg2d(
            AvgPool2dConfig::new([w.kernel, 1])
                .with_strides([w.stride, 1])
                .with_padding(PaddingConfig2d::Explicit(left, 0, right, 0))
                .with_count_include_pad(false)
                .init(),
        ))
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsFirst)
    }

    fn call(&self, m: &PoolModule, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        match (m, inputs.swap_remove(0)) {
            (PoolModule::Avg2d(p), Value::R3(t)) => {
                let [b, c, len] = t.dims();
                let y = p.forward(t.reshape([b, c, len, 1]));
                let out = y.dims()[2];
                Ok(Value::R3(y.reshape([b, c, out])))
            }
            (_, x) => Err(Error::Shape {
                layer: call.name.into(),
                expected: "(None, length, channels)".into(),
                received: format!("{:?}", x.dims()),
            }),
        }
    }
}

macro_rules! global_pooling1d {
    ($ty:ident, $class:literal, $what:literal, $reduce:ident, $masked:literal) => {
        #[doc = concat!("The ", $what, " of each channel over all steps: `(length, c)` → `(c)`, as Keras' `", $class, "`.")]
        ///
        /// ```
        #[doc = concat!("let pool = kiln::layers::", $class, "::new();")]
        /// assert!(pool.name.is_none());
        /// ```
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            /// The layer's name; auto-numbered when not set.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
        }

        impl $ty {
            /// A global pooling layer.
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets the layer's name.
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }
        }

        impl LayerConfig for $ty {
            const CLASS_NAME: &'static str = $class;
            type Module = Weights;
            name_field!(name);

            fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
                let [_, c] = sequence(name, &inputs[0])?;
                Ok(Shape::new([c]))
            }

            fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
                let t: burn::tensor::Tensor<3> = inputs.swap_remove(0).into_tensor()?;
                let [b, _, c] = t.dims();
                if let (true, Some(mask)) = ($masked, call.mask) {
                    // Keras: the mean over the unmasked steps
                    let m = mask.clone().unsqueeze_dim::<3>(2);
                    let sum = (t * m.clone()).sum_dim(1).reshape([b, c]);
                    return Ok(Value::R2(sum / m.sum_dim(1).reshape([b, 1])));
                }
                Ok(Value::R2(t.$reduce(1).reshape([b, c])))
            }
        }
    };
}

global_pooling1d!(
    GlobalAveragePooling1D,
    "GlobalAveragePooling1D",
    "mean (over the unmasked steps, when a mask reaches it)",
    mean_dim,
    true
);
global_pooling1d!(
    GlobalMaxPooling1D,
    "GlobalMaxPooling1D",
    "maximum",
    max_dim,
    false
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;

    /// The layer's output for one `[1, len, channels]` sample given channels last.
    fn run(layer: impl Into<Layer>, len: usize, channels: usize, values: Vec<f32>) -> Vec<f32> {
        let device = crate::backend::test_device();
        let layer = layer.into();
        let shape = Shape::new([len, channels]);
        let m = layer.build(std::slice::from_ref(&shape), &device).unwrap();
        let x = Value::from_host(values, &[1, len, channels], &device).unwrap();
        let layout = layer.layout().unwrap_or(Layout::ChannelsLast);
        let x = x.relayout(Layout::ChannelsLast, layout);
        let (y, _) = layer.call(&m, vec![x], layout).unwrap();
        y.relayout(layout, Layout::ChannelsLast)
            .flatten()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn average_pooling_by_hand_valid_and_same() {
        // one channel: 1 2 3 4 5
        let x = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        // valid, window 2: [1.5, 3.5]
        assert_eq!(run(AveragePooling1D::new(2), 5, 1, x.clone()), [1.5, 3.5]);
        // same, window 2: Keras pads one step at the end and leaves it out of the mean:
        // [1.5, 3.5, 5]
        let same = AveragePooling1D::new(2).padding(Padding::Same);
        assert_eq!(run(same, 5, 1, x.clone()), [1.5, 3.5, 5.0]);
        // window 3, stride 1, same: pads one each side: [1.5, 2, 3, 4, 4.5]
        let same3 = AveragePooling1D::new(3).strides(1).padding(Padding::Same);
        assert_eq!(run(same3, 5, 1, x), [1.5, 2.0, 3.0, 4.0, 4.5]);
    }

    #[test]
    fn channels_are_pooled_apart() {
        // steps (1, 10), (3, 30): window 2 -> (2, 20)
        let y = run(AveragePooling1D::new(2), 2, 2, vec![1.0, 10.0, 3.0, 30.0]);
        assert_eq!(y, [2.0, 20.0]);
        let l: Layer = AveragePooling1D::new(2).into();
        assert_eq!(
            l.output_shape(&Shape::new([7, 3])).unwrap(),
            Shape::new([3, 3])
        );
    }

    #[test]
    fn global_poolings_by_hand() {
        // steps (1, -1), (2, 5), (6, 2)
        let x = vec![1.0, -1.0, 2.0, 5.0, 6.0, 2.0];
        assert_eq!(
            run(GlobalAveragePooling1D::new(), 3, 2, x.clone()),
            [3.0, 2.0]
        );
        assert_eq!(run(GlobalMaxPooling1D::new(), 3, 2, x), [6.0, 5.0]);
        let l: Layer = GlobalMaxPooling1D::new().into();
        assert_eq!(l.base_name(), "global_max_pooling1d");
    }

    #[test]
    fn images_are_refused_naming_the_layer() {
        for l in [
            Layer::new(AveragePooling1D::new(2).name("p")),
            Layer::new(GlobalAveragePooling1D::new().name("p")),
        ] {
            let e = l
                .output_shape(&Shape::new([4, 4, 3]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("`p`") && e.contains("length, channels"), "{e}");
        }
    }
}
