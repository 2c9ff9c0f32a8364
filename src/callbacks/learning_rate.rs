//! Callbacks that change the learning rate: `ReduceLROnPlateau` and `LearningRateScheduler`.

use crate::callbacks::Callback;
use crate::callbacks::monitor::{Mode, Monitor};
use crate::error::Result;
use crate::models::Model;
use crate::training::Logs;

/// Multiplies the learning rate by `factor` when `monitor` has not improved for `patience`
/// epochs, as Keras' `ReduceLROnPlateau`. Defaults: monitor `val_loss`, factor 0.1, patience
/// 10, mode auto, min_delta 1e-4, cooldown 0, min_lr 0.
///
/// ```
/// use kiln::callbacks::ReduceLROnPlateau;
/// let reduce = ReduceLROnPlateau::new("val_loss").factor(0.5).patience(2).min_lr(1e-5);
/// # drop(reduce);
/// ```
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    monitor: String,
    factor: f64,
    patience: usize,
    mode: Mode,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    verbose: bool,
    best: Option<f64>,
    wait: usize,
    cooldown_counter: usize,
}

impl ReduceLROnPlateau {
    /// Watches `monitor`.
    pub fn new(monitor: impl Into<String>) -> Self {
        ReduceLROnPlateau {
            monitor: monitor.into(),
            factor: 0.1,
            patience: 10,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            verbose: true,
            best: None,
            wait: 0,
            cooldown_counter: 0,
        }
    }

    /// The factor the rate is multiplied by, in (0, 1) (default 0.1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Epochs without improvement before reducing (default 10).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Whether the value should go down or up (default auto).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The smallest change that counts as an improvement (default 1e-4).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Epochs to wait after a reduction before watching again (default 0).
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The rate is never reduced below this (default 0).
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Print a line at each reduction (default true).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _: &mut Model) -> Result<()> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(crate::Error::config(
                "ReduceLROnPlateau: factor",
                format!(
                    "{} does not reduce the rate; use a factor in (0, 1)",
                    self.factor
                ),
            ));
        }
        self.best = None;
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<()> {
        let monitor = Monitor::new(&self.monitor, self.mode);
        let Some(current) = monitor.read(logs, "ReduceLROnPlateau") else {
            return Ok(());
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if monitor.improves(current, self.best, self.min_delta) {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old = model.learning_rate().unwrap_or(0.0);
                if old > self.min_lr {
                    let new = (old * self.factor).max(self.min_lr);
                    model.set_learning_rate(new)?;
                    if self.verbose {
                        println!(
                            "Epoch {}: ReduceLROnPlateau reducing learning rate to {new}.",
                            epoch + 1
                        );
                    }
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}

/// Sets the learning rate at the start of each epoch to `schedule(epoch, current rate)`, as
/// Keras' `LearningRateScheduler` (epochs 0-based).
///
/// ```
/// use kiln::callbacks::LearningRateScheduler;
/// // keep the rate for 10 epochs, then decay it by 10% per epoch
/// let decay = LearningRateScheduler::new(|epoch, lr| if epoch < 10 { lr } else { lr * 0.9 });
/// # drop(decay);
/// ```
pub struct LearningRateScheduler<'a> {
    schedule: Box<dyn FnMut(usize, f64) -> f64 + 'a>,
    verbose: bool,
}

impl<'a> LearningRateScheduler<'a> {
    /// Uses `schedule(epoch, current rate) -> new rate`.
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + 'a) -> Self {
        LearningRateScheduler {
            schedule: Box::new(schedule),
            verbose: false,
        }
    }

    /// Print the rate set at each epoch (default false).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }
}

impl Callback for LearningRateScheduler<'_> {
    fn on_epoch_begin(&mut self, epoch: usize, model: &mut Model) -> Result<()> {
        let current = model.learning_rate().ok_or(crate::Error::NotCompiled {
            method: "LearningRateScheduler",
        })?;
        let lr = (self.schedule)(epoch, current);
        model.set_learning_rate(lr).map_err(|e| {
            crate::Error::config(
                "LearningRateScheduler",
                format!("the schedule gave {lr} for epoch {epoch}: {e}"),
            )
        })?;
        if self.verbose {
            println!(
                "Epoch {}: LearningRateScheduler setting learning rate to {lr}.",
                epoch + 1
            );
        }
        Ok(())
    }
}
