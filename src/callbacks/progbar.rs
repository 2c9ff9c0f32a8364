//! The progress bar of `fit`, `evaluate` and `predict`, as a callback (Keras' `ProgbarLogger`).

use crate::callbacks::{BatchLogs, Callback};
use crate::error::Result;
use crate::models::Model;
use crate::training::Logs;
use crate::training::progress::Progress;

/// Which call the bar follows; it ignores the hooks of the others (the validation inside `fit`
/// draws nothing, as in Keras).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Fit,
    Evaluate,
    Predict,
}

/// Draws one bar per epoch (or per evaluation), then its final line.
pub(crate) struct ProgbarLogger {
    mode: Mode,
    verbose: u8,
    steps: usize,
    epochs: usize,
    current: Option<Progress>,
}

impl ProgbarLogger {
    /// A bar over `steps` batches (per epoch for `fit`, of `epochs`).
    pub(crate) fn new(mode: Mode, verbose: u8, steps: usize, epochs: usize) -> Self {
        ProgbarLogger {
            mode,
            verbose,
            steps,
            epochs,
            current: None,
        }
    }

    fn start(&mut self) {
        self.current = Some(Progress::new(self.verbose, self.steps));
    }

    fn update(&mut self, batch: usize, logs: impl FnOnce() -> Logs) {
        if let Some(p) = &mut self.current
            && p.wants_update()
            && batch + 1 < self.steps
        {
            p.update(batch + 1, &logs());
        }
    }

    fn finish(&mut self, logs: &Logs) {
        if let Some(p) = self.current.take() {
            p.finish(logs);
        }
    }
}

impl Callback for ProgbarLogger {
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut Model) -> Result<()> {
        Progress::epoch_header(self.verbose, epoch, self.epochs);
        self.start();
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &BatchLogs<'_>,
        _: &mut Model,
    ) -> Result<()> {
        self.update(batch, || logs.logs().clone());
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, logs: &Logs, _: &mut Model) -> Result<()> {
        self.finish(logs);
        Ok(())
    }

    fn on_test_begin(&mut self, _: &Model) -> Result<()> {
        if self.mode == Mode::Evaluate {
            self.start();
        }
        Ok(())
    }

    fn on_test_batch_end(&mut self, batch: usize, logs: &BatchLogs<'_>, _: &Model) -> Result<()> {
        if self.mode == Mode::Evaluate {
            self.update(batch, || logs.logs().clone());
        }
        Ok(())
    }

    fn on_test_end(&mut self, logs: &Logs, _: &Model) -> Result<()> {
        if self.mode == Mode::Evaluate {
            self.finish(logs);
        }
        Ok(())
    }

    fn on_predict_begin(&mut self, _: &Model) -> Result<()> {
        self.start();
        Ok(())
    }

    fn on_predict_batch_end(&mut self, batch: usize, _: &Model) -> Result<()> {
        self.update(batch, Logs::default);
        Ok(())
    }

    fn on_predict_end(&mut self, _: &Model) -> Result<()> {
        self.finish(&Logs::default());
        Ok(())
    }
}
