//! `Dense`: a fully connected layer on the last axis.

use crate::error::{Error, Result};
use crate::graph::{Logits, Value, map_value};
use crate::layers::{Activation, Initializer, ParamCount};
use crate::shape::Shape;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use serde::{Deserialize, Serialize};

/// A fully connected layer: `activation(x · kernel + bias)` on the last axis.
///
/// The kernel is `[input features, units]`, as in Keras. Defaults: linear activation, a bias,
/// Glorot-uniform kernel, zero bias.
///
/// ```
/// use kiln::layers::Dense;
/// use kiln::Activation;
/// let layer = Dense::new(512).activation(Activation::Relu);
/// assert_eq!(layer.units, 512);
/// assert!(layer.use_bias);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// The number of output features.
    pub units: usize,
    /// Applied to the output (default `linear`).
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias (default `true`).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// How the kernel starts (default Glorot uniform).
    #[serde(default)]
    pub kernel_initializer: Initializer,
    /// How the bias starts (default zeros).
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// The layer's name; `dense`, `dense_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn yes() -> bool {
    true
}

fn zeros() -> Initializer {
    Initializer::Zeros
}

impl Dense {
    /// A layer with `units` outputs and Keras' defaults.
    pub fn new(units: usize) -> Self {
        Dense {
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            name: None,
        }
    }

    /// Sets the activation (default `linear`).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets whether the layer adds a bias (default `true`).
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// Sets the kernel initializer (default Glorot uniform).
    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }

    /// Sets the bias initializer (default zeros).
    pub fn bias_initializer(mut self, init: Initializer) -> Self {
        self.bias_initializer = init;
        self
    }

    /// Sets the layer's name (default: auto-numbered `dense`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, layer: &str, input: &Shape) -> Result<Shape> {
        if self.units == 0 {
            return Err(Error::config(
                format!("layer `{layer}` (Dense)"),
                "units must be at least 1",
            ));
        }
        match input.last() {
            Some(f) if f > 0 => Ok(input.with_last(self.units)),
            _ => Err(Error::Shape {
                layer: layer.into(),
                expected: "(None, ..., features) with at least one feature".into(),
                received: input.to_string(),
            }),
        }
    }

    pub(crate) fn param_count(&self, input: &Shape) -> ParamCount {
        let fan_in = input.last().unwrap_or(0);
        let bias = if self.use_bias { self.units } else { 0 };
        ParamCount::trainable(fan_in * self.units + bias)
    }

    pub(crate) fn build(&self, input: &Shape, device: &burn::tensor::Device) -> DenseModule {
        let fan_in = input.last().unwrap_or(0);
        let mut linear = LinearConfig::new(fan_in, self.units)
            .with_bias(false)
            .with_initializer(self.kernel_initializer.to_burn())
            .init(device);
        if self.use_bias {
            let bias = self.bias_initializer.to_burn().init_with(
                [self.units],
                Some(fan_in),
                Some(self.units),
                device,
            );
            linear.bias = Some(bias);
        }
        DenseModule {
            linear,
            activation: self.activation,
        }
    }
}

/// A built [`Dense`] layer: Burn's `Linear` and the activation.
#[derive(Module, Debug)]
pub struct DenseModule {
    /// The kernel `[in, units]` and bias `[units]`.
    pub linear: Linear,
    #[module(skip)]
    activation: Activation,
}

impl DenseModule {
    /// The output and, for softmax and sigmoid outputs, the logits before the activation.
    pub(crate) fn forward(&self, x: Value) -> (Value, Option<Logits>) {
        let z = map_value!(x, t => self.linear.forward(t));
        let logits = Logits::of(self.activation, &z);
        (self.activation.apply(z), logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn shape_and_params_follow_keras() {
        let d = Dense::new(512);
        assert_eq!(
            d.output_shape("dense", &Shape::new([784])).unwrap(),
            Shape::new([512])
        );
        assert_eq!(d.param_count(&Shape::new([784])).total(), 401_920);
        assert_eq!(
            Dense::new(10)
                .output_shape("d", &Shape::new([5, 7]))
                .unwrap(),
            Shape::new([5, 10])
        );
        assert_eq!(Dense::new(10).param_count(&Shape::new([5, 7])).total(), 80);
        assert_eq!(
            Dense::new(3)
                .use_bias(false)
                .param_count(&Shape::new([4]))
                .total(),
            12
        );
    }

    #[test]
    fn zero_units_is_an_error() {
        let e = Dense::new(0)
            .output_shape("dense_2", &Shape::new([4]))
            .unwrap_err();
        assert!(e.to_string().contains("dense_2"), "{e}");
    }

    #[test]
    fn forward_is_x_kernel_plus_bias() {
        let device = crate::backend::test_device();
        let mut m = Dense::new(2)
            .activation(Activation::Relu)
            .build(&Shape::new([3]), &device);
        m.linear.weight = burn::module::Param::from_tensor(Tensor::<2>::from_floats(
            [[1.0, -1.0], [2.0, 0.5], [0.0, 1.0]],
            &device,
        ));
        m.linear.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::from_floats(
            [0.5, -10.0],
            &device,
        )));
        let x = Value::R2(Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device));
        let (y, logits) = m.forward(x);
        // z = [1 + 4 + 0 + 0.5, -1 + 1 + 3 - 10] = [5.5, -7]; relu -> [5.5, 0]
        let y: Vec<f32> = y.flatten().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![5.5, 0.0]);
        assert!(logits.is_none());
    }

    #[test]
    fn softmax_output_keeps_its_logits() {
        let device = crate::backend::test_device();
        let m = Dense::new(4)
            .activation(Activation::Softmax)
            .build(&Shape::new([3]), &device);
        let x = Value::R2(Tensor::<2>::ones([2, 3], &device));
        let (y, logits) = m.forward(x);
        assert_eq!(logits.unwrap().value.dims(), vec![2, 4]);
        let sums: Vec<f32> = y
            .flatten()
            .sum_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    }
}
