//! `LSTM`: the long short-term memory layer, in Keras' weight layout.

use crate::layers::recurrent::cell::{Cell, CellKind, Inits};
use crate::layers::recurrent::config::recurrent_layer;
use crate::layers::recurrent::defaults::*;
use crate::layers::recurrent::options::{RecurrentOptions, option_builders};
use crate::layers::{Activation, Initializer};
use serde::{Deserialize, Serialize};

/// Long short-term memory over a sequence `[batch, time, features]`, as Keras' `LSTM`.
///
/// Each step: `z = x·kernel + h·recurrent_kernel + bias`, split into gates i, f, c, o;
/// `c = σ(f)·c + σ(i)·tanh(c̃)`, `h = σ(o)·tanh(c)` (σ the `recurrent_activation`, tanh the
/// `activation`). Weights as Keras stores them: `kernel [features, 4·units]`,
/// `recurrent_kernel [units, 4·units]`, `bias [4·units]` — one bias per gate, so Keras-trained
/// weights load as they are (PyTorch's layout, which Burn's `nn::Lstm` keeps, has two).
/// Defaults as Keras: tanh and sigmoid, Glorot-uniform kernel, orthogonal recurrent kernel,
/// zero bias with the forget gate's at one (`unit_forget_bias`).
///
/// ```
/// use kiln::prelude::*;
/// use kiln::layers::LSTM;
///
/// let model = Sequential::new()
///     .input([14, 4])
///     .add(LSTM::new(32))
///     .add(Dense::new(1))
///     .build()?;
/// // Keras: 4 · 32 · (4 + 32 + 1) + 33
/// assert_eq!(model.summary().total_params, 4 * 32 * (4 + 32 + 1) + 33);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LSTM {
    /// The size of the state and of the output.
    pub units: usize,
    /// Applied to the candidate and to the cell state (default tanh).
    #[serde(default = "tanh")]
    pub activation: Activation,
    /// Applied to the gates (default sigmoid).
    #[serde(default = "sigmoid")]
    pub recurrent_activation: Activation,
    /// Whether to add a bias (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Whether the forget gate's bias starts at one (default true, as Keras).
    #[serde(default = "yes")]
    pub unit_forget_bias: bool,
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
    /// The layer's name; `lstm`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl LSTM {
    /// An LSTM of `units` with Keras' defaults.
    pub fn new(units: usize) -> Self {
        LSTM {
            units,
            activation: tanh(),
            recurrent_activation: sigmoid(),
            use_bias: true,
            unit_forget_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: orthogonal(),
            bias_initializer: zeros(),
            options: RecurrentOptions::default(),
            name: None,
        }
    }

    option_builders!();

    /// Sets the gates' activation (default sigmoid).
    pub fn recurrent_activation(mut self, activation: Activation) -> Self {
        self.recurrent_activation = activation;
        self
    }

    /// Sets whether the forget gate's bias starts at one (default true).
    pub fn unit_forget_bias(mut self, yes: bool) -> Self {
        self.unit_forget_bias = yes;
        self
    }

    pub(crate) fn cell(&self) -> Cell {
        Cell {
            kind: CellKind::Lstm,
            units: self.units,
            activation: self.activation,
            recurrent_activation: self.recurrent_activation,
            use_bias: self.use_bias,
        }
    }

    fn inits(&self) -> Inits {
        Inits {
            kernel: self.kernel_initializer,
            recurrent: self.recurrent_initializer,
            // as Keras, `unit_forget_bias` replaces the bias initializer
            bias: if self.unit_forget_bias {
                Initializer::UnitForgetBias
            } else {
                self.bias_initializer
            },
        }
    }
}

recurrent_layer!(LSTM, "LSTM");
