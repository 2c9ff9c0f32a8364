//! The recurrent layers (`SimpleRNN`, `LSTM`, `GRU`) and their wrapper `Bidirectional`.
//!
//! **Final and initial states.** With `return_state` a layer has several outputs, applied
//! with [`apply_all`](crate::models::Apply::apply_all): its output, then its final states
//! (`h`, and an LSTM's `c`; for `Bidirectional`, the forward layer's then the backward
//! layer's). Inputs after the sequence are initial states (Keras' `initial_state`), in the same
//! order. An encoder's states start a decoder:
//!
//! ```
//! use kiln::prelude::*;
//! use kiln::layers::{Embedding, LSTM};
//!
//! let (source, target) = (Input::new([12]), Input::new([9]));
//! let encoded = Embedding::new(100, 16).mask_zero(true).apply(&source)?;
//! let [_, h, c] = <[SymbolicTensor; 3]>::try_from(
//!     LSTM::new(32).return_state(true).apply_all(&encoded)?,
//! )
//! .expect("an output and two states");
//! let embedded = Embedding::new(100, 16).apply(&target)?;
//! let decoded = LSTM::new(32).return_sequences(true).apply([&embedded, &h, &c])?;
//! let next = Dense::new(100).activation(Softmax).apply(&decoded)?;
//! let model = Functional::new([&source, &target], [&next])?.build()?;
//! assert_eq!(model.graph().output_shapes()[0].dims(), &[9, 100]);
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! A layer given initial states still skips its sequence's masked steps, as Keras documents
//! masking. Keras 3.15 itself does not: its functional call hands a layer its input's mask
//! only when that input is the layer's one tensor argument, so a layer given `initial_state`
//! runs over padded steps (unless `mask=` is passed by hand). Models with that pattern predict
//! differently in the two; `tests/keras.rs` compares them with the mask passed.

mod bidirectional;
mod cell;
mod config;
mod defaults;
mod gru;
mod lstm;
#[cfg(feature = "onnx")]
mod onnx;
mod options;
mod simple_rnn;

pub use bidirectional::{Bidirectional, MergeMode};
pub use gru::GRU;
pub use lstm::LSTM;
pub use options::RecurrentOptions;
pub use simple_rnn::SimpleRNN;
