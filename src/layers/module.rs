//! Helpers shared by built layers: replacing a weight's values while keeping its identity.

use burn::module::{Param, ParamId, RunningState};
use burn::tensor::{Tensor, TensorData};

/// A kernel and an optional bias, named `kernel` and `bias`: their data in Keras' layout
/// (`kernel` mapped by `layout`).
pub(crate) fn kernel_and_bias<const D: usize>(
    kernel: &Param<Tensor<D>>,
    bias: &Option<Param<Tensor<1>>>,
    layout: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Vec<(String, TensorData)> {
    let mut w = vec![("kernel".to_string(), layout(kernel.val()).to_data())];
    if let Some(b) = bias {
        w.push(("bias".to_string(), b.val().to_data()));
    }
    w
}

/// The optimizer identities of a kernel and an optional bias.
pub(crate) fn kernel_and_bias_ids<'a, const D: usize>(
    kernel: &'a mut Param<Tensor<D>>,
    bias: &'a mut Option<Param<Tensor<1>>>,
) -> Vec<(String, &'a mut ParamId)> {
    let mut ids = vec![("kernel".to_string(), &mut kernel.id)];
    if let Some(b) = bias {
        ids.push(("bias".to_string(), &mut b.id));
    }
    ids
}

/// Replaces a bias by `data`; false when the layer has none.
pub(crate) fn set_bias(bias: &mut Option<Param<Tensor<1>>>, data: TensorData) -> bool {
    match bias {
        Some(b) => {
            *bias = Some(reload(b, data, |t| t));
            true
        }
        None => false,
    }
}

/// Replaces a running statistic by `data`.
pub(crate) fn set_running(state: &RunningState<Tensor<1>>, data: TensorData) {
    let device = state.value_sync().device();
    state.update(Tensor::from_data(data, &device));
    state.value_sync();
}

/// `param` with new values (mapped from Keras' layout by `layout`), on its device, with its
/// id and gradient setting.
pub(crate) fn reload<const D: usize>(
    param: &Param<Tensor<D>>,
    data: TensorData,
    layout: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Param<Tensor<D>> {
    let tensor = layout(Tensor::from_data(data, &param.lazy_device()));
    param.clone().transform_for_load(tensor, param.id)
}
