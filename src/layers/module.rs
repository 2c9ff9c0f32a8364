//! `LayerModule`: the closed `#[derive(Module)]` enum of built layers.

use crate::graph::{Layout, Logits, Value, map_value};
use crate::layers::Activation;
use crate::layers::conv::{ConvKind, ConvModule};
use crate::layers::dense::DenseModule;
use crate::layers::dropout::DropoutModule;
use crate::layers::merge::MergeModule;
use crate::layers::nested::NestedModule;
use crate::layers::pooling::PoolModule;
use burn::module::{Module, Param, ParamId, RunningState};
use burn::nn::BatchNorm;
use burn::tensor::{Tensor, TensorData};

/// A built layer: a real Burn module holding the layer's weights, if any.
#[derive(Module, Debug)]
pub enum LayerModule {
    /// A built `Dense`.
    Dense(DenseModule),
    /// A built `Conv2D` or `Conv1D`.
    Conv(ConvModule),
    /// A built pooling.
    Pool(PoolModule),
    /// A built `BatchNormalization`.
    BatchNorm(BatchNorm),
    /// A built `Dropout`.
    Dropout(DropoutModule),
    /// A layer without weights.
    Stateless(StatelessModule),
    /// A built merge layer (`Add`, `Concatenate`…).
    Merge(MergeModule),
    /// A built model used as a layer.
    Model(NestedModule),
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
    /// The layout the layer computes in: channels last (Keras' order) for layers that read the
    /// last axis or the element order and for `Conv2D`, 2D max and global pooling (kiln's own
    /// operations), channels first (Burn's) for `Conv1D`, the other poolings and batch
    /// normalization, and either (`None`) for elementwise layers and merges.
    /// A nested model takes and gives channels last.
    pub(crate) fn layout(&self) -> Option<Layout> {
        match self {
            LayerModule::Model(_) => Some(Layout::ChannelsLast),
            LayerModule::Merge(_) => None,
            LayerModule::Conv(m) => Some(m.layout()),
            LayerModule::Pool(m) => Some(m.layout()),
            LayerModule::BatchNorm(_) => Some(Layout::ChannelsFirst),
            LayerModule::Dense(_) | LayerModule::Stateless(StatelessModule::Reshape(_)) => {
                Some(Layout::ChannelsLast)
            }
            LayerModule::Stateless(StatelessModule::Activation(m)) => {
                (m.activation == Activation::Softmax).then_some(Layout::ChannelsLast)
            }
            LayerModule::Dropout(_) => None,
        }
    }

    /// The layer's output for all its inputs, in `layout` (the layer's own
    /// [`layout`](Self::layout) when it has one), and the logits of a final softmax or sigmoid.
    pub(crate) fn call(&self, xs: Vec<Value>, layout: Layout) -> (Value, Option<Logits>) {
        match self {
            LayerModule::Merge(m) => (m.forward(xs, layout), None),
            LayerModule::Model(m) => {
                let out = m.network().forward(xs).swap_remove(0);
                (out.value, out.logits)
            }
            single => single.forward(xs.into_iter().next().expect("layers have an input")),
        }
    }

    /// The layer's output and, when it ends in softmax or sigmoid, the logits before it.
    /// `x` is in the layer's [`layout`](Self::layout); so is the output.
    pub(crate) fn forward(&self, x: Value) -> (Value, Option<Logits>) {
        match self {
            LayerModule::Merge(m) => (m.forward(vec![x], Layout::ChannelsLast), None),
            LayerModule::Model(m) => {
                let out = m.network().forward(vec![x]).swap_remove(0);
                (out.value, out.logits)
            }
            LayerModule::Dense(m) => m.forward(x),
            LayerModule::Conv(m) => m.forward(x),
            LayerModule::Pool(m) => (m.forward(x), None),
            LayerModule::BatchNorm(m) => (map_value!(x, t => m.forward(t)), None),
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

    /// The layer's weights, named and laid out as in Keras (`kernel` `[kh, kw, in, out]`,
    /// `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`); a nested model's weights are
    /// named by their inner layer (`dense/kernel`).
    pub(crate) fn weights(&self) -> Vec<(String, TensorData)> {
        if let LayerModule::Model(m) = self {
            return m.network().weight_data();
        }
        let mut w: Vec<(&'static str, TensorData)> = Vec::new();
        let bias = |b: &Option<Param<Tensor<1>>>, w: &mut Vec<_>| {
            if let Some(b) = b {
                w.push(("bias", b.val().to_data()));
            }
        };
        match self {
            LayerModule::Dense(m) => {
                w.push(("kernel", m.linear.weight.val().to_data()));
                bias(&m.linear.bias, &mut w);
            }
            LayerModule::Conv(m) => match &m.conv {
                ConvKind::D2(c) => {
                    w.push(("kernel", c.weight.val().permute([2, 3, 1, 0]).to_data()));
                    bias(&c.bias, &mut w);
                }
                ConvKind::D1(c) => {
                    w.push(("kernel", c.weight.val().permute([2, 1, 0]).to_data()));
                    bias(&c.bias, &mut w);
                }
            },
            LayerModule::BatchNorm(m) => {
                w.push(("gamma", m.gamma.val().to_data()));
                w.push(("beta", m.beta.val().to_data()));
                w.push(("moving_mean", m.running_mean.value_sync().to_data()));
                w.push(("moving_variance", m.running_var.value_sync().to_data()));
            }
            LayerModule::Pool(_)
            | LayerModule::Dropout(_)
            | LayerModule::Stateless(_)
            | LayerModule::Merge(_)
            | LayerModule::Model(_) => {}
        }
        w.into_iter().map(|(n, d)| (n.to_string(), d)).collect()
    }

    /// The identities of the layer's trainable weights (what optimizer state is keyed by),
    /// named as in [`weights`](Self::weights).
    pub(crate) fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        if let LayerModule::Model(m) = self {
            return m.network_mut().param_ids();
        }
        self.own_param_ids()
            .into_iter()
            .map(|(n, id)| (n.to_string(), id))
            .collect()
    }

    fn own_param_ids(&mut self) -> Vec<(&'static str, &mut ParamId)> {
        fn with_bias<'a, const D: usize>(
            w: &'a mut Param<Tensor<D>>,
            b: &'a mut Option<Param<Tensor<1>>>,
        ) -> Vec<(&'static str, &'a mut ParamId)> {
            let mut ids = vec![("kernel", &mut w.id)];
            if let Some(b) = b {
                ids.push(("bias", &mut b.id));
            }
            ids
        }
        match self {
            LayerModule::Dense(m) => with_bias(&mut m.linear.weight, &mut m.linear.bias),
            LayerModule::Conv(m) => match &mut m.conv {
                ConvKind::D2(c) => with_bias(&mut c.weight, &mut c.bias),
                ConvKind::D1(c) => with_bias(&mut c.weight, &mut c.bias),
            },
            LayerModule::BatchNorm(m) => vec![("gamma", &mut m.gamma.id), ("beta", &mut m.beta.id)],
            LayerModule::Pool(_)
            | LayerModule::Dropout(_)
            | LayerModule::Stateless(_)
            | LayerModule::Merge(_)
            | LayerModule::Model(_) => Vec::new(),
        }
    }

    /// Replaces the weight `name` by `data` in Keras' layout (shape checked by the caller),
    /// keeping its identity for the optimizer. Returns whether the layer has such a weight.
    pub(crate) fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        match (self, name) {
            (LayerModule::Model(m), path) => return m.network_mut().set_weight(path, data),
            (LayerModule::Dense(m), "kernel") => {
                m.linear.weight = reload(&m.linear.weight, data, |t| t)
            }
            (LayerModule::Dense(m), "bias") => return set_bias(&mut m.linear.bias, data),
            (LayerModule::Conv(m), "kernel") => match &mut m.conv {
                ConvKind::D2(c) => c.weight = reload(&c.weight, data, |t| t.permute([3, 2, 0, 1])),
                ConvKind::D1(c) => c.weight = reload(&c.weight, data, |t| t.permute([2, 1, 0])),
            },
            (LayerModule::Conv(m), "bias") => match &mut m.conv {
                ConvKind::D2(c) => return set_bias(&mut c.bias, data),
                ConvKind::D1(c) => return set_bias(&mut c.bias, data),
            },
            (LayerModule::BatchNorm(m), "gamma") => m.gamma = reload(&m.gamma, data, |t| t),
            (LayerModule::BatchNorm(m), "beta") => m.beta = reload(&m.beta, data, |t| t),
            (LayerModule::BatchNorm(m), "moving_mean") => set_running(&m.running_mean, data),
            (LayerModule::BatchNorm(m), "moving_variance") => set_running(&m.running_var, data),
            _ => return false,
        }
        true
    }
}

fn set_bias(bias: &mut Option<Param<Tensor<1>>>, data: TensorData) -> bool {
    match bias {
        Some(b) => {
            *bias = Some(reload(b, data, |t| t));
            true
        }
        None => false,
    }
}

fn set_running(state: &RunningState<Tensor<1>>, data: TensorData) {
    let device = state.value_sync().device();
    state.update(Tensor::from_data(data, &device));
    state.value_sync();
}

/// `param` with new values (mapped from Keras' layout by `layout`), on its device, with its
/// id and gradient setting.
fn reload<const D: usize>(
    param: &Param<Tensor<D>>,
    data: TensorData,
    layout: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Param<Tensor<D>> {
    let tensor = layout(Tensor::from_data(data, &param.lazy_device()));
    param.clone().transform_for_load(tensor, param.id)
}
