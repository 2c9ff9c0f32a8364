//! What convolutions and poolings share: sizes given as one number or a pair, padding, and
//! Keras' output-size arithmetic.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How a window treats the borders, as in Keras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the window stays inside the input (the default).
    #[default]
    Valid,
    /// Zero padding (ignored by pooling) so that the output has `ceil(input / stride)` positions.
    Same,
}

/// A size per spatial axis, from one number (`3` → `[3, 3]`) or a pair.
pub trait IntoPair {
    /// The pair.
    fn into_pair(self) -> [usize; 2];
}

impl IntoPair for usize {
    fn into_pair(self) -> [usize; 2] {
        [self, self]
    }
}

impl IntoPair for [usize; 2] {
    fn into_pair(self) -> [usize; 2] {
        self
    }
}

impl IntoPair for (usize, usize) {
    fn into_pair(self) -> [usize; 2] {
        [self.0, self.1]
    }
}

/// One spatial axis of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
}

impl Window {
    fn span(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    /// Keras' output length for an input of `input` positions, `None` when the window does
    /// not fit a valid input.
    pub(crate) fn output(&self, input: usize, padding: Padding) -> Option<usize> {
        match padding {
            Padding::Valid if input >= self.span() => Some((input - self.span()) / self.stride + 1),
            Padding::Valid => None,
            Padding::Same => Some(input.div_ceil(self.stride)),
        }
    }

    /// Zeros before and after the input (TensorFlow's rule: the odd one goes after).
    pub(crate) fn pads(&self, input: usize, padding: Padding) -> (usize, usize) {
        match padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let out = input.div_ceil(self.stride);
                let total = ((out - 1) * self.stride + self.span()).saturating_sub(input);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// ONNX's `kernel_shape`, `strides`, `pads` (Keras' "same" made explicit) and, with
/// `dilations`, `dilations`, for windows over an input of `input` positions per axis.
#[cfg(feature = "onnx")]
pub(crate) fn onnx_window(
    windows: &[Window],
    input: &[usize],
    padding: Padding,
    dilations: bool,
) -> Vec<crate::io::onnx::OnnxAttribute> {
    use crate::io::onnx::OnnxAttribute::Ints;
    let pads: Vec<(usize, usize)> = windows
        .iter()
        .zip(input)
        .map(|(w, &n)| w.pads(n, padding))
        .collect();
    let mut attributes = vec![
        Ints(
            "kernel_shape",
            windows.iter().map(|w| w.kernel as i64).collect(),
        ),
        Ints("strides", windows.iter().map(|w| w.stride as i64).collect()),
        Ints(
            "pads",
            pads.iter()
                .map(|p| p.0 as i64)
                .chain(pads.iter().map(|p| p.1 as i64))
                .collect(),
        ),
    ];
    if dilations {
        attributes.push(Ints(
            "dilations",
            windows.iter().map(|w| w.dilation as i64).collect(),
        ));
    }
    attributes
}

/// Checks that every size of a layer's setting is at least 1.
pub(crate) fn check_positive(layer: &str, what: &str, values: &[usize]) -> Result<()> {
    if values.contains(&0) {
        return Err(Error::config(
            format!("layer `{layer}`: {what}"),
            format!("{values:?} holds a 0; every size must be at least 1"),
        ));
    }
    Ok(())
}

/// The output spatial sizes of windows over `input`, or a shape error naming the layer.
pub(crate) fn output_sizes(
    layer: &str,
    windows: &[Window],
    input: &[usize],
    padding: Padding,
    received: &crate::Shape,
) -> Result<Vec<usize>> {
    windows
        .iter()
        .zip(input)
        .map(|(w, &n)| w.output(n, padding))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::Shape {
            layer: layer.into(),
            expected: format!(
                "spatial sizes of at least {:?} for a valid window (or padding \"same\")",
                windows.iter().map(Window::span).collect::<Vec<_>>()
            ),
            received: received.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(kernel: usize, stride: usize, dilation: usize) -> Window {
        Window {
            kernel,
            stride,
            dilation,
        }
    }

    #[test]
    fn valid_and_same_lengths_by_hand() {
        assert_eq!(w(3, 1, 1).output(28, Padding::Valid), Some(26));
        assert_eq!(w(2, 2, 1).output(13, Padding::Valid), Some(6));
        assert_eq!(w(3, 2, 1).output(7, Padding::Valid), Some(3));
        assert_eq!(w(3, 1, 2).output(7, Padding::Valid), Some(3));
        assert_eq!(w(5, 1, 1).output(4, Padding::Valid), None);
        assert_eq!(w(3, 2, 1).output(7, Padding::Same), Some(4));
        assert_eq!(w(5, 1, 1).output(4, Padding::Same), Some(4));
    }

    #[test]
    fn same_pads_put_the_odd_one_after() {
        assert_eq!(w(3, 1, 1).pads(5, Padding::Same), (1, 1));
        assert_eq!(w(2, 1, 1).pads(5, Padding::Same), (0, 1));
        assert_eq!(w(2, 2, 1).pads(3, Padding::Same), (0, 1));
        assert_eq!(w(3, 2, 1).pads(6, Padding::Same), (0, 1));
        assert_eq!(w(3, 1, 2).pads(5, Padding::Same), (2, 2));
        assert_eq!(w(3, 1, 1).pads(5, Padding::Valid), (0, 0));
    }
}
