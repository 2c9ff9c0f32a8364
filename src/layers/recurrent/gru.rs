//! `GRU`: the gated recurrent unit, in Keras' weight layout.

use crate::layers::recurrent::cell::{Cell, CellKind, Inits};
use crate::layers::recurrent::config::recurrent_layer;
use crate::layers::recurrent::defaults::*;
use crate::layers::recurrent::options::{RecurrentOptions, option_builders};
use crate::layers::{Activation, Initializer};
use serde::{Deserialize, Serialize};

/// A gated recurrent unit over a sequence `[batch, time, features]`, as Keras' `GRU`.
///
/// Gates z (update), r (reset), h (candidate): `h' = z·h + (1 - z)·h̃`. With `reset_after`
/// (Keras' default) the reset gate multiplies the recurrent product, which has its own bias:
/// `bias` is `[2, 3·units]`, input bias then recurrent bias (the layout cuDNN and PyTorch
/// compute); without it, `r·h` enters the product and `bias` is `[3·units]`. `kernel`
/// `[features, 3·units]`, `recurrent_kernel [units, 3·units]`, as Keras stores them.
///
/// ```
/// use kiln::prelude::*;
/// use kiln::layers::GRU;
///
/// let model = Sequential::new().input([10, 8]).add(GRU::new(16)).build()?;
/// assert_eq!(model.summary().total_params, 3 * 16 * (8 + 16 + 2));
/// let model = Sequential::new().input([10, 8]).add(GRU::new(16).reset_after(false)).build()?;
/// assert_eq!(model.summary().total_params, 3 * 16 * (8 + 16 + 1));
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GRU {
    /// The size of the state and of the output.
    pub units: usize,
    /// Applied to the candidate (default tanh).
    #[serde(default = "tanh")]
    pub activation: Activation,
    /// Applied to the gates (default sigmoid).
    #[serde(default = "sigmoid")]
    pub recurrent_activation: Activation,
    /// Whether to add biases (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Whether the reset gate applies after the recurrent product (default true, as Keras).
    #[serde(default = "yes")]
    pub reset_after: bool,
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
    /// The layer's name; `gru`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl GRU {
    /// A GRU of `units` with Keras' defaults.
    pub fn new(units: usize) -> Self {
        GRU {
            units,
            activation: tanh(),
            recurrent_activation: sigmoid(),
            use_bias: true,
            reset_after: true,
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

    /// Sets whether the reset gate applies after the recurrent product (default true).
    pub fn reset_after(mut self, yes: bool) -> Self {
        self.reset_after = yes;
        self
    }

    pub(crate) fn cell(&self) -> Cell {
        Cell {
            kind: CellKind::Gru {
                reset_after: self.reset_after,
            },
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
            bias: self.bias_initializer,
        }
    }
}

recurrent_layer!(GRU, "GRU");
