//! Activation functions, and the `Activation` layer that applies one.

use crate::error::Result;
use crate::graph::{Layout, Logits, Value, map_value};
use crate::layers::built::no_weights;
use crate::layers::config::{Call, ElementOrder, name_field};
use crate::layers::{LayerConfig, WeightSpecs};
use crate::shape::Shape;
use burn::module::Module;
use burn::tensor::activation as act;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// An activation function, named as in Keras (`"relu"`, `"softmax"`…).
///
/// Softmax applies over the last axis. `LeakyRelu` uses Keras' slope of 0.2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// The identity, `f(x) = x`. The default of `Dense`.
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// `exp(x) / sum(exp(x))` over the last axis.
    Softmax,
    /// The Gaussian error linear unit (exact, with erf, as Keras' default).
    Gelu,
    /// `x` for positive `x`, else `0.2 x`.
    LeakyRelu,
}

/// Keras' default negative slope of `leaky_relu`.
const LEAKY_RELU_SLOPE: f64 = 0.2;

impl Activation {
    /// The Keras name: `relu`, `softmax`…
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::Gelu => "gelu",
            Activation::LeakyRelu => "leaky_relu",
        }
    }

    /// Applies the function to a channels-first batch: softmax runs over axis 1.
    /// The activation as ONNX operators on `x`, whose channels are on `channels_axis`.
    #[cfg(feature = "onnx")]
    pub(crate) fn onnx(
        self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
        x: String,
        channels_axis: i64,
    ) -> String {
        use crate::io::onnx::OnnxAttribute::{Float, Int};
        match self {
            Activation::Linear => x,
            Activation::Relu => node.op("Relu", &[&x], vec![]),
            Activation::Sigmoid => node.op("Sigmoid", &[&x], vec![]),
            Activation::Tanh => node.op("Tanh", &[&x], vec![]),
            Activation::Softmax => node.op("Softmax", &[&x], vec![Int("axis", channels_axis)]),
            Activation::LeakyRelu => node.op(
                "LeakyRelu",
                &[&x],
                vec![Float("alpha", LEAKY_RELU_SLOPE as f32)],
            ),
            Activation::Gelu => {
                // 0.5 x (1 + erf(x / sqrt 2)): opset 17 has no Gelu
                let root2 = node.scalar("gelu_sqrt2", std::f32::consts::SQRT_2);
                let one = node.scalar("gelu_one", 1.0);
                let half = node.scalar("gelu_half", 0.5);
                let scaled = node.op("Div", &[&x, &root2], vec![]);
                let erf = node.op("Erf", &[&scaled], vec![]);
                let shifted = node.op("Add", &[&erf, &one], vec![]);
                let product = node.op("Mul", &[&x, &shifted], vec![]);
                node.op("Mul", &[&product, &half], vec![])
            }
        }
    }

    pub(crate) fn apply_channels_first(self, x: Value) -> Value {
        match self {
            Activation::Softmax => map_value!(x, t => act::softmax(t, 1)),
            other => other.apply(x),
        }
    }

    /// Applies the function to a batch.
    pub(crate) fn apply(self, x: Value) -> Value {
        match self {
            Activation::Linear => x,
            other => map_value!(x, t => other.tensor(t)),
        }
    }

    /// Applies the function to a tensor (softmax over the last axis).
    pub(crate) fn tensor<const D: usize>(self, t: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Linear => t,
            Activation::Relu => act::relu(t),
            Activation::Sigmoid => act::sigmoid(t),
            Activation::Tanh => act::tanh(t),
            Activation::Softmax => act::softmax(t, D - 1),
            Activation::Gelu => act::gelu(t),
            Activation::LeakyRelu => act::leaky_relu(t, LEAKY_RELU_SLOPE),
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "linear" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "gelu" => Activation::Gelu,
            "leaky_relu" => Activation::LeakyRelu,
            other => {
                return Err(crate::Error::config(
                    "activation",
                    format!(
                        "`{other}` is not an activation; use linear, relu, sigmoid, tanh, \
                         softmax, gelu or leaky_relu"
                    ),
                ));
            }
        })
    }
}

/// The `Activation` layer: applies an [`Activation`] to its input, shape unchanged.
///
/// ```
/// use kiln::layers::ActivationLayer;
/// use kiln::Activation;
/// let layer = ActivationLayer::new(Activation::Relu);
/// assert_eq!(layer.activation, Activation::Relu);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivationLayer {
    /// The function applied.
    pub activation: Activation,
    /// The layer's name; `activation`, `activation_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ActivationLayer {
    /// A layer applying `activation`.
    pub fn new(activation: Activation) -> Self {
        ActivationLayer {
            activation,
            name: None,
        }
    }

    /// Sets the layer's name (default: auto-numbered `activation`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape> {
        Ok(input.clone())
    }
}

impl LayerConfig for ActivationLayer {
    const CLASS_NAME: &'static str = "Activation";
    type Module = ActivationModule;
    name_field!(name);

    /// Masks pass through, as in Keras.
    fn supports_masking(&self) -> bool {
        true
    }

    fn output_shape(&self, _: &str, inputs: &[Shape]) -> Result<Shape> {
        ActivationLayer::output_shape(self, &inputs[0])
    }

    fn build(&self, _: &[Shape], _: WeightSpecs, _: &Device) -> Result<ActivationModule> {
        Ok(ActivationModule {
            activation: self.activation,
        })
    }

    /// Softmax reads the last axis, so it computes channels last; the others either way.
    fn layout(&self) -> Option<Layout> {
        (self.activation == Activation::Softmax).then_some(Layout::ChannelsLast)
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let layout = match self.activation {
            Activation::Softmax => Layout::ChannelsLast,
            _ => node.inputs()[0].layout,
        };
        let x = node.input(0, layout);
        let axis = if layout == Layout::ChannelsFirst {
            1
        } else {
            -1
        };
        Ok(vec![(self.activation.onnx(node, x, axis), layout)])
    }

    fn call(&self, m: &ActivationModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
        Ok(self.call_with_logits(m, inputs, call)?.0)
    }

    fn call_with_logits(
        &self,
        _: &ActivationModule,
        mut inputs: Vec<Value>,
        _: &Call,
    ) -> Result<(Value, Option<Logits>)> {
        let x = inputs.swap_remove(0);
        let logits = Logits::of(self.activation, &x);
        Ok((self.activation.apply(x), logits))
    }

    fn element_order(&self) -> ElementOrder {
        ElementOrder::Keeps
    }
}

/// A built `Activation` layer: no weights.
#[derive(Module, Debug)]
pub struct ActivationModule {
    #[module(skip)]
    pub(crate) activation: Activation,
}

no_weights!(ActivationModule);

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    fn run(a: Activation, xs: [f32; 3]) -> Vec<f32> {
        let device = crate::backend::test_device();
        let v = Value::R2(Tensor::<2>::from_floats([xs], &device));
        a.apply(v)
            .flatten()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn each_function_matches_its_formula() {
        let x = [-1.0f32, 0.0, 2.0];
        close(&run(Activation::Linear, x), &x);
        close(&run(Activation::Relu, x), &[0.0, 0.0, 2.0]);
        close(&run(Activation::LeakyRelu, x), &[-0.2, 0.0, 2.0]);
        let sig: Vec<f32> = x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
        close(&run(Activation::Sigmoid, x), &sig);
        let tanh: Vec<f32> = x.iter().map(|v| v.tanh()).collect();
        close(&run(Activation::Tanh, x), &tanh);
        let z: f32 = x.iter().map(|v| v.exp()).sum();
        let soft: Vec<f32> = x.iter().map(|v| v.exp() / z).collect();
        close(&run(Activation::Softmax, x), &soft);
        // gelu(x) = x * Phi(x); Phi(-1) = 0.158655, Phi(2) = 0.977250
        close(&run(Activation::Gelu, x), &[-0.158655, 0.0, 1.9545]);
    }

    #[test]
    fn names_round_trip() {
        for a in [
            Activation::Linear,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softmax,
            Activation::Gelu,
            Activation::LeakyRelu,
        ] {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
        }
        assert!("swish2".parse::<Activation>().is_err());
    }
}
