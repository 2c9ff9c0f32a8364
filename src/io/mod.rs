//! Files: weights as safetensors, the architecture as JSON, whole models as one file.
//!
//! - [`Model::save_weights`](crate::Model::save_weights) /
//!   [`Model::load_weights`](crate::Model::load_weights): one `f32` tensor per weight, named
//!   `layer/weight` in Keras' layouts, or in PyTorch's ([`WeightLayout::Torch`]).
//! - [`Model::to_json`](crate::Model::to_json) / [`Model::from_json`](crate::Model::from_json):
//!   the architecture and compile settings ([`ModelConfig`]).
//! - [`Model::save`](crate::Model::save) / [`load_model`]: both in one safetensors file, the
//!   JSON in its `__metadata__`, so the file alone rebuilds the model.
//! - [`load_keras`]: Keras 3's `.keras` files (the `keras` feature, on by default).
//!
//! Every write goes to a temporary file that is renamed over the target once complete.

mod atomic;
mod config;
#[cfg(feature = "keras")]
pub mod keras;
mod model_file;
pub mod npy;
#[cfg(feature = "onnx")]
pub mod onnx;
mod tensors;
mod torch;
mod weights;

pub(crate) use atomic::write_atomic;
pub use config::{CompileConfig, FORMAT, FORMAT_VERSION, ModelConfig};
#[cfg(feature = "keras")]
pub use keras::{load_keras, load_keras_on};
pub use model_file::{SaveOptions, WeightLayout, load_model, load_model_on};
