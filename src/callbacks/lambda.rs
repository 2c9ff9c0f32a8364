//! `LambdaCallback`: a callback made of closures.

use crate::callbacks::{BatchLogs, Callback};
use crate::error::Result;
use crate::models::Model;
use crate::training::Logs;

type EpochFn<'a> = Box<dyn FnMut(usize, &mut Model) + 'a>;
type EpochLogsFn<'a> = Box<dyn FnMut(usize, &Logs, &mut Model) + 'a>;
type BatchLogsFn<'a> = Box<dyn FnMut(usize, &BatchLogs<'_>, &mut Model) + 'a>;
type TrainFn<'a> = Box<dyn FnMut(&mut Model) + 'a>;
type TrainLogsFn<'a> = Box<dyn FnMut(&Logs, &mut Model) + 'a>;

/// A callback built from closures, one per training hook, as Keras' `LambdaCallback`.
///
/// ```
/// use kiln::callbacks::LambdaCallback;
/// let mut losses = Vec::new();
/// let log_loss = LambdaCallback::new().on_epoch_end(|_epoch, logs, _model| {
///     losses.push(logs.get("loss"));
/// });
/// # drop(log_loss);
/// ```
#[derive(Default)]
pub struct LambdaCallback<'a> {
    train_begin: Option<TrainFn<'a>>,
    train_end: Option<TrainLogsFn<'a>>,
    epoch_begin: Option<EpochFn<'a>>,
    epoch_end: Option<EpochLogsFn<'a>>,
    batch_begin: Option<EpochFn<'a>>,
    batch_end: Option<BatchLogsFn<'a>>,
}

impl<'a> LambdaCallback<'a> {
    /// A callback that does nothing until given closures.
    pub fn new() -> Self {
        LambdaCallback::default()
    }

    /// Runs `f(model)` before training.
    pub fn on_train_begin(mut self, f: impl FnMut(&mut Model) + 'a) -> Self {
        self.train_begin = Some(Box::new(f));
        self
    }

    /// Runs `f(logs, model)` after training.
    pub fn on_train_end(mut self, f: impl FnMut(&Logs, &mut Model) + 'a) -> Self {
        self.train_end = Some(Box::new(f));
        self
    }

    /// Runs `f(epoch, model)` before each epoch.
    pub fn on_epoch_begin(mut self, f: impl FnMut(usize, &mut Model) + 'a) -> Self {
        self.epoch_begin = Some(Box::new(f));
        self
    }

    /// Runs `f(epoch, logs, model)` after each epoch.
    pub fn on_epoch_end(mut self, f: impl FnMut(usize, &Logs, &mut Model) + 'a) -> Self {
        self.epoch_end = Some(Box::new(f));
        self
    }

    /// Runs `f(batch, model)` before each training batch.
    pub fn on_train_batch_begin(mut self, f: impl FnMut(usize, &mut Model) + 'a) -> Self {
        self.batch_begin = Some(Box::new(f));
        self
    }

    /// Runs `f(batch, logs, model)` after each training batch.
    pub fn on_train_batch_end(
        mut self,
        f: impl FnMut(usize, &BatchLogs<'_>, &mut Model) + 'a,
    ) -> Self {
        self.batch_end = Some(Box::new(f));
        self
    }
}

impl Callback for LambdaCallback<'_> {
    fn on_train_begin(&mut self, model: &mut Model) -> Result<()> {
        if let Some(f) = &mut self.train_begin {
            f(model);
        }
        Ok(())
    }

    fn on_train_end(&mut self, logs: &Logs, model: &mut Model) -> Result<()> {
        if let Some(f) = &mut self.train_end {
            f(logs, model);
        }
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, model: &mut Model) -> Result<()> {
        if let Some(f) = &mut self.epoch_begin {
            f(epoch, model);
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<()> {
        if let Some(f) = &mut self.epoch_end {
            f(epoch, logs, model);
        }
        Ok(())
    }

    fn on_train_batch_begin(&mut self, batch: usize, model: &mut Model) -> Result<()> {
        if let Some(f) = &mut self.batch_begin {
            f(batch, model);
        }
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &BatchLogs<'_>,
        model: &mut Model,
    ) -> Result<()> {
        if let Some(f) = &mut self.batch_end {
            f(batch, logs, model);
        }
        Ok(())
    }
}
