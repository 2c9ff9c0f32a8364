//! `TimeDistributed`: one layer applied to every time step.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::{Layer, LayerConfig, ParamCount, WeightSpecs, WrappedModule};
use crate::shape::Shape;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Applies a layer to each step of a sequence `[batch, time, ...]`, the same weights at every
/// step, as Keras' `TimeDistributed`. The steps run as one batch of `batch · time` samples.
/// Its weights are filed under the wrapped layer's name: `time_distributed/dense/kernel`.
///
/// ```
/// use kiln::prelude::*;
/// use kiln::layers::TimeDistributed;
///
/// let model = Sequential::new()
///     .input([10, 8])
///     .add(TimeDistributed::new(Dense::new(4)))
///     .build()?;
/// assert_eq!(model.graph().output_shapes()[0].dims(), &[10, 4]);
/// assert_eq!(model.summary().total_params, 8 * 4 + 4);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeDistributed {
    /// The layer applied at each step.
    pub layer: Layer,
    /// The layer's name; `time_distributed`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl TimeDistributed {
    /// `layer` applied to every time step.
    pub fn new(layer: impl Into<Layer>) -> Self {
        TimeDistributed {
            layer: layer.into(),
            name: None,
        }
    }

    /// Sets the layer's name (default: auto-numbered `time_distributed`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The wrapped layer, named (its own name, or its base name).
    fn inner(&self) -> Layer {
        let mut layer = self.layer.clone();
        if layer.name().is_none() {
            layer.set_name(layer.base_name());
        }
        layer
    }

    /// The shape of one step, or an error naming the layer.
    fn step(&self, name: &str, input: &Shape) -> Result<Shape> {
        if input.rank() < 2 || self.layer.arity().0 > 1 {
            return Err(Error::Shape {
                layer: name.into(),
                expected: "one input (None, time, ...) with a shape at each step".into(),
                received: input.to_string(),
            });
        }
        Ok(Shape::new(input.dims()[1..].to_vec()))
    }
}

impl LayerConfig for TimeDistributed {
    const CLASS_NAME: &'static str = "TimeDistributed";
    type Module = WrappedModule;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let step = self.step(name, &inputs[0])?;
        let outs = self.inner().output_shapes_of(std::slice::from_ref(&step))?;
        let [out] = outs.as_slice() else {
            return Err(Error::config(
                format!("layer `{name}` (TimeDistributed)"),
                format!(
                    "its layer has {} outputs; it wraps a layer with one (a recurrent layer \
                     without return_state)",
                    outs.len()
                ),
            ));
        };
        let mut dims = vec![inputs[0].dims()[0]];
        dims.extend_from_slice(out.dims());
        Ok(Shape::new(dims))
    }

    fn param_count(&self, inputs: &[Shape]) -> ParamCount {
        match self.step("", &inputs[0]) {
            Ok(step) => self.layer.param_count(&step),
            Err(_) => ParamCount::default(),
        }
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, device: &Device) -> Result<WrappedModule> {
        let name = self.name.clone().unwrap_or_default();
        let step = self.step(&name, &inputs[0])?;
        let inner = self.inner();
        let module = inner.build(std::slice::from_ref(&step), device)?;
        let inner_name = inner.name().unwrap_or_default().to_string();
        Ok(WrappedModule::new(vec![module], vec![inner_name]))
    }

    fn call(&self, m: &WrappedModule, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        let dims = x.dims();
        let (batch, time) = (dims[0], dims[1]);
        let mut steps = vec![batch * time];
        steps.extend_from_slice(&dims[2..]);
        let inner = self.inner();
        let layout = inner.layout().unwrap_or(call.layout);
        let x = x.reshape(&steps)?.relayout(call.layout, layout);
        let y = inner
            .call_masked(&m.inner[0], vec![x], layout, None, 1)?
            .values
            .swap_remove(0);
        let y = y.relayout(layout, call.layout);
        let mut out = vec![batch, time];
        out.extend_from_slice(&y.dims()[1..]);
        y.reshape(&out)
    }
}
