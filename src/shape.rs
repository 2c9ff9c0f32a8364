//! Shapes of one sample, without the batch dimension, printed like Keras.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The shape of one sample: every dimension but the batch.
///
/// Printed as Keras prints a batched shape, with `None` for the batch: `(None, 28, 28, 1)`.
///
/// ```
/// let s = kiln::Shape::new([28, 28, 1]);
/// assert_eq!(s.to_string(), "(None, 28, 28, 1)");
/// assert_eq!(s.size(), 784);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions (batch excluded).
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The dimensions, batch excluded.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// How many dimensions a sample has.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// How many values one sample holds.
    pub fn size(&self) -> usize {
        self.0.iter().product()
    }

    /// The last dimension (features), if any.
    pub fn last(&self) -> Option<usize> {
        self.0.last().copied()
    }

    /// The same shape with its last dimension replaced.
    pub fn with_last(&self, last: usize) -> Shape {
        let mut dims = self.0.clone();
        if let Some(d) = dims.last_mut() {
            *d = last;
        }
        Shape(dims)
    }

    /// The dimensions of a batch of `batch` samples of this shape.
    pub(crate) fn batched(&self, batch: usize) -> Vec<usize> {
        let mut dims = Vec::with_capacity(self.0.len() + 1);
        dims.push(batch);
        dims.extend_from_slice(&self.0);
        dims
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(None")?;
        for d in &self.0 {
            write!(f, ", {d}")?;
        }
        write!(f, ")")
    }
}

/// Shapes as a list, as errors quote them: `(None, 3), (None, 4)`.
pub(crate) fn list(shapes: &[Shape]) -> String {
    shapes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_keras() {
        assert_eq!(Shape::new([784]).to_string(), "(None, 784)");
        assert_eq!(Shape::new([26, 26, 32]).to_string(), "(None, 26, 26, 32)");
        assert_eq!(Shape::new(Vec::new()).to_string(), "(None)");
    }

    #[test]
    fn batched_prepends_the_batch() {
        assert_eq!(Shape::new([3, 4]).batched(8), vec![8, 3, 4]);
        assert_eq!(Shape::new([3, 4]).with_last(7), Shape::new([3, 7]));
    }
}
