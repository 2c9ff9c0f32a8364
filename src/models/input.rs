//! `Input`: a model's input, its sample shape and name.

use crate::graph::InputSpec;
use crate::shape::Shape;

/// A model input: the shape of one sample (batch excluded) and an optional name
/// (`input_layer`, `input_layer_1`… when not set, as in Keras).
///
/// It starts a [`crate::Sequential`] (`.input(Input::new([784]))`) or, in the Functional API,
/// is the symbolic tensor layers are applied to: `Dense::new(8).apply(&input)`. Each
/// `Input::new` is a distinct input; its clones are the same input.
///
/// ```
/// let input = kiln::Input::new([28, 28, 1]).name("pixels");
/// assert_eq!(input.shape().dims(), &[28, 28, 1]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    shape: Shape,
    name: Option<String>,
    id: u64,
}

/// A fresh identity for an input, a layer or a model.
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Input {
    /// An input taking samples of `shape`.
    pub fn new(shape: impl Into<Shape>) -> Self {
        Input {
            shape: shape.into(),
            name: None,
            id: next_id(),
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

    /// The name given, if any.
    pub fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The identity shared by this input's clones.
    pub(crate) fn id(&self) -> u64 {
        self.id
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
