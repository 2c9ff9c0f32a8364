//! Optimizers: Keras' configurations and update rules on Burn's optimizer machinery.

mod config;
#[cfg(feature = "flex")]
mod fused;
mod rules;
mod runtime;
mod schedules;

pub use config::{Adam, Optimizer, RmsProp, Sgd};
pub(crate) use runtime::OptimizerState;
pub use schedules::{
    CosineDecay, ExponentialDecay, LearningRate, PiecewiseConstantDecay, Schedule,
};
