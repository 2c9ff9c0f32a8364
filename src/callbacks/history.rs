//! `History` as the callback `fit` installs, and its export to CSV and JSON.

use crate::callbacks::Callback;
use crate::error::Result;
use crate::io::write_atomic;
use crate::models::Model;
use crate::training::{History, Logs};
use std::path::Path;

impl Callback for History {
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, _: &mut Model) -> Result<()> {
        self.push(epoch, logs);
        Ok(())
    }
}

impl History {
    /// One row per epoch: `epoch` (0-based), then every value, names sorted as Keras'
    /// `CSVLogger` writes them.
    ///
    /// ```
    /// let mut h = kiln::History::default();
    /// let mut logs = kiln::Logs::default();
    /// logs.insert("loss", 0.5);
    /// logs.insert("accuracy", 0.75);
    /// h.push(0, &logs);
    /// assert_eq!(h.to_csv(), "epoch,accuracy,loss\n0,0.75,0.5\n");
    /// ```
    pub fn to_csv(&self) -> String {
        let mut names: Vec<&str> = self.names().collect();
        names.sort();
        let mut out = format!("epoch,{}\n", names.join(","));
        for (row, epoch) in self.epochs().iter().enumerate() {
            let values: Vec<String> = names
                .iter()
                .map(|n| {
                    self.get(n)
                        .and_then(|v| v.get(row))
                        .map_or(String::new(), |v| v.to_string())
                })
                .collect();
            out.push_str(&format!("{epoch},{}\n", values.join(",")));
        }
        out
    }

    /// `{"epoch": [0, 1], "loss": [...], ...}`, the shape of Keras' `history.history` with the
    /// epochs added.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("epoch".into(), serde_json::json!(self.epochs()));
        for name in self.names() {
            map.insert(name.into(), serde_json::json!(self.get(name)));
        }
        // string keys and f64 values: serde_json has no error for them (a NaN writes as null)
        serde_json::to_string_pretty(&map).expect("numbers serialize")
    }

    /// Writes [`History::to_csv`] to `path` (atomically).
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Writes [`History::to_json`] to `path` (atomically).
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_json().as_bytes())
    }
}
