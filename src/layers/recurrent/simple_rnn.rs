//! `SimpleRNN`: the fully connected recurrent layer.

use crate::layers::recurrent::cell::{Cell, CellKind, Inits};
use crate::layers::recurrent::config::recurrent_layer;
use crate::layers::recurrent::defaults::*;
use crate::layers::recurrent::options::{RecurrentOptions, option_builders};
use crate::layers::{Activation, Initializer};
use serde::{Deserialize, Serialize};

/// A fully connected recurrent layer over `[batch, time, features]`, as Keras' `SimpleRNN`:
/// `h = activation(x·kernel + h·recurrent_kernel + bias)`, with `kernel [features, units]`,
/// `recurrent_kernel [units, units]`, `bias [units]`.
///
/// ```
/// use kiln::prelude::*;
/// use kiln::layers::SimpleRNN;
///
/// let model = Sequential::new()
///     .input([10, 8])
///     .add(SimpleRNN::new(4).return_sequences(true))
///     .build()?;
/// assert_eq!(model.summary().total_params, 4 * (8 + 4 + 1));
/// assert_eq!(model.graph().output_shapes()[0].dims(), &[10, 4]);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimpleRNN {
    /// The size of the state and of the output.
    pub units: usize,
    /// Applied at each step (default tanh).
    #[serde(default = "tanh")]
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// How the kernel starts (default Glorot uniform).
    #[serde(default)]
    pub kernel_initializer: Initializer,
    /// How the recurrent kernel starts (default orthogonal).
    #[serde(default = "orthogonal")]
    pub recurrent_initializer: Initializer,
    /// How the bias starts (default zeros).
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// How the layer runs over the sequence.
    #[serde(flatten)]
    pub options: RecurrentOptions,
    /// The layer's name; `simple_rnn`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl SimpleRNN {
    /// A SimpleRNN of `units` with Keras' defaults.
    pub fn new(units: usize) -> Self {
        SimpleRNN {
            units,
            activation: tanh(),
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: orthogonal(),
            bias_initializer: zeros(),
            options: RecurrentOptions::default(),
            name: None,
        }
    }

    option_builders!();

    pub(crate) fn cell(&self) -> Cell {
        Cell {
            kind: CellKind::Simple,
            units: self.units,
            activation: self.activation,
            recurrent_activation: Activation::Sigmoid,
            use_bias: self.use_bias,
        }
    }

    fn inits(&self) -> Inits {
        Inits {
            kernel: self.kernel_initializer,
            recurrent: self.recurrent_initializer,
            bias: self.bias_initializer,
        }
    }
}

recurrent_layer!(SimpleRNN, "SimpleRNN");
