//! The recurrent layers (`SimpleRNN`, `LSTM`, `GRU`) and their wrapper `Bidirectional`.

mod bidirectional;
mod cell;
mod config;
mod defaults;
mod gru;
mod lstm;
mod options;
mod simple_rnn;

pub use bidirectional::{Bidirectional, MergeMode};
pub use gru::GRU;
pub use lstm::LSTM;
pub use options::RecurrentOptions;
pub use simple_rnn::SimpleRNN;
