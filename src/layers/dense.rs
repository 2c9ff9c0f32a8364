//! `Dense`: a fully connected layer on the last axis.

use crate::error::{Error, Result};
use crate::graph::{Logits, Value, map_value};
use crate::layers::config::{Call, Torch, TorchModule, TorchTensor, name_field};
use crate::layers::module::{kernel_and_bias, kernel_and_bias_ids, reload, set_bias};
use crate::layers::{Activation, BuiltLayer, Initializer, LayerConfig, WeightSpecs};
use crate::ops::project;
use crate::shape::Shape;
use burn::module::Module;
use burn::module::ParamId;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{ArrayD, Axis};
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
    ///
    /// ReLU runs inside the product's own pass over the output ([`crate::ops::dense_relu`]).
    pub(crate) fn forward(&self, x: Value) -> (Value, Option<Logits>) {
        let fused = self.activation == Activation::Relu;
        let z = map_value!(x, t => self.project(t, fused));
        if fused {
            return (z, None);
        }
        let logits = Logits::of(self.activation, &z);
        (self.activation.apply(z), logits)
    }

    /// `x · kernel + bias` on the last axis of `x`, through ReLU when `relu` is set: the
    /// leading axes fold into rows (a free reshape of a contiguous tensor).
    fn project<const D: usize>(&self, x: Tensor<D>, relu: bool) -> Tensor<D> {
        let mut dims = x.dims();
        let inputs = dims[D - 1];
        let rows = dims[..D - 1].iter().product();
        let kernel = self.linear.weight.val();
        dims[D - 1] = kernel.dims()[1];
        let bias = match &self.linear.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([dims[D - 1]], &x.device()),
        };
        project(x.reshape([rows, inputs]), kernel, bias, relu).reshape(dims)
    }
}

impl LayerConfig for Dense {
    const CLASS_NAME: &'static str = "Dense";
    type Module = DenseModule;
    name_field!(name);

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let x = node.input(0, crate::graph::Layout::ChannelsLast);
        let kernel = node.weight("kernel")?.clone();
        let kernel = node.constant("kernel", &kernel);
        let mut y = node.op("MatMul", &[&x, &kernel], vec![]);
        if self.use_bias {
            let bias = node.weight("bias")?.clone();
            let bias = node.constant("bias", &bias);
            y = node.op("Add", &[&y, &bias], vec![]);
        }
        Ok(vec![(
            self.activation.onnx(node, y, -1),
            crate::graph::Layout::ChannelsLast,
        )])
    }

    /// Masks pass through, as in Keras.
    fn supports_masking(&self) -> bool {
        true
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Dense::output_shape(self, name, &inputs[0])
    }

    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        let fan_in = inputs[0].last().unwrap_or(0);
        weights.add_weight(
            "kernel",
            [fan_in, self.units],
            self.kernel_initializer,
            true,
        );
        if self.use_bias {
            weights.add_weight("bias", [self.units], self.bias_initializer, true);
        }
        Ok(())
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<DenseModule> {
        Ok(Dense::build(self, &inputs[0], device))
    }

    fn call(&self, m: &DenseModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
        Ok(self.call_with_logits(m, inputs, call)?.0)
    }

    fn call_with_logits(
        &self,
        m: &DenseModule,
        mut inputs: Vec<Value>,
        _: &Call,
    ) -> Result<(Value, Option<Logits>)> {
        Ok(m.forward(inputs.swap_remove(0)))
    }

    /// A `Linear` (`weight` `[out, in]`), and the activation as a second module. After a
    /// `Flatten` of a channels-last tensor, the kernel's rows are reordered to read torch's
    /// channels-first features.
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule> {
        if torch.input.rank() > 1 {
            return Err(Error::config(
                format!("layer `{}`", torch.name),
                format!(
                    "a Dense layer on input {} has no channels-first PyTorch equivalent; \
                     Flatten first or save in Keras' layout",
                    torch.input
                ),
            ));
        }
        let mut tensors = Vec::new();
        for (name, w) in weights {
            if name == "kernel" {
                let kernel = match &torch.flattened {
                    Some(shape) if shape.rank() >= 2 => {
                        let dims = shape.dims();
                        let channels = *dims.last().expect("rank checked");
                        let spatial: usize = dims[..dims.len() - 1].iter().product();
                        // torch feature (c, s) is kiln feature (s, c)
                        let order: Vec<usize> = (0..channels)
                            .flat_map(|c| (0..spatial).map(move |s| s * channels + c))
                            .collect();
                        w.select(Axis(0), &order)
                    }
                    _ => w,
                };
                let weight = kernel.t().as_standard_layout().to_owned();
                tensors.push(("weight".to_string(), TorchTensor::F32(weight)));
            } else {
                tensors.push((name, TorchTensor::F32(w)));
            }
        }
        Ok(TorchModule {
            tensors,
            modules: 1 + usize::from(self.activation != Activation::Linear),
        })
    }
}

impl BuiltLayer for DenseModule {
    fn weights(&self) -> Vec<(String, TensorData)> {
        kernel_and_bias(&self.linear.weight, &self.linear.bias, |t| t)
    }

    fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        match name {
            "kernel" => self.linear.weight = reload(&self.linear.weight, data, |t| t),
            "bias" => return set_bias(&mut self.linear.bias, data),
            _ => return false,
        }
        true
    }

    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        kernel_and_bias_ids(&mut self.linear.weight, &mut self.linear.bias)
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
        assert_eq!(d.param_count(&[Shape::new([784])]).total(), 401_920);
        assert_eq!(
            Dense::new(10)
                .output_shape("d", &Shape::new([5, 7]))
                .unwrap(),
            Shape::new([5, 10])
        );
        assert_eq!(
            Dense::new(10).param_count(&[Shape::new([5, 7])]).total(),
            80
        );
        assert_eq!(
            Dense::new(3)
                .use_bias(false)
                .param_count(&[Shape::new([4])])
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
