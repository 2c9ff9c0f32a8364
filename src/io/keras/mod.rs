//! Keras 3 `.keras` files: a zip of `config.json` (the architecture), `metadata.json` and
//! `model.weights.h5` (the weights, HDF5), read into kiln models.
//!
//! - [`load_keras`] / [`load_keras_on`]: the whole model.
//! - [`Model::load_keras_weights`](crate::Model::load_keras_weights): a `.weights.h5` file into
//!   a model already built.
//! - [`KerasState`]: what Keras saves for a layer besides weights (an adapted
//!   `Normalization`'s statistics, a `TextVectorization`'s vocabulary), handed to the layer's
//!   [`LayerConfig::keras_state`](crate::layers::LayerConfig::keras_state).

mod config;
mod h5;
mod load;
mod state;
mod weights;

pub use load::{load_keras, load_keras_on};
pub use state::KerasState;
