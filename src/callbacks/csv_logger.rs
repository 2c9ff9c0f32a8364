//! `CsvLogger`: one line per epoch in a CSV file.

use crate::callbacks::Callback;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::training::Logs;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Appends each epoch's logs to a CSV file as training runs, as Keras' `CSVLogger`: a header
/// `epoch,<names sorted>`, then one row per epoch, flushed at once so a crash loses nothing.
/// Defaults: separator `,`, append false (the file is replaced when training starts; with
/// append, rows go after the existing ones and the header is written only to an empty file).
pub struct CsvLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    file: Option<File>,
    columns: Option<Vec<String>>,
}

impl CsvLogger {
    /// Logs to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvLogger {
            path: path.into(),
            separator: ',',
            append: false,
            file: None,
            columns: None,
        }
    }

    /// The column separator (default `,`).
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Add to an existing file instead of replacing it (default false).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, model: &mut Model) -> Result<()> {
        if !model.is_chief() {
            // another worker of a distributed fit: the chief writes the file
            self.file = None;
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let has_rows = self.append && std::fs::metadata(&self.path).is_ok_and(|m| m.len() > 0);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        self.file = Some(file);
        // an existing file's header stands
        self.columns = has_rows.then(Vec::new);
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, _: &mut Model) -> Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let sep = self.separator.to_string();
        let mut lines = String::new();
        let columns = self.columns.get_or_insert_with(|| {
            let mut names: Vec<String> = logs.iter().map(|(n, _)| n.to_string()).collect();
            names.sort();
            lines.push_str(&format!("epoch{sep}{}\n", names.join(&sep)));
            names
        });
        if columns.is_empty() {
            // appending: the columns are those of this first row
            columns.extend(logs.iter().map(|(n, _)| n.to_string()));
            columns.sort();
        }
        let values: Vec<String> = columns
            .iter()
            .map(|n| logs.get(n).map_or(String::new(), |v| v.to_string()))
            .collect();
        lines.push_str(&format!("{epoch}{sep}{}\n", values.join(&sep)));
        file.write_all(lines.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }

    fn on_train_end(&mut self, _: &Logs, _: &mut Model) -> Result<()> {
        self.file = None;
        Ok(())
    }
}
