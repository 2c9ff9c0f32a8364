//! What EarlyStopping, ModelCheckpoint and ReduceLROnPlateau share: a monitored value and the
//! direction in which it improves.

use crate::training::Logs;
use serde::{Deserialize, Serialize};

/// Whether the monitored value improves by going down or up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Up for names containing `acc` (accuracies), down otherwise (losses, errors). The default.
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// A monitored value with its direction.
#[derive(Clone, Debug)]
pub(crate) struct Monitor {
    pub name: String,
    pub maximize: bool,
}

impl Monitor {
    pub(crate) fn new(name: &str, mode: Mode) -> Self {
        let maximize = match mode {
            Mode::Max => true,
            Mode::Min => false,
            Mode::Auto => name.contains("acc"),
        };
        Monitor {
            name: name.to_string(),
            maximize,
        }
    }

    /// The monitored value in `logs`; warns (once per call) when it is missing.
    pub(crate) fn read(&self, logs: &Logs, who: &str) -> Option<f64> {
        let value = logs.get(&self.name);
        if value.is_none() {
            let names: Vec<&str> = logs.iter().map(|(n, _)| n).collect();
            eprintln!(
                "{who}: `{}` is not in the logs (available: {}); skipping. Validation values \
                 (`val_`) need validation data or validation_split.",
                self.name,
                names.join(", ")
            );
        }
        value
    }

    /// Whether `value` beats `best` by more than `min_delta`.
    pub(crate) fn improves(&self, value: f64, best: Option<f64>, min_delta: f64) -> bool {
        match best {
            None => !value.is_nan(),
            Some(best) if self.maximize => value - min_delta > best,
            Some(best) => value + min_delta < best,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_mode_maximizes_accuracies_only() {
        assert!(Monitor::new("val_accuracy", Mode::Auto).maximize);
        assert!(!Monitor::new("val_loss", Mode::Auto).maximize);
        assert!(Monitor::new("val_loss", Mode::Max).maximize);
    }

    #[test]
    fn improvement_needs_more_than_min_delta() {
        let m = Monitor::new("loss", Mode::Min);
        assert!(m.improves(0.5, None, 0.0));
        assert!(m.improves(0.49, Some(0.5), 0.0));
        assert!(!m.improves(0.495, Some(0.5), 0.01));
        assert!(!m.improves(f64::NAN, Some(0.5), 0.0));
        let m = Monitor::new("accuracy", Mode::Auto);
        assert!(m.improves(0.9, Some(0.8), 0.05));
        assert!(!m.improves(0.84, Some(0.8), 0.05));
    }
}
