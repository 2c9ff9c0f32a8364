//! `Logs` (named values of one moment) and `History` (their values per epoch).

use std::fmt;

/// Named metric values, in the order they were computed: `loss`, then the metrics, then their
/// `val_` counterparts. `evaluate` returns one; `fit` records one per epoch.
///
/// ```
/// let mut logs = kiln::Logs::default();
/// logs.insert("loss", 0.25);
/// logs.insert("accuracy", 0.9);
/// assert_eq!(logs.get("loss"), Some(0.25));
/// assert_eq!(logs.to_string(), "accuracy: 0.9000 - loss: 0.2500");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs(Vec<(String, f64)>);

impl Logs {
    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn insert(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// The names and values, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every value with `prefix` before its name (`val_`).
    pub(crate) fn prefixed(&self, prefix: &str) -> Logs {
        Logs(
            self.0
                .iter()
                .map(|(n, v)| (format!("{prefix}{n}"), *v))
                .collect(),
        )
    }

    /// Adds every value of `other`.
    pub(crate) fn extend(&mut self, other: Logs) {
        for (n, v) in other.0 {
            self.insert(n, v);
        }
    }
}

/// Keras' progress-bar format: names sorted, ` - ` between, four decimals (or an exponent for
/// values below 1e-3).
impl fmt::Display for Logs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<_> = self.0.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (name, value)) in sorted.into_iter().enumerate() {
            if i > 0 {
                f.write_str(" - ")?;
            }
            if *value != 0.0 && value.abs() < 1e-3 {
                write!(f, "{name}: {value:.4e}")?;
            } else {
                write!(f, "{name}: {value:.4}")?;
            }
        }
        Ok(())
    }
}

/// What `fit` returns: every logged value, per epoch.
///
/// ```
/// let mut h = kiln::History::default();
/// let mut logs = kiln::Logs::default();
/// logs.insert("loss", 0.5);
/// h.push(0, &logs);
/// assert_eq!(h.get("loss"), Some(&[0.5][..]));
/// assert_eq!(h.epochs(), &[0]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    epochs: Vec<usize>,
    values: Vec<(String, Vec<f64>)>,
}

impl History {
    /// Records the logs of `epoch` (0-based, as Keras' `history.epoch`).
    pub fn push(&mut self, epoch: usize, logs: &Logs) {
        self.epochs.push(epoch);
        for (name, value) in logs.iter() {
            match self.values.iter_mut().find(|(n, _)| n == name) {
                Some((_, series)) => series.push(value),
                None => self.values.push((name.to_string(), vec![value])),
            }
        }
    }

    /// The epochs recorded, 0-based.
    pub fn epochs(&self) -> &[usize] {
        &self.epochs
    }

    /// The values of `name` per epoch (`loss`, `val_accuracy`…).
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The names recorded, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(n, _)| n.as_str())
    }

    /// The last value of `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.last().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_keras_progress() {
        let mut logs = Logs::default();
        logs.insert("loss", 0.26291);
        logs.insert("accuracy", 0.92431);
        logs.insert("val_loss", 0.00012);
        assert_eq!(
            logs.to_string(),
            "accuracy: 0.9243 - loss: 0.2629 - val_loss: 1.2000e-4"
        );
    }

    #[test]
    fn history_keeps_series_per_name() {
        let mut h = History::default();
        for e in 0..3 {
            let mut l = Logs::default();
            l.insert("loss", 1.0 / (e + 1) as f64);
            l.insert("val_loss", 2.0);
            h.push(e, &l);
        }
        assert_eq!(h.get("loss").unwrap().len(), 3);
        assert_eq!(h.last("loss"), Some(1.0 / 3.0));
        assert_eq!(h.names().collect::<Vec<_>>(), vec!["loss", "val_loss"]);
    }
}
