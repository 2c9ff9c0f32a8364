//! `Bidirectional`: a recurrent layer run forwards and backwards, outputs merged.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, Mask, name_field};
use crate::layers::{
    GRU, LSTM, Layer, LayerConfig, ParamCount, SimpleRNN, WeightSpecs, WrappedModule,
};
use crate::shape::Shape;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How `Bidirectional` merges the forward and backward outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// Side by side on the last axis: `2·units` features (Keras' default).
    #[default]
    Concat,
    /// Their sum.
    Sum,
    /// Their product.
    Mul,
    /// Their mean.
    Ave,
}

/// Runs a recurrent layer over the sequence forwards and a copy of it backwards, and merges
/// their outputs, as Keras' `Bidirectional`. With `return_sequences` the backward outputs are
/// put back in time order first.
///
/// The two copies are named `forward_<layer>` and `backward_<layer>` (Keras' names), and
/// their weights are filed under them: `bidirectional/forward_lstm/kernel`. A mask reaches
/// both, and goes on with the sequence when it is returned.
///
/// ```
/// use kiln::prelude::*;
/// use kiln::layers::{Bidirectional, Embedding, LSTM};
///
/// let model = Sequential::new()
///     .input([200])
///     .add(Embedding::new(20000, 64))
///     .add(Bidirectional::new(LSTM::new(32)))
///     .add(Dense::new(1).activation(Sigmoid))
///     .build()?;
/// assert_eq!(model.graph().output_shapes()[0].dims(), &[1]);
/// // Keras: 1,280,000 + 2 · 12,416 + 65
/// assert_eq!(model.summary().total_params, 1_304_897);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bidirectional {
    /// The recurrent layer (`SimpleRNN`, `LSTM` or `GRU`) run forwards.
    pub layer: Layer,
    /// How the two outputs merge (default concat).
    #[serde(default)]
    pub merge_mode: MergeMode,
    /// The layer's name; `bidirectional`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Bidirectional {
    /// Both directions of `layer`, concatenated.
    pub fn new(layer: impl Into<Layer>) -> Self {
        Bidirectional {
            layer: layer.into(),
            merge_mode: MergeMode::Concat,
            name: None,
        }
    }

    /// Sets how the outputs merge (default concat).
    pub fn merge_mode(mut self, mode: MergeMode) -> Self {
        self.merge_mode = mode;
        self
    }

    /// Sets the layer's name (default: auto-numbered `bidirectional`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The forward and backward copies of the wrapped layer, named as Keras names them, with
    /// `zero_output_for_mask` set when they return sequences (as Keras sets it).
    fn directions(&self, name: &str) -> Result<[Layer; 2]> {
        let inner = self
            .layer
            .name()
            .map_or_else(|| self.layer.base_name(), str::to_string);
        let inner = inner.strip_prefix("forward_").unwrap_or(&inner).to_string();
        macro_rules! copies {
            ($($ty:ty),*) => {$(
                if let Some(l) = self.layer.downcast_ref::<$ty>() {
                    let mut forward = l.clone();
                    forward.options.zero_output_for_mask = forward.options.return_sequences;
                    let mut backward = forward.clone();
                    backward.options.go_backwards = !forward.options.go_backwards;
                    forward.name = Some(format!("forward_{inner}"));
                    backward.name = Some(format!("backward_{inner}"));
                    return Ok([forward.into(), backward.into()]);
                }
            )*};
        }
        copies!(LSTM, GRU, SimpleRNN);
        Err(Error::config(
            format!("layer `{name}` (Bidirectional)"),
            format!(
                "it wraps a {}; it takes a recurrent layer (SimpleRNN, LSTM or GRU)",
                self.layer.class_name()
            ),
        ))
    }

    fn returns_sequences(&self) -> bool {
        [
            self.layer.downcast_ref::<LSTM>().map(|l| &l.options),
            self.layer.downcast_ref::<GRU>().map(|l| &l.options),
            self.layer.downcast_ref::<SimpleRNN>().map(|l| &l.options),
        ]
        .into_iter()
        .flatten()
        .any(|o| o.return_sequences)
    }
}

impl LayerConfig for Bidirectional {
    const CLASS_NAME: &'static str = "Bidirectional";
    type Module = WrappedModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let [forward, _] = self.directions(name)?;
        let one = forward.output_shape_of(inputs)?;
        Ok(match self.merge_mode {
            MergeMode::Concat => one.with_last(2 * one.last().unwrap_or(0)),
            _ => one,
        })
    }

    fn param_count(&self, inputs: &[Shape]) -> ParamCount {
        let one = self.layer.param_count_of(inputs);
        one + one
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<WrappedModule> {
        let name = self.name.clone().unwrap_or_default();
        let layers = self.directions(&name)?;
        let modules = layers
            .iter()
            .map(|l| l.build(inputs, device))
            .collect::<Result<Vec<_>>>()?;
        let names = layers
            .iter()
            .map(|l| l.name().unwrap_or_default().to_string())
            .collect();
        Ok(WrappedModule::new(modules, names))
    }

    fn compute_mask(&self, _: &[Value], mask: Option<&Mask>) -> Result<Option<Mask>> {
        Ok(mask.filter(|_| self.returns_sequences()).cloned())
    }

    fn call(&self, m: &WrappedModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let [forward, backward] = self.directions(call.name)?;
        let run = |layer: &Layer, module, x: Vec<Value>| -> Result<Value> {
            Ok(layer.call_masked(module, x, call.layout, call.mask)?.value)
        };
        let y = run(&forward, &m.inner[0], inputs.clone())?;
        let y_rev = run(&backward, &m.inner[1], inputs)?;
        let mode = self.merge_mode;
        match (y, y_rev) {
            (Value::R2(a), Value::R2(b)) => Ok(Value::R2(merge(mode, a, b))),
            // the backward outputs come last step first: back in time order
            (Value::R3(a), Value::R3(b)) => Ok(Value::R3(merge(mode, a, b.flip([1])))),
            (a, b) => Err(Error::Shape {
                layer: call.name.into(),
                expected: "two outputs of one shape from the directions".into(),
                received: format!("{:?} and {:?}", a.dims(), b.dims()),
            }),
        }
    }
}

fn merge<const D: usize>(mode: MergeMode, a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    match mode {
        MergeMode::Concat => Tensor::cat(vec![a, b], D - 1),
        MergeMode::Sum => a + b,
        MergeMode::Mul => a * b,
        MergeMode::Ave => (a + b).mul_scalar(0.5),
    }
}
