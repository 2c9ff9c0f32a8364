//! Layers: configurations that infer shapes and declare weights, and the Burn modules they
//! build.
//!
//! Every layer, built-in or your own, implements one trait, [`LayerConfig`]; a [`Layer`] holds
//! any of them. The built-in layers are listed once, in `list.rs`; layers of yours are
//! [registered](register) by class name, as Keras' `register_keras_serializable`.

mod activation;
mod batch_norm;
mod built;
mod config;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod initializer;
mod lambda;
mod layer;
mod layer_normalization;
mod list;
pub(crate) mod merge;
mod module;
mod nested;
mod pooling;
mod pooling1d;
mod preprocessing;
mod recurrent;
mod registry;
mod reshape;
mod spatial;
mod time_distributed;
mod weights;
mod wrapped;

pub use activation::{Activation, ActivationLayer, ActivationModule};
pub use batch_norm::BatchNormalization;
pub use built::BuiltLayer;
pub use config::{
    Call, ElementOrder, LayerConfig, Mask, Torch, TorchModule, TorchTensor, snake_case,
};
pub use conv::{Conv1D, Conv2D, ConvKind, ConvModule};
pub use dense::{Dense, DenseModule};
pub use dropout::{Dropout, DropoutModule};
pub use embedding::Embedding;
pub use initializer::Initializer;
pub use lambda::{Lambda, LambdaFn};
pub(crate) use layer::Called;
pub use layer::{Layer, ParamCount};
pub use layer_normalization::LayerNormalization;
pub use list::{LayerModule, ModuleSlot};
pub use merge::{
    Add, Average, Concatenate, Maximum, MergeKind, MergeModule, MergeOp, Minimum, Multiply,
    Subtract,
};
pub use nested::{NestedModel, NestedModule};
pub use pooling::{
    AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D, Pool2D, PoolModule,
};
pub use pooling1d::{AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D};
pub use preprocessing::{
    Factor, FillMode, FlipMode, Interpolation, Normalization, OOV_TOKEN, RandomContrast,
    RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing, Sampling,
    Standardize, TextVectorization,
};
pub use recurrent::{Bidirectional, GRU, LSTM, MergeMode, RecurrentOptions, SimpleRNN};
pub use registry::{is_registered, register};
pub use reshape::{Flatten, Reshape, ReshapeModule};
pub use spatial::{IntoPair, Padding};
pub use time_distributed::TimeDistributed;
pub use weights::{WeightParam, WeightSpec, WeightSpecs, Weights};
pub use wrapped::WrappedModule;
