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

    fn options(&self) -> Option<&super::RecurrentOptions> {
        [
            self.layer.downcast_ref::<LSTM>().map(|l| &l.options),
            self.layer.downcast_ref::<GRU>().map(|l| &l.options),
            self.layer.downcast_ref::<SimpleRNN>().map(|l| &l.options),
        ]
        .into_iter()
        .flatten()
        .next()
    }

    fn returns_sequences(&self) -> bool {
        self.options().is_some_and(|o| o.return_sequences)
    }

    /// How many states each direction carries: 2 for an LSTM, 1 otherwise.
    fn states(&self) -> usize {
        if self.layer.is::<LSTM>() { 2 } else { 1 }
    }

    /// The inputs of each direction: the sequence, then its half of the initial states
    /// (Keras: the forward layer's first).
    fn split<T: Clone>(&self, inputs: &[T]) -> [Vec<T>; 2] {
        let states = &inputs[1..];
        let half = states.len() / 2;
        let with = |s: &[T]| {
            std::iter::once(inputs[0].clone())
                .chain(s.iter().cloned())
                .collect()
        };
        [with(&states[..half]), with(&states[half..])]
    }
}

impl LayerConfig for Bidirectional {
    const CLASS_NAME: &'static str = "Bidirectional";
    type Module = WrappedModule;
    name_field!(name);

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        use crate::io::onnx::OnnxAttribute::{Int, Ints};
        let directions = self.directions(node.layer())?;
        let options = self
            .options()
            .cloned()
            .ok_or_else(|| node.unsupported("this layer"))?;
        if options.go_backwards {
            return Err(node.unsupported("go_backwards inside Bidirectional"));
        }
        let mut cells = Vec::new();
        for copy in &directions {
            let name = copy.name().unwrap_or_default().to_string();
            let cell = [
                copy.downcast_ref::<LSTM>().map(LSTM::cell),
                copy.downcast_ref::<GRU>().map(GRU::cell),
                copy.downcast_ref::<SimpleRNN>().map(SimpleRNN::cell),
            ]
            .into_iter()
            .flatten()
            .next()
            .ok_or_else(|| node.unsupported("this layer"))?;
            let kernel = node.weight(&format!("{name}/kernel"))?.clone();
            let recurrent = node.weight(&format!("{name}/recurrent_kernel"))?.clone();
            let bias = node.weight(&format!("{name}/bias")).ok().cloned();
            cells.push((cell, [kernel, recurrent], bias));
        }
        let y = super::onnx::onnx_recurrent(node, &cells, &options)?;
        // the directions are on axis 2 of [batch, time, 2, units], 1 of [batch, 2, units]
        let axis = if options.return_sequences { 2 } else { 1 };
        let merged = match self.merge_mode {
            MergeMode::Concat => {
                let dims: Vec<i64> = std::iter::once(0)
                    .chain(node.output_shapes()[0].dims().iter().map(|&d| d as i64))
                    .collect();
                let shape = node.constant_i64("concat_shape", &dims);
                node.op("Reshape", &[&y, &shape], vec![])
            }
            MergeMode::Sum => {
                let axes = node.constant_i64("merge_axes", &[axis]);
                node.op("ReduceSum", &[&y, &axes], vec![Int("keepdims", 0)])
            }
            MergeMode::Ave => node.op(
                "ReduceMean",
                &[&y],
                vec![Ints("axes", vec![axis]), Int("keepdims", 0)],
            ),
            MergeMode::Mul => node.op(
                "ReduceProd",
                &[&y],
                vec![Ints("axes", vec![axis]), Int("keepdims", 0)],
            ),
        };
        Ok(vec![(merged, crate::graph::Layout::ChannelsLast)])
    }

    /// The sequence, then (Keras' `initial_state`) the forward layer's initial states and the
    /// backward layer's.
    fn arity(&self) -> (usize, usize) {
        (1, 1 + 2 * self.states())
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Ok(self.output_shapes(name, inputs)?.swap_remove(0))
    }

    /// The merged output, then with `return_state` the forward layer's final states and the
    /// backward layer's.
    fn output_shapes(&self, name: &str, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let [forward, _] = self.directions(name)?;
        let given = inputs.len() - 1;
        if given != 0 && given != 2 * self.states() {
            return Err(Error::config(
                format!("layer `{name}` (Bidirectional)"),
                format!(
                    "it is given {given} initial state(s) after its sequence; it takes none or \
                     {} (the forward layer's, then the backward layer's)",
                    2 * self.states()
                ),
            ));
        }
        let [fw_inputs, _] = self.split(inputs);
        let mut shapes = forward.output_shapes_of(&fw_inputs)?;
        let one = &shapes[0];
        let merged = match self.merge_mode {
            MergeMode::Concat => one.with_last(2 * one.last().unwrap_or(0)),
            _ => one.clone(),
        };
        let states = shapes.split_off(1);
        Ok(std::iter::once(merged)
            .chain(states.clone())
            .chain(states)
            .collect())
    }

    fn param_count(&self, inputs: &[Shape]) -> ParamCount {
        let one = self.layer.param_count_of(&inputs[..1]);
        one + one
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<WrappedModule> {
        let name = self.name.clone().unwrap_or_default();
        let layers = self.directions(&name)?;
        let halves = self.split(inputs);
        let modules = layers
            .iter()
            .zip(&halves)
            .map(|(l, inputs)| l.build(inputs, device))
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
        Ok(self.call_outputs(m, inputs, call)?.swap_remove(0))
    }

    fn call_outputs(
        &self,
        m: &WrappedModule,
        inputs: Vec<Value>,
        call: &Call,
    ) -> Result<Vec<Value>> {
        let [forward, backward] = self.directions(call.name)?;
        let outputs = 1 + self
            .options()
            .filter(|o| o.return_state)
            .map_or(0, |_| self.states());
        let run = |layer: &Layer, module, x: Vec<Value>| -> Result<Vec<Value>> {
            Ok(layer
                .call_masked(module, x, call.layout, call.mask, outputs)?
                .values)
        };
        let [fw_inputs, bw_inputs] = self.split(&inputs);
        let mut fw = run(&forward, &m.inner[0], fw_inputs)?;
        let mut bw = run(&backward, &m.inner[1], bw_inputs)?;
        let fw_states = fw.split_off(1);
        let bw_states = bw.split_off(1);
        let mode = self.merge_mode;
        let merged = match (fw.swap_remove(0), bw.swap_remove(0)) {
            (Value::R2(a), Value::R2(b)) => Value::R2(merge(mode, a, b)),
            // the backward outputs come last step first: back in time order
            (Value::R3(a), Value::R3(b)) => Value::R3(merge(mode, a, b.flip([1]))),
            (a, b) => {
                return Err(Error::Shape {
                    layer: call.name.into(),
                    expected: "two outputs of one shape from the directions".into(),
                    received: format!("{:?} and {:?}", a.dims(), b.dims()),
                });
            }
        };
        Ok(std::iter::once(merged)
            .chain(fw_states)
            .chain(bw_states)
            .collect())
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
