//! Callbacks: code that runs at fixed points of `fit`, `evaluate` and `predict`.
//!
//! Implement [`Callback`] (every hook does nothing by default) or use the built-ins. `fit`
//! installs the progress bar and the [`History`](crate::History) as ordinary callbacks around
//! the ones given with [`FitOptions::callback`](crate::FitOptions::callback).

mod callback;
mod history;
mod list;
pub(crate) mod progbar;

pub use callback::{BatchLogs, Callback};
pub(crate) use list::CallbackList;
