//! `LayerModule`: the closed `#[derive(Module)]` enum of built layers.

use crate::graph::{Logits, Value, map_value};
use crate::layers::Activation;
use crate::layers::dense::DenseModule;
use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData};

/// A built layer: a real Burn module holding the layer's weights, if any.
#[derive(Module, Debug)]
pub enum LayerModule {
    /// A built `Dense`.
    Dense(DenseModule),
    /// A built `Dropout`.
    Dropout(burn::nn::Dropout),
    /// A layer without weights.
    Stateless(StatelessModule),
}

/// Layers without weights.
#[derive(Module, Debug)]
pub enum StatelessModule {
    /// Applies an activation.
    Activation(ActivationModule),
    /// Reshapes each sample: `Flatten` and `Reshape`.
    Reshape(ReshapeModule),
}

/// A built `Activation` layer.
#[derive(Module, Debug)]
pub struct ActivationModule {
    #[module(skip)]
    pub(crate) activation: Activation,
}

/// A built `Flatten` or `Reshape` layer.
#[derive(Module, Debug)]
pub struct ReshapeModule {
    /// The dims of one sample after the layer (batch excluded).
    #[module(skip)]
    pub(crate) dims: Vec<usize>,
}

impl LayerModule {
    /// The layer's output and, when it ends in softmax or sigmoid, the logits before it.
    pub(crate) fn forward(&self, x: Value) -> (Value, Option<Logits>) {
        match self {
            LayerModule::Dense(m) => m.forward(x),
            LayerModule::Dropout(m) => (map_value!(x, t => m.forward(t)), None),
            LayerModule::Stateless(StatelessModule::Activation(m)) => {
                let logits = Logits::of(m.activation, &x);
                (m.activation.apply(x), logits)
            }
            LayerModule::Stateless(StatelessModule::Reshape(m)) => {
                let mut full = Vec::with_capacity(m.dims.len() + 1);
                full.push(x.batch());
                full.extend_from_slice(&m.dims);
                (x.reshape(&full), None)
            }
        }
    }
}

impl LayerModule {
    /// The layer's weights, named as in Keras (`kernel`, `bias`), with their values.
    pub(crate) fn weights(&self) -> Vec<(&'static str, TensorData)> {
        match self {
            LayerModule::Dense(m) => {
                let mut w = vec![("kernel", m.linear.weight.val().to_data())];
                if let Some(b) = &m.linear.bias {
                    w.push(("bias", b.val().to_data()));
                }
                w
            }
            LayerModule::Dropout(_) | LayerModule::Stateless(_) => Vec::new(),
        }
    }

    /// Replaces the weight `name` by `data` (same shape, checked by the caller), keeping its
    /// identity for the optimizer. Returns whether the layer has such a weight.
    pub(crate) fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        match (self, name) {
            (LayerModule::Dense(m), "kernel") => {
                m.linear.weight = reload(&m.linear.weight, data);
                true
            }
            (LayerModule::Dense(m), "bias") => match &m.linear.bias {
                Some(b) => {
                    m.linear.bias = Some(reload(b, data));
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

/// `param` with new values, on its device, with its id and gradient setting.
fn reload<const D: usize>(param: &Param<Tensor<D>>, data: TensorData) -> Param<Tensor<D>> {
    let tensor = Tensor::from_data(data, &param.lazy_device());
    param.clone().transform_for_load(tensor, param.id)
}
