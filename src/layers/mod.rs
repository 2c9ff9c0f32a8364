//! Layers: configurations that infer shapes, and the Burn modules they build.

mod activation;
mod dense;
mod dropout;
mod initializer;
mod layer;
mod module;
mod reshape;

pub use activation::{Activation, ActivationLayer};
pub use dense::{Dense, DenseModule};
pub use dropout::Dropout;
pub use initializer::Initializer;
pub use layer::{Layer, ParamCount};
pub use module::{ActivationModule, LayerModule, ReshapeModule, StatelessModule};
pub use reshape::{Flatten, Reshape};
