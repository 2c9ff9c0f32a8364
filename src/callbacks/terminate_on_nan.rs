//! `TerminateOnNaN`: stop when the loss stops being a number.

use crate::callbacks::{BatchLogs, Callback};
use crate::error::Result;
use crate::models::Model;

/// Stops `fit` at the first batch whose loss is NaN or infinite, as Keras' `TerminateOnNaN`.
/// It reads the loss from the device after every batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminateOnNaN {
    terminated_at: Option<usize>,
}

impl TerminateOnNaN {
    /// The callback.
    pub fn new() -> Self {
        TerminateOnNaN::default()
    }

    /// The batch (0-based, within its epoch) at which the last `fit` was stopped, if it was.
    pub fn terminated_at(&self) -> Option<usize> {
        self.terminated_at
    }
}

impl Callback for TerminateOnNaN {
    fn on_train_begin(&mut self, _: &mut Model) -> Result<()> {
        self.terminated_at = None;
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &BatchLogs<'_>,
        model: &mut Model,
    ) -> Result<()> {
        if let Some(loss) = logs.get("loss")
            && !loss.is_finite()
        {
            println!("Batch {batch}: Invalid loss, terminating training");
            self.terminated_at = Some(batch);
            model.stop_training();
        }
        Ok(())
    }
}
