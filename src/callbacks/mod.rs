//! Callbacks: code that runs at fixed points of `fit`, `evaluate` and `predict`.
//!
//! Implement [`Callback`] (every hook does nothing by default) or use the built-ins. `fit`
//! installs the progress bar and the [`History`](crate::History) as ordinary callbacks around
//! the ones given with [`FitOptions::callback`](crate::FitOptions::callback).

mod backup;
mod callback;
mod checkpoint;
mod csv_logger;
mod early_stopping;
mod history;
mod lambda;
mod learning_rate;
mod list;
mod monitor;
pub(crate) mod plot;
pub(crate) mod progbar;
mod tensorboard;
mod terminate_on_nan;

pub use backup::BackupAndRestore;
pub use callback::{BatchLogs, Callback};
pub use checkpoint::ModelCheckpoint;
pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use lambda::LambdaCallback;
pub use learning_rate::{LearningRateScheduler, ReduceLROnPlateau};
pub(crate) use list::CallbackList;
pub use monitor::Mode;
pub use tensorboard::{TensorBoard, UpdateFreq};
pub use terminate_on_nan::TerminateOnNaN;
