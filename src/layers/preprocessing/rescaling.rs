//! `Rescaling`: inputs multiplied by a scale and shifted by an offset.

use crate::error::Result;
use crate::graph::{Layout, Value, map_value};
use crate::layers::config::{Call, ElementOrder, name_field};
use crate::layers::{LayerConfig, Weights};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// `x · scale + offset`, in training and inference alike (Keras' `Rescaling`): pixels in
/// 0–255 to [0, 1] with `Rescaling::new(1.0 / 255.0)`, or to [-1, 1] with scale `1 / 127.5`
/// and offset `-1`.
///
/// ```
/// let layer = kiln::layers::Rescaling::new(1.0 / 255.0);
/// assert_eq!(layer.offset, 0.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescaling {
    /// The factor.
    pub scale: f64,
    /// Added after scaling (default 0).
    #[serde(default)]
    pub offset: f64,
    /// The layer's name; `rescaling`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Rescaling {
    /// Multiplies by `scale`.
    pub fn new(scale: f64) -> Self {
        Rescaling {
            scale,
            offset: 0.0,
            name: None,
        }
    }

    /// Adds `offset` after scaling.
    pub fn offset(mut self, offset: f64) -> Self {
        self.offset = offset;
        self
    }

    /// Sets the layer's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl LayerConfig for Rescaling {
    const CLASS_NAME: &'static str = "Rescaling";
    type Module = Weights;
    name_field!(name);

    fn supports_masking(&self) -> bool {
        true
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        if !(self.scale.is_finite() && self.offset.is_finite()) {
            return Err(crate::Error::config(
                format!("layer `{name}` (Rescaling)"),
                format!(
                    "scale {} and offset {} must be finite",
                    self.scale, self.offset
                ),
            ));
        }
        Ok(inputs[0].clone())
    }

    fn layout(&self) -> Option<Layout> {
        None
    }

    fn element_order(&self) -> ElementOrder {
        ElementOrder::Keeps
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        let (scale, offset) = (self.scale, self.offset);
        Ok(map_value!(inputs.swap_remove(0), t => t.mul_scalar(scale).add_scalar(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::preprocessing::random_affine::tests::run;

    #[test]
    fn scales_then_offsets_in_training_and_inference() {
        let layer = Rescaling::new(1.0 / 127.5).offset(-1.0);
        for training in [true, false] {
            let y = run(
                layer.clone(),
                vec![0.0, 127.5, 255.0, 51.0],
                [1, 2, 2, 1],
                training,
            )
            .unwrap();
            let expected = [-1.0, 0.0, 1.0, -0.6];
            assert!(
                y.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
                "{y:?}"
            );
        }
        assert!(run(Rescaling::new(f64::NAN), vec![0.0], [1, 1, 1, 1], false).is_err());
    }
}
