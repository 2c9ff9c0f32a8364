//! `BuiltLayer`: what the executor, the optimizer and the files need of a built layer.

use crate::error::{Error, Result};
use crate::layers::WeightSpecs;
use crate::layers::list::ModuleSlot;
use burn::module::ParamId;
use burn::tensor::{Device, TensorData};

/// A built layer: a Burn module that kiln's models hold, save and train.
///
/// kiln's module types implement it ([`Weights`](crate::layers::Weights) for layers declared
/// with `add_weight`, as yours are); the list of them is `src/layers/list.rs`.
pub trait BuiltLayer: ModuleSlot + Sized {
    /// The weights, named (`kernel`) and laid out (`[in, out]`) as in Keras; a nested model's
    /// are named by their inner layer (`dense/kernel`).
    fn weights(&self) -> Vec<(String, TensorData)>;

    /// Replaces the weight `name` by `data` in Keras' layout (shape checked by the caller),
    /// keeping its identity for the optimizer. Returns whether there is such a weight.
    fn set_weight(&mut self, name: &str, data: TensorData) -> bool;

    /// The identities of the trainable weights (what optimizer state is keyed by), named as in
    /// [`weights`](Self::weights).
    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)>;

    /// The module of a layer whose weights are all declared (the default of
    /// [`LayerConfig::build`](crate::layers::LayerConfig::build)); modules that need more than
    /// the declarations refuse.
    fn from_specs(layer: &str, specs: WeightSpecs, device: &Device) -> Result<Self> {
        let _ = (specs, device);
        Err(Error::config(
            format!("layer `{layer}`"),
            "its module is not made from declared weights alone; implement LayerConfig::build",
        ))
    }
}

/// A layer without weights, for modules that hold none.
macro_rules! no_weights {
    ($($ty:ty),*) => {$(
        impl $crate::layers::BuiltLayer for $ty {
            fn weights(&self) -> Vec<(String, burn::tensor::TensorData)> {
                Vec::new()
            }

            fn set_weight(&mut self, _: &str, _: burn::tensor::TensorData) -> bool {
                false
            }

            fn param_ids(&mut self) -> Vec<(String, &mut burn::module::ParamId)> {
                Vec::new()
            }
        }
    )*};
}
pub(crate) use no_weights;
