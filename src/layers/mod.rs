//! Layers: configurations that infer shapes, and the Burn modules they build.

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod initializer;
mod layer;
pub(crate) mod merge;
mod module;
mod nested;
mod pooling;
mod reshape;
mod spatial;

pub use activation::{Activation, ActivationLayer};
pub use batch_norm::BatchNormalization;
pub use conv::{Conv1D, Conv2D, ConvKind, ConvModule};
pub use dense::{Dense, DenseModule};
pub use dropout::{Dropout, DropoutModule};
pub use initializer::Initializer;
pub use layer::{Layer, ParamCount};
pub use merge::{
    Add, Average, Concatenate, Maximum, MergeKind, MergeModule, MergeOp, Minimum, Multiply,
    Subtract,
};
pub use module::{ActivationModule, LayerModule, ReshapeModule, StatelessModule};
pub use nested::{NestedModel, NestedModule};
pub use pooling::{
    AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D,
    Pool2D, PoolModule,
};
pub use reshape::{Flatten, Reshape};
pub use spatial::{IntoPair, Padding};
