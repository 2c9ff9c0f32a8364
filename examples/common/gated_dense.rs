//! A user-defined layer with weights, written as a kiln user writes one: a gated dense layer,
//! `y = (x·W + b) ⊙ sigmoid(x·V + c)`. `examples/custom_layer.rs` trains it on MNIST and
//! `tests/custom_layer.rs` checks it; the README shows the same code.

use burn::tensor::{Tensor, activation::sigmoid};
use kiln::layers::{Call, Initializer, LayerConfig, WeightSpecs, Weights};
use kiln::{Error, Shape, Value};
use serde::{Deserialize, Serialize};

/// `units` outputs, each a linear unit gated by a sigmoid of another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatedDense {
    pub units: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl GatedDense {
    pub fn new(units: usize) -> Self {
        GatedDense { units, name: None }
    }
}

impl LayerConfig for GatedDense {
    const CLASS_NAME: &'static str = "GatedDense";
    type Module = Weights;

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn set_name(&mut self, name: String) {
        self.name = Some(name);
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> kiln::Result<Shape> {
        match inputs[0].dims() {
            [_] if self.units > 0 => Ok(Shape::new([self.units])),
            _ => Err(Error::Shape {
                layer: name.into(),
                expected: "(None, features) and units >= 1".into(),
                received: inputs[0].to_string(),
            }),
        }
    }

    fn add_weights(&self, inputs: &[Shape], w: &mut WeightSpecs) -> kiln::Result<()> {
        let n = inputs[0].dims()[0];
        w.add_weight("kernel", [n, self.units], Initializer::GlorotUniform, true)
            .add_weight("bias", [self.units], Initializer::Zeros, true)
            .add_weight(
                "gate_kernel",
                [n, self.units],
                Initializer::GlorotUniform,
                true,
            )
            .add_weight("gate_bias", [self.units], Initializer::Zeros, true);
        Ok(())
    }

    fn call(&self, w: &Weights, inputs: Vec<Value>, _: &Call) -> kiln::Result<Value> {
        let x: Tensor<2> = inputs[0].clone().into_tensor()?;
        let z = x.clone().matmul(w.get("kernel")?) + w.get::<1>("bias")?.unsqueeze();
        let g = x.matmul(w.get("gate_kernel")?) + w.get::<1>("gate_bias")?.unsqueeze();
        Ok((z * sigmoid(g)).into())
    }
}
