//! Training: optimizers, losses, metrics, and the loops of `fit`, `evaluate` and `predict`.

mod compiled;
pub(crate) mod feed;
mod logs;
mod loops;
mod loss;
mod metrics;
pub mod optimizers;
mod options;
mod per_output;
pub(crate) mod progress;

pub(crate) use compiled::{Compiled, Running, Scores};
pub use logs::{History, Logs};
pub(crate) use loops::{evaluate, fit, inputs, predict, train_step};
pub(crate) use loss::Target;
pub use loss::{Loss, LossConfig};
pub use metrics::Metric;
pub use optimizers::Optimizer;
pub use options::{EvalOptions, FitOptions};
pub(crate) use per_output::quoted;
pub use per_output::{Losses, Metrics, PerOutput};
