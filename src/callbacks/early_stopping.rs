//! `EarlyStopping`: stop when a monitored value stops improving.

use crate::callbacks::Callback;
use crate::callbacks::monitor::{Mode, Monitor};
use crate::error::Result;
use crate::models::Model;
use crate::training::Logs;
use ndarray::ArrayD;

/// Stops `fit` when `monitor` has not improved for `patience` epochs, as Keras'
/// `EarlyStopping`. Defaults: monitor `val_loss`, min_delta 0, patience 0, mode auto, no
/// baseline, restore_best_weights false, start_from_epoch 0.
///
/// With `restore_best_weights`, the weights of the best epoch are put back when training stops
/// early, and also when it runs to its last epoch (Keras restores only in the first case,
/// keras#12511).
///
/// ```
/// use kiln::callbacks::EarlyStopping;
/// let mut stop = EarlyStopping::new("val_loss").patience(2).restore_best_weights(true);
/// // model.fit(&x, &y, FitOptions::default().validation_split(0.1).callback(&mut stop))?;
/// assert_eq!(stop.stopped_epoch(), None);
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    mode: Mode,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    verbose: bool,
    // state of one fit
    wait: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    best_weights: Option<Vec<(String, ArrayD<f32>)>>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches `monitor` (`val_loss`, `val_accuracy`, `loss`…).
    pub fn new(monitor: impl Into<String>) -> Self {
        EarlyStopping {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            verbose: true,
            wait: 0,
            best: None,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
        }
    }

    /// The smallest change that counts as an improvement (default 0).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Epochs without improvement before stopping (default 0).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Whether the value should go down or up (default auto).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// A value to beat: training stops after `patience` epochs that do not beat it (default
    /// none).
    pub fn baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// Put back the weights of the best epoch at the end (default false).
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Epochs to train before watching (a warm-up; default 0).
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// Print a line when stopping and restoring (default true).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// The epoch (0-based) at which the last `fit` stopped early, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    /// The best epoch (0-based) of the last `fit`, if any value was seen.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// The best value of the last `fit`.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    fn restore(&mut self, model: &mut Model) -> Result<()> {
        if let Some(weights) = self.best_weights.take() {
            if self.verbose {
                println!(
                    "Restoring model weights from the end of the best epoch: {}.",
                    self.best_epoch.map_or(0, |e| e + 1)
                );
            }
            model.set_weights(&weights)?;
        }
        Ok(())
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _: &mut Model) -> Result<()> {
        self.wait = 0;
        self.best = None;
        self.best_epoch = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<()> {
        let monitor = Monitor::new(&self.monitor, self.mode);
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        let Some(current) = monitor.read(logs, "EarlyStopping") else {
            return Ok(());
        };
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(model.get_weights());
        }
        self.wait += 1;
        if monitor.improves(current, self.best, self.min_delta) {
            self.best = Some(current);
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(model.get_weights());
            }
            if self
                .baseline
                .is_none_or(|b| monitor.improves(current, Some(b), self.min_delta))
            {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            model.stop_training();
            if self.restore_best_weights {
                self.restore(model)?;
            }
        }
        Ok(())
    }

    fn on_train_end(&mut self, _: &Logs, model: &mut Model) -> Result<()> {
        if let Some(epoch) = self.stopped_epoch
            && self.verbose
        {
            println!("Epoch {}: early stopping", epoch + 1);
        }
        if self.restore_best_weights && self.stopped_epoch.is_none() {
            // ran to the last epoch: the best weights go back too (keras#12511)
            self.restore(model)?;
        }
        Ok(())
    }
}
