//! `RecurrentOptions`: how a recurrent layer runs over a sequence, the settings `SimpleRNN`,
//! `LSTM` and `GRU` share (Keras' `RNN` arguments and the cells' dropouts).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The settings every recurrent layer shares, written flat in its JSON as Keras writes them.
///
/// ```
/// use kiln::layers::LSTM;
/// let lstm = LSTM::new(32).return_sequences(true).dropout(0.2);
/// assert!(lstm.options.return_sequences);
/// assert_eq!(lstm.options.recurrent_dropout, 0.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecurrentOptions {
    /// The fraction of the input's features dropped in training (one mask per batch, the same
    /// at every step, as Keras).
    #[serde(default)]
    pub dropout: f64,
    /// The fraction of the recurrent state's units dropped in training, before each recurrent
    /// product (one mask per batch and gate).
    #[serde(default)]
    pub recurrent_dropout: f64,
    /// Whether the output is the whole sequence `[batch, time, units]` rather than the last
    /// step's `[batch, units]`.
    #[serde(default)]
    pub return_sequences: bool,
    /// Whether the final states are outputs too, after the output: `h`, and an LSTM's `c`
    /// (apply the layer with [`apply_all`](crate::models::Apply::apply_all)).
    #[serde(default)]
    pub return_state: bool,
    /// Whether to read the sequence from its end; the outputs come in that (reversed) order,
    /// as in Keras.
    #[serde(default)]
    pub go_backwards: bool,
    /// Whether states carry over between batches; refused (kiln's models are stateless).
    #[serde(default)]
    pub stateful: bool,
    /// Keras' loop unrolling: the same numbers either way; kiln ignores it.
    #[serde(default)]
    pub unroll: bool,
    /// Whether a masked step's output is zeros rather than the previous step's output
    /// (`Bidirectional` sets it when it returns sequences, as Keras).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zero_output_for_mask: bool,
    /// The dropouts' seed; drawn from kiln's stream ([`crate::set_random_seed`]) when unset.
    #[serde(default)]
    pub seed: Option<u64>,
}

impl RecurrentOptions {
    /// Checks the settings, naming `layer` in the error.
    pub(crate) fn check(&self, layer: &str) -> Result<()> {
        let what = |field: &str| format!("layer `{layer}`: {field}");
        for (field, rate) in [
            ("dropout", self.dropout),
            ("recurrent_dropout", self.recurrent_dropout),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return Err(Error::config(
                    what(field),
                    format!("{rate} is not a fraction in [0, 1)"),
                ));
            }
        }
        if self.stateful {
            return Err(Error::config(
                what("stateful"),
                "kiln's recurrent layers start every batch from zero states; set it to false",
            ));
        }
        Ok(())
    }
}

/// The builders every recurrent layer has: its [`RecurrentOptions`] (held in `options`), its
/// activation, bias and initializers, and its name.
macro_rules! option_builders {
    () => {
        /// Sets the activation (default tanh).
        pub fn activation(mut self, activation: $crate::layers::Activation) -> Self {
            self.activation = activation;
            self
        }

        /// Sets whether to add biases (default true).
        pub fn use_bias(mut self, yes: bool) -> Self {
            self.use_bias = yes;
            self
        }

        /// Sets how the kernel starts (default Glorot uniform).
        pub fn kernel_initializer(mut self, init: $crate::layers::Initializer) -> Self {
            self.kernel_initializer = init;
            self
        }

        /// Sets how the recurrent kernel starts (default orthogonal).
        pub fn recurrent_initializer(mut self, init: $crate::layers::Initializer) -> Self {
            self.recurrent_initializer = init;
            self
        }

        /// Sets how the bias starts (default zeros).
        pub fn bias_initializer(mut self, init: $crate::layers::Initializer) -> Self {
            self.bias_initializer = init;
            self
        }

        /// Sets the input dropout (default 0).
        pub fn dropout(mut self, rate: f64) -> Self {
            self.options.dropout = rate;
            self
        }

        /// Sets the recurrent dropout (default 0).
        pub fn recurrent_dropout(mut self, rate: f64) -> Self {
            self.options.recurrent_dropout = rate;
            self
        }

        /// Sets whether the whole sequence is returned (default false: the last step).
        pub fn return_sequences(mut self, yes: bool) -> Self {
            self.options.return_sequences = yes;
            self
        }

        /// Sets whether the final states are outputs too, after the output (default false):
        /// apply the layer with [`apply_all`](crate::models::Apply::apply_all), and give states
        /// to another recurrent layer as its initial states (inputs after its sequence).
        pub fn return_state(mut self, yes: bool) -> Self {
            self.options.return_state = yes;
            self
        }

        /// Sets whether the sequence is read from its end (default false).
        pub fn go_backwards(mut self, yes: bool) -> Self {
            self.options.go_backwards = yes;
            self
        }

        /// Sets the dropouts' seed (default: from kiln's stream).
        pub fn seed(mut self, seed: u64) -> Self {
            self.options.seed = Some(seed);
            self
        }

        /// Sets the layer's name.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.name = Some(name.into());
            self
        }
    };
}
pub(crate) use option_builders;
