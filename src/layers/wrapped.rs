//! `WrappedModule`: the built layers a wrapper (`Bidirectional`, `TimeDistributed`) holds.

use crate::layers::{BuiltLayer, LayerModule};
use burn::module::{Module, ParamId};
use burn::tensor::TensorData;

/// The modules of the layers a wrapper runs, each with the name its weights are filed under
/// (`forward_lstm/kernel`). Held in a `Vec`, through which Burn's `Module` derive reaches
/// recursive types.
#[derive(Module, Debug)]
pub struct WrappedModule {
    pub(crate) inner: Vec<LayerModule>,
    #[module(skip)]
    names: Vec<String>,
}

impl WrappedModule {
    /// The modules `inner`, named `names`.
    pub(crate) fn new(inner: Vec<LayerModule>, names: Vec<String>) -> Self {
        WrappedModule { inner, names }
    }
}

impl BuiltLayer for WrappedModule {
    fn weights(&self) -> Vec<(String, TensorData)> {
        self.inner
            .iter()
            .zip(&self.names)
            .flat_map(|(m, name)| {
                m.weights()
                    .into_iter()
                    .map(move |(w, data)| (format!("{name}/{w}"), data))
            })
            .collect()
    }

    fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        let Some((layer, weight)) = name.split_once('/') else {
            return false;
        };
        match self.names.iter().position(|n| n == layer) {
            Some(i) => self.inner[i].set_weight(weight, data),
            None => false,
        }
    }

    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        let mut out = Vec::new();
        for (m, name) in self.inner.iter_mut().zip(&self.names) {
            for (w, id) in m.param_ids() {
                out.push((format!("{name}/{w}"), id));
            }
        }
        out
    }
}
