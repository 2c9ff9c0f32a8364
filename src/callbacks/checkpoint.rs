//! `ModelCheckpoint`: save the model (or its weights) as training goes.

use crate::callbacks::Callback;
use crate::callbacks::monitor::{Mode, Monitor};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::training::Logs;
use std::path::PathBuf;

/// Saves the model at the end of every epoch, or only when `monitor` improves, as Keras'
/// `ModelCheckpoint`. Defaults: monitor `val_loss`, save_best_only false, save_weights_only
/// false (whole model, [`Model::save`]), mode auto.
///
/// The path is a template: `{epoch}` is the epoch counted from 1 (as Keras), and any logged
/// value can be named, with a Python-style format: `{epoch:02d}`, `{val_loss:.4f}`. Each file
/// is written to a temporary name and renamed, so a crash never leaves half a checkpoint.
///
/// ```
/// use kiln::callbacks::ModelCheckpoint;
/// let best = ModelCheckpoint::new("runs/best.safetensors").save_best_only(true);
/// let every = ModelCheckpoint::new("runs/epoch{epoch:02d}-{val_loss:.4f}.safetensors");
/// # drop((best, every));
/// ```
#[derive(Clone, Debug)]
pub struct ModelCheckpoint {
    template: String,
    monitor: String,
    mode: Mode,
    save_best_only: bool,
    save_weights_only: bool,
    verbose: bool,
    best: Option<f64>,
    saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves to `filepath` (a template; see above).
    pub fn new(filepath: impl Into<String>) -> Self {
        ModelCheckpoint {
            template: filepath.into(),
            monitor: "val_loss".into(),
            mode: Mode::Auto,
            save_best_only: false,
            save_weights_only: false,
            verbose: false,
            best: None,
            saved: Vec::new(),
        }
    }

    /// The value judged by `save_best_only` (default `val_loss`).
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    /// Whether the monitored value should go down or up (default auto).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Save only when the monitored value improves (default false).
    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }

    /// Save the weights only ([`Model::save_weights`]) instead of the whole model (default
    /// false).
    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }

    /// Print a line per save (default false).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// The files written by the last `fit`, in order.
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _: &mut Model) -> Result<()> {
        self.best = None;
        self.saved.clear();
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<()> {
        if self.save_best_only {
            let monitor = Monitor::new(&self.monitor, self.mode);
            let Some(current) = monitor.read(logs, "ModelCheckpoint") else {
                return Ok(());
            };
            if !monitor.improves(current, self.best, 0.0) {
                return Ok(());
            }
            self.best = Some(current);
        }
        if !model.is_chief() {
            // another worker of a distributed fit: the chief saves
            return Ok(());
        }
        let path = PathBuf::from(format_path(&self.template, epoch + 1, logs)?);
        if self.save_weights_only {
            model.save_weights(&path)?;
        } else {
            model.save(&path)?;
        }
        if self.verbose {
            println!("Epoch {}: saving model to {}", epoch + 1, path.display());
        }
        self.saved.push(path);
        Ok(())
    }
}

/// Fills `{epoch}` and `{name:spec}` fields of `template`; `{{` and `}}` are braces.
pub(crate) fn format_path(template: &str, epoch: usize, logs: &Logs) -> Result<String> {
    let bad = |m: String| Error::config(format!("ModelCheckpoint path `{template}`"), m);
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.starts_with(c as char) {
            out.push(c as char);
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(bad("a `}` without its `{`; write `}}` for a brace".into()));
        }
        let end = after
            .find('}')
            .ok_or_else(|| bad("a `{` without its `}`".into()))?;
        let field = &after[..end];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = if name == "epoch" {
            epoch as f64
        } else {
            logs.get(name).ok_or_else(|| {
                let names: Vec<&str> = logs.iter().map(|(n, _)| n).collect();
                bad(format!(
                    "`{name}` is not logged; use epoch or one of {}",
                    names.join(", ")
                ))
            })?
        };
        out.push_str(&format_value(value, spec, name == "epoch").map_err(bad)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `value` formatted by a Python format spec: `.4f`, `.2e`, `02d`, `d`, or nothing.
fn format_value(value: f64, spec: &str, integer: bool) -> std::result::Result<String, String> {
    let unsupported = || format!("the format `{spec}` is not supported; use .4f, .2e, 02d or d");
    let Some(kind) = spec.chars().last() else {
        return Ok(if integer {
            format!("{}", value as i64)
        } else {
            format!("{value}")
        });
    };
    let body = &spec[..spec.len() - 1];
    match kind {
        'f' | 'e' => {
            let precision: usize = body
                .strip_prefix('.')
                .and_then(|p| p.parse().ok())
                .ok_or_else(unsupported)?;
            Ok(if kind == 'f' {
                format!("{value:.precision$}")
            } else {
                let s = format!("{value:.precision$e}");
                // Python writes the exponent with a sign and two digits: 1.20e-04
                match s.split_once('e') {
                    Some((m, e)) => {
                        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                        format!("{m}e{sign}{digits:0>2}")
                    }
                    None => s,
                }
            })
        }
        'd' => {
            let zero = body.starts_with('0');
            let width: usize = if body.is_empty() {
                0
            } else {
                body.parse().map_err(|_| unsupported())?
            };
            let v = value.round() as i64;
            Ok(if zero {
                format!("{v:0width$}")
            } else {
                format!("{v:width$}")
            })
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs() -> Logs {
        let mut l = Logs::default();
        l.insert("val_loss", 0.123456);
        l.insert("accuracy", 0.9);
        l
    }

    #[test]
    fn templates_are_filled_like_python() {
        let f = |t: &str| format_path(t, 3, &logs()).unwrap();
        assert_eq!(f("m-{epoch}.st"), "m-3.st");
        assert_eq!(f("m-{epoch:02d}-{val_loss:.4f}.st"), "m-03-0.1235.st");
        assert_eq!(f("{val_loss:.2e}"), "1.23e-01");
        assert_eq!(f("{{x}}-{accuracy}"), "{x}-0.9");
        assert_eq!(f("plain"), "plain");
    }

    #[test]
    fn bad_templates_are_errors_naming_the_field() {
        let e = format_path("{val_acc}", 1, &logs())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`val_acc` is not logged") && e.contains("val_loss"),
            "{e}"
        );
        assert!(format_path("{epoch", 1, &logs()).is_err());
        assert!(format_path("{epoch:x}", 1, &logs()).is_err());
    }
}
