//! # kiln
//!
//! Keras-style deep learning for Rust, built on [Burn](https://burn.dev): define a model in a
//! few lines, train it with `fit`, score it with `evaluate`, use it with `predict`.
//!
//! ```no_run
//! use kiln::prelude::*;
//!
//! # fn main() -> kiln::Result<()> {
//! let mnist = kiln::datasets::mnist::load_data()?;
//! let x_train = mnist.x_train.mapv(|v| v as f32 / 255.0).into_shape_with_order((60_000, 784)).unwrap();
//! let y_train = kiln::to_categorical(mnist.y_train.as_slice().unwrap(), 10)?;
//!
//! let mut model = Sequential::new()
//!     .input([784])
//!     .add(Dense::new(512).activation(Relu))
//!     .add(Dense::new(10).activation(Softmax))
//!     .compile(Optimizer::rmsprop(1e-3), Loss::CategoricalCrossentropy, &[Metric::Accuracy])?;
//! println!("{}", model.summary());
//! let history = model.fit(&x_train, &y_train, FitOptions::default().epochs(5).batch_size(128))?;
//! println!("final loss: {:?}", history.last("loss"));
//! # Ok(())
//! # }
//! ```
//!
//! ## How it fits together
//!
//! - [`layers`]: layer configurations ([`layers::Dense`], [`layers::Dropout`]…) that infer their
//!   output shape and build a Burn module.
//! - [`graph`]: the graph every model lowers to, and [`graph::Network`], the Burn module that
//!   runs it.
//! - [`models`]: [`Sequential`], the Functional API ([`Input`], [`SymbolicTensor`],
//!   [`Functional`]), the built [`Model`] and its [`Summary`].
//! - [`training`]: optimizers with Keras' update rules and learning-rate schedules, losses,
//!   metrics, `fit` options, [`History`].
//! - [`callbacks`]: hooks into `fit`, `evaluate` and `predict`, and Keras' built-ins
//!   (`EarlyStopping`, `ModelCheckpoint`, `BackupAndRestore`…).
//! - [`data`] and [`datasets`]: host arrays in and out, MNIST.
//! - [`distribute`]: training on several devices or (with the `mpi` feature) processes.
//! - [`io`]: weights as safetensors (Keras' or PyTorch's layout), the architecture as JSON,
//!   whole models in one file.
//! - [`backend`]: devices, the one place that names Burn's backends.
//!
//! Every call that can fail on user input returns a [`Result`] whose [`Error`] names the
//! layer, the shapes or the file involved.

pub mod backend;
pub mod callbacks;
pub mod data;
pub mod datasets;
pub mod distribute;
mod error;
pub mod graph;
pub mod io;
pub mod layers;
pub mod models;
pub mod ops;
pub mod random;
mod shape;
pub mod training;

pub use backend::{Device, DeviceChoice};
pub use data::{HostArray, ToArrays, ToHostArray, to_categorical};
pub use error::{Error, Result};
pub use graph::Value;
pub use io::{WeightLayout, load_model, load_model_on};
pub use layers::{Activation, Layer, LayerConfig};
pub use models::{Functional, Input, Model, Sequential, Summary, SymbolicTensor};
pub use random::set_random_seed;
pub use shape::Shape;
pub use training::{
    EvalOptions, FitOptions, History, Logs, Loss, LossConfig, Losses, Metric, Metrics, Optimizer,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The example of `models/README.md`, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../models/README.md")]
pub struct ModelsReadmeDoctests;

/// Everything a model definition needs, in one import.
pub mod prelude {
    pub use crate::layers::Activation::{self, *};
    pub use crate::layers::{
        ActivationLayer, Add, Average, AveragePooling1D, AveragePooling2D, BatchNormalization,
        Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten, GRU,
        GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
        LSTM, Lambda, LayerNormalization, MaxPooling1D, MaxPooling2D, Maximum, MergeMode, Minimum,
        Multiply, Normalization, Padding, RandomContrast, RandomFlip, RandomRotation,
        RandomTranslation, RandomZoom, Rescaling, Reshape, Resizing, SimpleRNN, Subtract,
        TextVectorization, TimeDistributed,
    };
    pub use crate::models::{Apply, SharedLayer};
    pub use crate::{
        Device, DeviceChoice, EvalOptions, FitOptions, Functional, Input, Loss, Losses, Metric,
        Metrics, Model, Optimizer, Sequential, SymbolicTensor,
    };
}
