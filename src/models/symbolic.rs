//! Symbolic tensors: what the Functional API applies layers to, before any data flows.

use crate::error::Result;
use crate::layers::Layer;
use crate::models::Input;
use crate::models::input::next_id;
use crate::shape::Shape;
use std::sync::Arc;

/// A tensor a model will compute: its sample shape and the layers that produce it, as Keras'
/// `KerasTensor`. Made by applying a layer ([`Apply::apply`]) to an [`Input`] or to other
/// symbolic tensors; [`crate::Functional::new`] turns inputs and outputs into a model.
///
/// ```
/// use kiln::prelude::*;
/// let x = Input::new([784]);
/// let h = Dense::new(64).activation(Relu).apply(&x)?;
/// assert_eq!(h.shape().dims(), &[64]);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SymbolicTensor {
    pub(crate) node: Arc<SymbolicNode>,
    /// Which of the node's outputs (0 unless its layer has several).
    pub(crate) output: usize,
}

/// Where a symbolic tensor comes from.
#[derive(Debug)]
pub(crate) enum SymbolicNode {
    /// A model input.
    Input(Input),
    /// A layer applied to other symbolic tensors.
    Layer {
        layer: SharedLayer,
        inputs: Vec<SymbolicTensor>,
        shapes: Vec<Shape>,
    },
}

impl SymbolicTensor {
    /// The shape of one sample.
    pub fn shape(&self) -> &Shape {
        match &*self.node {
            SymbolicNode::Input(input) => input.shape(),
            SymbolicNode::Layer { shapes, .. } => &shapes[self.output],
        }
    }

    /// What produces it, for messages: `layer \`dense\`` or `input \`a\``.
    pub(crate) fn describe(&self) -> String {
        match &*self.node {
            SymbolicNode::Input(input) => match input.given_name() {
                Some(name) => format!("input `{name}`"),
                None => format!("an unnamed input of shape {}", input.shape()),
            },
            SymbolicNode::Layer { layer, .. } if self.output == 0 => {
                format!("layer `{}`", layer.display_name())
            }
            SymbolicNode::Layer { layer, .. } => {
                format!("output {} of layer `{}`", self.output, layer.display_name())
            }
        }
    }
}

impl From<&Input> for SymbolicTensor {
    fn from(input: &Input) -> Self {
        SymbolicTensor {
            node: Arc::new(SymbolicNode::Input(input.clone())),
            output: 0,
        }
    }
}

impl From<Input> for SymbolicTensor {
    fn from(input: Input) -> Self {
        SymbolicTensor::from(&input)
    }
}

impl From<&SymbolicTensor> for SymbolicTensor {
    fn from(t: &SymbolicTensor) -> Self {
        t.clone()
    }
}

/// The tensors a layer is applied to: one (`&x`) or a list (`[&a, &b]`, a `Vec`).
#[derive(Clone, Debug)]
pub struct SymbolicInputs(pub(crate) Vec<SymbolicTensor>);

impl<T: Into<SymbolicTensor>> From<T> for SymbolicInputs {
    fn from(t: T) -> Self {
        SymbolicInputs(vec![t.into()])
    }
}

impl<T: Into<SymbolicTensor>, const N: usize> From<[T; N]> for SymbolicInputs {
    fn from(ts: [T; N]) -> Self {
        SymbolicInputs(ts.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<SymbolicTensor>> From<Vec<T>> for SymbolicInputs {
    fn from(ts: Vec<T>) -> Self {
        SymbolicInputs(ts.into_iter().map(Into::into).collect())
    }
}

impl From<&[SymbolicTensor]> for SymbolicInputs {
    fn from(ts: &[SymbolicTensor]) -> Self {
        SymbolicInputs(ts.to_vec())
    }
}

/// A layer that can be applied several times, sharing one set of weights, as a Keras layer
/// object called twice. Cloning it gives the same layer.
///
/// ```
/// use kiln::prelude::*;
/// let (a, b) = (Input::new([16]), Input::new([16]));
/// let encoder = Dense::new(4).shared();
/// let (ea, eb) = (encoder.apply(&a)?, encoder.apply(&b)?);
/// let model = Functional::new([&a, &b], [&Add::new().apply([&ea, &eb])?])?;
/// assert_eq!(model.summary().total_params, 68); // 16 * 4 + 4, counted once
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SharedLayer {
    pub(crate) id: u64,
    pub(crate) layer: Arc<Layer>,
}

impl SharedLayer {
    /// Wraps `layer` so that every application shares it.
    pub fn new(layer: impl Into<Layer>) -> Self {
        SharedLayer::with_id(next_id(), layer.into())
    }

    pub(crate) fn with_id(id: u64, layer: Layer) -> Self {
        SharedLayer {
            id,
            layer: Arc::new(layer),
        }
    }

    /// The layer's configuration.
    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    /// The name for messages: the given one, or the stem of automatic names.
    pub(crate) fn display_name(&self) -> String {
        self.layer
            .name()
            .map_or_else(|| self.layer.base_name(), str::to_string)
    }

    /// Applies the layer to `inputs`, inferring the output shape; errors name the layer and
    /// the shapes it was given. A layer with several outputs is applied with
    /// [`apply_all`](Self::apply_all).
    pub fn apply(&self, inputs: impl Into<SymbolicInputs>) -> Result<SymbolicTensor> {
        let mut outputs = self.apply_all(inputs)?;
        if outputs.len() > 1 {
            return Err(crate::Error::config(
                format!("layer `{}`", self.display_name()),
                format!(
                    "it has {} outputs (a recurrent layer with return_state gives its final \
                     states too); apply it with `apply_all`, which gives each",
                    outputs.len()
                ),
            ));
        }
        Ok(outputs.swap_remove(0))
    }

    /// Applies the layer to `inputs` and gives every output: one for most layers; for a
    /// recurrent layer with `return_state`, its output and then its final states (`h` and,
    /// for an LSTM, `c`), as Keras' call returns them.
    ///
    /// ```
    /// use kiln::prelude::*;
    /// let x = Input::new([10, 3]);
    /// let [out, h, c] = <[_; 3]>::try_from(LSTM::new(4).return_state(true).apply_all(&x)?)
    ///     .expect("three outputs");
    /// assert_eq!((out.shape().dims(), h.shape().dims(), c.shape().dims()), (&[4][..], &[4][..], &[4][..]));
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn apply_all(&self, inputs: impl Into<SymbolicInputs>) -> Result<Vec<SymbolicTensor>> {
        let inputs = inputs.into().0;
        let shapes: Vec<Shape> = inputs.iter().map(|t| t.shape().clone()).collect();
        let shapes = self.layer.output_shapes_of(&shapes)?;
        let count = shapes.len();
        let node = Arc::new(SymbolicNode::Layer {
            layer: self.clone(),
            inputs,
            shapes,
        });
        Ok((0..count)
            .map(|output| SymbolicTensor {
                node: node.clone(),
                output,
            })
            .collect())
    }
}

/// Applying layers to symbolic tensors, for every layer configuration (`Dense`, `Add`…).
pub trait Apply: Into<Layer> + Sized {
    /// Applies this layer once: `Dense::new(8).apply(&x)?`. To apply one layer several times
    /// with shared weights, make it [`shared`](Apply::shared) first.
    fn apply(self, inputs: impl Into<SymbolicInputs>) -> Result<SymbolicTensor> {
        SharedLayer::new(self).apply(inputs)
    }

    /// Applies this layer once and gives every output (see [`SharedLayer::apply_all`]):
    /// `let outs = LSTM::new(8).return_state(true).apply_all(&x)?`.
    fn apply_all(self, inputs: impl Into<SymbolicInputs>) -> Result<Vec<SymbolicTensor>> {
        SharedLayer::new(self).apply_all(inputs)
    }

    /// The layer as a [`SharedLayer`], to apply several times with one set of weights.
    fn shared(self) -> SharedLayer {
        SharedLayer::new(self)
    }
}

impl<T: Into<Layer>> Apply for T {}
