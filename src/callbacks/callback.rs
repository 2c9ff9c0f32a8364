//! The `Callback` trait: hooks into `fit`, `evaluate` and `predict`, each doing nothing unless
//! a callback overrides it.

use crate::error::Result;
use crate::models::Model;
use crate::training::Logs;
use std::cell::OnceCell;

/// Something that runs at fixed points of training, evaluation and prediction, like Keras'
/// `keras.callbacks.Callback`. Every hook does nothing by default; override the ones you need.
///
/// Training hooks get the model mutably: a callback can stop training
/// ([`Model::stop_training`]), read and set the learning rate ([`Model::learning_rate`],
/// [`Model::set_learning_rate`]), and read and set the weights ([`Model::get_weights`],
/// [`Model::set_weights`]). Evaluation and prediction hooks see it read-only. A hook that
/// returns an error ends the call (`fit`, `evaluate`, `predict`) with that error.
///
/// Epochs and batches are 0-based, as in Keras. Batch-end hooks get [`BatchLogs`], the running
/// means of the epoch so far, read from the device only when a callback asks.
///
/// ```
/// use kiln::callbacks::{BatchLogs, Callback};
/// use kiln::{Logs, Model};
///
/// /// Stops once the training loss drops under a threshold.
/// struct StopBelow(f64);
///
/// impl Callback for StopBelow {
///     fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, model: &mut Model) -> kiln::Result<()> {
///         if logs.get("loss").is_some_and(|l| l < self.0) {
///             model.stop_training();
///         }
///         Ok(())
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Callback {
    /// Before the first epoch of `fit`.
    fn on_train_begin(&mut self, model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// After the last epoch of `fit`, with the last epoch's logs.
    fn on_train_end(&mut self, logs: &Logs, model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// Before each epoch.
    fn on_epoch_begin(&mut self, epoch: usize, model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// After each epoch, with its training values and (with validation) `val_` values.
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// Before each training batch.
    fn on_train_batch_begin(&mut self, batch: usize, model: &mut Model) -> Result<()> {
        Ok(())
    }
    /// After each training batch.
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &BatchLogs<'_>,
        model: &mut Model,
    ) -> Result<()> {
        Ok(())
    }
    /// Before `evaluate` (and each validation of `fit`).
    fn on_test_begin(&mut self, model: &Model) -> Result<()> {
        Ok(())
    }
    /// After `evaluate` (and each validation of `fit`), with its scores.
    fn on_test_end(&mut self, logs: &Logs, model: &Model) -> Result<()> {
        Ok(())
    }
    /// Before each evaluation batch.
    fn on_test_batch_begin(&mut self, batch: usize, model: &Model) -> Result<()> {
        Ok(())
    }
    /// After each evaluation batch.
    fn on_test_batch_end(
        &mut self,
        batch: usize,
        logs: &BatchLogs<'_>,
        model: &Model,
    ) -> Result<()> {
        Ok(())
    }
    /// Before `predict`.
    fn on_predict_begin(&mut self, model: &Model) -> Result<()> {
        Ok(())
    }
    /// After `predict`.
    fn on_predict_end(&mut self, model: &Model) -> Result<()> {
        Ok(())
    }
    /// Before each prediction batch.
    fn on_predict_batch_begin(&mut self, batch: usize, model: &Model) -> Result<()> {
        Ok(())
    }
    /// After each prediction batch.
    fn on_predict_batch_end(&mut self, batch: usize, model: &Model) -> Result<()> {
        Ok(())
    }
}

/// The logs of a batch: running means of the loss and metrics over the epoch (or evaluation)
/// so far. They live on the device; the first call to [`BatchLogs::logs`] or
/// [`BatchLogs::get`] reads them, later calls reuse that reading.
pub struct BatchLogs<'a> {
    read: &'a dyn Fn() -> Logs,
    cache: OnceCell<Logs>,
}

impl<'a> BatchLogs<'a> {
    /// Logs read by `read` when first asked for.
    pub(crate) fn new(read: &'a dyn Fn() -> Logs) -> Self {
        BatchLogs {
            read,
            cache: OnceCell::new(),
        }
    }

    /// Every value.
    pub fn logs(&self) -> &Logs {
        self.cache.get_or_init(|| (self.read)())
    }

    /// The value named `name` (`loss`, `accuracy`).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.logs().get(name)
    }
}
