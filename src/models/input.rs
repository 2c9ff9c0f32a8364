//! `Input`: a model's input, its sample shape and name.

use crate::graph::InputSpec;
use crate::shape::Shape;

/// A model input: the shape of one sample (batch excluded) and an optional name
/// (`input_layer` when not set, as in Keras).
///
/// ```
/// let input = kiln::Input::new([28, 28, 1]).name("pixels");
/// assert_eq!(input.shape().dims(), &[28, 28, 1]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    shape: Shape,
    name: Option<String>,
}

impl Input {
    /// An input taking samples of `shape`.
    pub fn new(shape: impl Into<Shape>) -> Self {
        Input {
            shape: shape.into(),
            name: None,
        }
    }

    /// Names the input (default `input_layer`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The sample shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub(crate) fn spec(&self, default_name: &str) -> InputSpec {
        InputSpec {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            shape: self.shape.clone(),
        }
    }
}

impl<const N: usize> From<[usize; N]> for Input {
    fn from(dims: [usize; N]) -> Self {
        Input::new(dims)
    }
}

impl From<Shape> for Input {
    fn from(shape: Shape) -> Self {
        Input::new(shape)
    }
}

impl From<Vec<usize>> for Input {
    fn from(dims: Vec<usize>) -> Self {
        Input::new(dims)
    }
}
