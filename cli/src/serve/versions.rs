//! The versions of the served model: TensorFlow Serving's layout (`DIR/1/`, `DIR/2/`, each
//! holding a kiln model file), polled for new versions. The highest version that loads is
//! served; a new one is loaded beside the old, then swapped in, so no request fails; one that
//! does not load is reported (log, status endpoint, metrics) and the previous one keeps
//! serving. A broken version is tried again once its file changes.

use crate::serve::batcher::{Batcher, BatchingOptions};
use crate::serve::metrics::{Metrics, ModelLabels};
use crate::tf_json::Signature;
use kiln::Device;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime};

/// Where versions come from.
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// TensorFlow Serving's `--model_base_path`: numeric version folders.
    Base(PathBuf),
    /// One model file, served as version 1.
    File(PathBuf),
}

/// A loaded version: what it takes and gives, and the queue to its model.
pub struct Loaded {
    pub version: u64,
    pub signature: Signature,
    pub batcher: Batcher,
}

/// A version's state, as `model_version_status` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionStatus {
    pub version: u64,
    /// `LOADING`, `AVAILABLE` or `END` (unloaded, or failed with `error`).
    pub state: &'static str,
    pub error: Option<String>,
}

/// A version file's identity: a broken version is retried when it changes.
type Fingerprint = Option<(PathBuf, u64, Option<SystemTime>)>;

pub struct Versions {
    pub name: String,
    source: ModelSource,
    device: Device,
    batching: BatchingOptions,
    metrics: Arc<Metrics>,
    served: RwLock<Option<Arc<Loaded>>>,
    statuses: Mutex<BTreeMap<u64, VersionStatus>>,
    broken: Mutex<BTreeMap<u64, Fingerprint>>,
}

impl Versions {
    pub fn new(
        name: String,
        source: ModelSource,
        device: Device,
        batching: BatchingOptions,
        metrics: Arc<Metrics>,
    ) -> Versions {
        Versions {
            name,
            source,
            device,
            batching,
            metrics,
            served: RwLock::new(None),
            statuses: Mutex::new(BTreeMap::new()),
            broken: Mutex::new(BTreeMap::new()),
        }
    }

    /// The version answering requests that name none.
    pub fn served(&self) -> Option<Arc<Loaded>> {
        self.served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Version `version`, if it is the one loaded.
    pub fn version(&self, version: u64) -> Option<Arc<Loaded>> {
        self.served().filter(|l| l.version == version)
    }

    /// Every version seen, or one.
    pub fn statuses(&self, version: Option<u64>) -> Vec<VersionStatus> {
        let statuses = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
        statuses
            .values()
            .filter(|s| version.is_none_or(|v| s.version == v))
            .rev()
            .cloned()
            .collect()
    }

    /// One look at the source: loads and swaps in the highest version that is not served
    /// yet and not known broken.
    pub fn poll(&self) {
        let candidates = match self.candidates() {
            Ok(c) => c,
            Err(message) => {
                log(&format!("{}: {message}", self.name));
                return;
            }
        };
        let served = self.served().map(|l| l.version);
        for (version, dir_or_file) in candidates.into_iter().rev() {
            if Some(version) == served {
                return;
            }
            if served.is_some_and(|s| version < s) {
                return;
            }
            let (file, fingerprint) = model_file(&dir_or_file);
            if self.is_broken(version, &fingerprint) {
                continue;
            }
            self.set_status(version, "LOADING", None);
            match file.and_then(|f| self.load(version, &f)) {
                Ok(loaded) => {
                    self.swap_in(loaded);
                    return;
                }
                Err(message) => {
                    log(&format!(
                        "version {version} of `{}` did not load: {message}; {}",
                        self.name,
                        match served {
                            Some(s) => format!("version {s} keeps serving"),
                            None => "nothing is served yet".to_string(),
                        }
                    ));
                    self.set_status(version, "END", Some(message));
                    self.metrics
                        .load_failures
                        .get_or_create(&self.labels())
                        .inc();
                    self.broken
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(version, fingerprint);
                }
            }
        }
    }

    fn labels(&self) -> ModelLabels {
        ModelLabels {
            model: self.name.clone(),
        }
    }

    fn is_broken(&self, version: u64, fingerprint: &Fingerprint) -> bool {
        let broken = self.broken.lock().unwrap_or_else(PoisonError::into_inner);
        broken.get(&version) == Some(fingerprint)
    }

    /// The version numbers and their folders (or the file), in increasing order.
    fn candidates(&self) -> Result<Vec<(u64, PathBuf)>, String> {
        match &self.source {
            ModelSource::File(file) => Ok(vec![(1, file.clone())]),
            ModelSource::Base(base) => {
                let entries = std::fs::read_dir(base)
                    .map_err(|e| format!("cannot read the base path {}: {e}", base.display()))?;
                let mut found: Vec<(u64, PathBuf)> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let version = name.parse::<u64>().ok()?;
                        Some((version, e.path()))
                    })
                    .collect();
                found.sort();
                Ok(found)
            }
        }
    }

    fn load(&self, version: u64, file: &Path) -> Result<Loaded, String> {
        let started = Instant::now();
        let model = crate::commands::open(file, self.device.clone())?;
        let signature = Signature::of(&model);
        let batcher = Batcher::start(
            model,
            self.batching,
            self.metrics.clone(),
            format!("{}-{version}", self.name),
        )
        .map_err(|e| format!("cannot start the model's thread: {e}"))?;
        log(&format!(
            "loaded version {version} of `{}` from {} in {:.2} s",
            self.name,
            file.display(),
            started.elapsed().as_secs_f64()
        ));
        Ok(Loaded {
            version,
            signature,
            batcher,
        })
    }

    fn swap_in(&self, loaded: Loaded) {
        let version = loaded.version;
        let old = self
            .served
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Arc::new(loaded));
        self.set_status(version, "AVAILABLE", None);
        self.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&version);
        if let Some(old) = old {
            // requests holding the old version finish on it; its thread ends with them
            self.set_status(old.version, "END", None);
            log(&format!(
                "version {version} of `{}` serves; version {} unloads",
                self.name, old.version
            ));
        }
        let labels = self.labels();
        self.metrics.versions_loaded.get_or_create(&labels).set(1);
        self.metrics
            .version_served
            .get_or_create(&labels)
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    fn set_status(&self, version: u64, state: &'static str, error: Option<String>) {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                version,
                VersionStatus {
                    version,
                    state,
                    error,
                },
            );
    }
}

/// The model file of a version folder (its `model.safetensors`, or its one `.safetensors` or
/// Keras `.keras` file), or the file itself, with its fingerprint.
fn model_file(dir_or_file: &Path) -> (Result<PathBuf, String>, Fingerprint) {
    let file = if dir_or_file.is_dir() {
        let preferred = dir_or_file.join("model.safetensors");
        if preferred.is_file() {
            Ok(preferred)
        } else {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir_or_file)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.extension()
                                .is_some_and(|e| e == "safetensors" || e == "keras")
                        })
                        .collect()
                })
                .unwrap_or_default();
            match files.len() {
                1 => Ok(files.remove(0)),
                0 => Err(format!(
                    "{} holds no model file (model.safetensors)",
                    dir_or_file.display()
                )),
                n => Err(format!(
                    "{} holds {n} model files; name the model's model.safetensors",
                    dir_or_file.display()
                )),
            }
        }
    } else {
        Ok(dir_or_file.to_path_buf())
    };
    let fingerprint = file.as_ref().ok().map(|f| {
        let meta = std::fs::metadata(f).ok();
        (
            f.clone(),
            meta.as_ref().map_or(0, |m| m.len()),
            meta.and_then(|m| m.modified().ok()),
        )
    });
    let fingerprint = fingerprint.or_else(|| {
        // no file yet: the folder's own time changes when one arrives
        let modified = std::fs::metadata(dir_or_file)
            .and_then(|m| m.modified())
            .ok();
        Some((dir_or_file.to_path_buf(), 0, modified))
    });
    (file, fingerprint)
}

/// A line of the server's log, on standard error, stamped with the UTC time.
pub fn log(message: &str) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "{} kiln serve: {message}",
        utc(now.as_secs(), now.subsec_millis())
    );
}

/// `2026-11-30T23:34:30.123Z` for a Unix time.
fn utc(seconds: u64, millis: u32) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil algorithm
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_times_by_hand() {
        assert_eq!(utc(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century year divisible by 400), 12:34:56
        assert_eq!(utc(951_827_696, 7), "2000-02-29T12:34:56.007Z");
        assert_eq!(utc(1_796_081_673, 519), "2026-11-30T23:34:33.519Z");
        assert_eq!(utc(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }
}
