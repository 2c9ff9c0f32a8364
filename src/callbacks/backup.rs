//! `BackupAndRestore`: resume a killed training run where it stopped.

use crate::callbacks::Callback;
use crate::error::{Error, Result};
use crate::io::SaveOptions;
use crate::models::Model;
use crate::training::Logs;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FILE: &str = "backup.safetensors";
const EPOCH_KEY: &str = "kiln.backup_epoch";

/// Backs the model up at the end of every epoch, and when `fit` starts with a backup there,
/// restores it and resumes after its epoch, as Keras' `BackupAndRestore`.
///
/// A backup holds the weights, the optimizer's state and step count, and the epoch: a run
/// killed mid-training and started again (same model, same data, same `fit` options, same
/// seed) ends with the weights an uninterrupted run would have. Dropout masks are drawn anew
/// after a restart, so models with dropout resume on the same weights but a different draw.
/// The backup is written atomically and deleted when training ends normally. In a
/// multi-process fit the chief (rank 0) writes and restores it; the strategy gives every
/// worker the chief's weights, optimizer state and epoch.
///
/// ```
/// use kiln::callbacks::BackupAndRestore;
/// let mut backup = BackupAndRestore::new("runs/backup");
/// // model.fit(&x, &y, FitOptions::default().epochs(50).callback(&mut backup))?;
/// # drop(backup);
/// ```
#[derive(Clone, Debug)]
pub struct BackupAndRestore {
    dir: PathBuf,
    delete_on_train_end: bool,
    restored_epoch: Option<usize>,
}

impl BackupAndRestore {
    /// Keeps its backup in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BackupAndRestore {
            dir: dir.into(),
            delete_on_train_end: true,
            restored_epoch: None,
        }
    }

    /// Whether to delete the backup when training ends normally (default true).
    pub fn delete_on_train_end(mut self, delete: bool) -> Self {
        self.delete_on_train_end = delete;
        self
    }

    /// The last epoch (0-based) of the backup the last `fit` resumed from, if it resumed.
    pub fn restored_epoch(&self) -> Option<usize> {
        self.restored_epoch
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, model: &mut Model) -> Result<()> {
        self.restored_epoch = None;
        let path = self.path();
        // in a distributed fit the chief restores, and the strategy hands its weights,
        // optimizer state and epoch to the other workers
        if !model.is_chief() || !path.exists() {
            return Ok(());
        }
        let metadata = model.restore_from(&path)?;
        let epoch: usize = metadata
            .get(EPOCH_KEY)
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| {
                Error::format(&path, "it is not a BackupAndRestore backup (no epoch)")
            })?;
        println!("Restored the backup of epoch {}; resuming.", epoch + 1);
        self.restored_epoch = Some(epoch);
        model.resume_epoch = Some(epoch + 1);
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, _: &Logs, model: &mut Model) -> Result<()> {
        if !model.is_chief() {
            return Ok(());
        }
        let extra = HashMap::from([(EPOCH_KEY.to_string(), epoch.to_string())]);
        let options = SaveOptions::default().include_optimizer(true);
        model.save_with_metadata(&self.path(), options, extra)
    }

    fn on_train_end(&mut self, _: &Logs, model: &mut Model) -> Result<()> {
        let path = self.path();
        if model.is_chief() && self.delete_on_train_end && path.exists() {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            if is_empty_dir(&self.dir) {
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
        Ok(())
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}
