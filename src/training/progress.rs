//! The progress display of `fit` and `evaluate`, in Keras' format, drawn with indicatif.

use crate::training::Logs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

const WIDTH: usize = 20;
const REDRAW: Duration = Duration::from_millis(150);

/// One epoch's (or one evaluation's) progress: a bar redrawn in place on a terminal
/// (verbose 1), a final line per epoch, or nothing (verbose 0).
pub(crate) struct Progress {
    verbose: u8,
    steps: usize,
    start: Instant,
    last_draw: Instant,
    bar: Option<ProgressBar>,
    color: bool,
}

impl Progress {
    /// Starts tracking `steps` steps.
    pub(crate) fn new(verbose: u8, steps: usize) -> Self {
        let tty = std::io::stdout().is_terminal();
        let bar = (verbose == 1 && tty).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(steps as u64),
                ProgressDrawTarget::stdout_with_hz(8),
            );
            // a constant template, parsed by every fit in the tests
            bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
            bar
        });
        let now = Instant::now();
        Progress {
            verbose,
            steps,
            start: now,
            last_draw: now,
            bar,
            color: tty,
        }
    }

    /// Prints `Epoch i/n` (1-based) when verbose.
    pub(crate) fn epoch_header(verbose: u8, epoch: usize, epochs: usize) {
        if verbose > 0 {
            println!("Epoch {}/{epochs}", epoch + 1);
        }
    }

    /// Whether the bar wants fresh values after `done` steps (reading them costs a device sync).
    pub(crate) fn wants_update(&self) -> bool {
        self.bar.is_some() && self.last_draw.elapsed() >= REDRAW
    }

    /// Redraws the bar after `done` steps.
    pub(crate) fn update(&mut self, done: usize, logs: &Logs) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(self.line(done, logs));
            self.last_draw = Instant::now();
        }
    }

    /// Ends the epoch with its final line.
    pub(crate) fn finish(self, logs: &Logs) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        match self.verbose {
            0 => {}
            1 => println!("{}", self.line(self.steps, logs)),
            _ => {
                let elapsed = self.start.elapsed().as_secs_f64();
                let per_step = format_per_step(elapsed / self.steps.max(1) as f64);
                let n = self.steps;
                println!("{n}/{n} - {elapsed:.0}s - {per_step} - {logs}");
            }
        }
    }

    /// `12/469 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - accuracy: 0.9243 - loss: 0.2629`
    fn line(&self, done: usize, logs: &Logs) -> String {
        let elapsed = self.start.elapsed().as_secs_f64();
        let per_step = elapsed / done.max(1) as f64;
        let time = if done < self.steps {
            format_eta(per_step * (self.steps - done) as f64)
        } else {
            format!("{elapsed:.0}s")
        };
        let width = self.steps.to_string().len();
        let filled = (done * WIDTH).checked_div(self.steps).unwrap_or(WIDTH);
        let bar = if self.color {
            format!(
                "\x1b[32m{}\x1b[0m\x1b[37m{}\x1b[0m",
                "━".repeat(filled),
                "━".repeat(WIDTH - filled)
            )
        } else {
            format!("{}{}", "━".repeat(filled), " ".repeat(WIDTH - filled))
        };
        let mut line = format!(
            "{done:>width$}/{} {bar} {time} {}",
            self.steps,
            format_per_step(per_step)
        );
        if !logs.is_empty() {
            line.push_str(" - ");
            line.push_str(&logs.to_string());
        }
        line
    }
}

/// Keras' time per step: `4ms/step`, `120us/step`, `2s/step`.
fn format_per_step(seconds: f64) -> String {
    if seconds >= 1.0 || seconds == 0.0 {
        format!("{seconds:.0}s/step")
    } else if seconds >= 1e-3 {
        format!("{:.0}ms/step", seconds * 1e3)
    } else {
        format!("{:.0}us/step", seconds * 1e6)
    }
}

/// Keras' remaining time: `5s`, `2:05`, `1:02:05`.
fn format_eta(seconds: f64) -> String {
    let s = seconds as u64;
    if s > 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else if s > 60 {
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_like_keras() {
        assert_eq!(format_per_step(0.004), "4ms/step");
        assert_eq!(format_per_step(0.00012), "120us/step");
        assert_eq!(format_per_step(2.2), "2s/step");
        assert_eq!(format_eta(5.4), "5s");
        assert_eq!(format_eta(125.0), "2:05");
        assert_eq!(format_eta(3725.0), "1:02:05");
    }

    #[test]
    fn the_final_line_has_keras_shape() {
        let p = Progress {
            verbose: 1,
            steps: 469,
            start: Instant::now(),
            last_draw: Instant::now(),
            bar: None,
            color: false,
        };
        let mut logs = Logs::default();
        logs.insert("loss", 0.2629);
        logs.insert("accuracy", 0.9243);
        let line = p.line(469, &logs);
        assert!(
            line.starts_with("469/469 ━━━━━━━━━━━━━━━━━━━━ 0s "),
            "{line}"
        );
        assert!(
            line.ends_with("/step - accuracy: 0.9243 - loss: 0.2629"),
            "{line}"
        );
        let half = p.line(12, &Logs::default());
        assert!(half.starts_with(" 12/469 "), "{half}");
    }
}
