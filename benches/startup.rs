//! Time from a process' start to the end of its first training step, data loading included:
//! the examples' models on the CPU device kiln picks, each in RUNS fresh processes.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo bench --bench startup -- [dense|cnn] [RUNS]`
//!
//! Each run re-executes this binary, which loads MNIST with kiln's loader, scales it, builds
//! and compiles the model, and trains until the first batch ends. The clock starts at `main`;
//! the process' own start (exec, dynamic loading) adds about a millisecond on Linux.

// the examples' builders; this bench times the dense and CNN models, not the resnet
#[allow(dead_code)]
#[path = "../examples/common/architectures.rs"]
mod architectures;

use kiln::callbacks::{BatchLogs, Callback};
use kiln::prelude::*;
use ndarray::{Array2, Array4};
use std::process::Command;
use std::time::Instant;

/// The environment variable that marks a child run, holding the model's name.
const CHILD: &str = "KILN_STARTUP_CHILD";

/// Stops `fit` after its first batch and notes when that batch ended.
struct FirstStep {
    start: Instant,
    at: Option<f64>,
}

impl Callback for FirstStep {
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &BatchLogs<'_>,
        model: &mut Model,
    ) -> kiln::Result<()> {
        self.at.get_or_insert(self.start.elapsed().as_secs_f64());
        model.stop_training();
        Ok(())
    }
}

/// One child run: prints `load=<s> build=<s> first_step=<s>`, each counted from `start`.
fn child(cnn: bool, start: Instant) -> kiln::Result<()> {
    let mnist = kiln::datasets::mnist::load_data()?;
    let n = mnist.y_train.len();
    let pixels: Vec<f32> = mnist.x_train.iter().map(|v| *v as f32 / 255.0).collect();
    let mut labels = Array2::<f32>::zeros((n, 10));
    for (row, y) in mnist.y_train.iter().enumerate() {
        labels[(row, *y as usize)] = 1.0;
    }
    let load = start.elapsed().as_secs_f64();
    let device = Device::cpu()?;
    let mut model = if cnn {
        architectures::mnist_cnn(device)?
    } else {
        architectures::mnist_dense(device)?
    };
    let build = start.elapsed().as_secs_f64();
    let mut first = FirstStep { start, at: None };
    let options = FitOptions::default()
        .batch_size(128)
        .verbose(0)
        .callback(&mut first);
    if cnn {
        let x = Array4::from_shape_vec((n, 28, 28, 1), pixels).expect("28×28 images");
        model.fit(&x, &labels, options)?;
    } else {
        let x = Array2::from_shape_vec((n, 784), pixels).expect("784 pixels");
        model.fit(&x, &labels, options)?;
    }
    let step = first.at.expect("fit ran one batch");
    println!("load={load:.3} build={build:.3} first_step={step:.3}");
    Ok(())
}

fn main() {
    let start = Instant::now();
    if let Ok(model) = std::env::var(CHILD) {
        if let Err(e) = child(model == "cnn", start) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let model = if args.first().is_some_and(|a| a == "cnn") {
        "cnn"
    } else {
        "dense"
    };
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let exe = std::env::current_exe().expect("this benchmark's path");
    println!("model={model} runs={runs} (seconds from the start of main)");
    let mut steps = vec![];
    for run in 1..=runs {
        let out = Command::new(&exe)
            .env(CHILD, model)
            .output()
            .expect("a child run");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default().to_string();
        if !out.status.success() || !line.starts_with("load=") {
            eprintln!("run {run} failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        println!("run {run}: {line}");
        let step = line
            .rsplit("first_step=")
            .next()
            .and_then(|v| v.parse().ok());
        steps.push(step.expect("a first_step figure"));
    }
    steps.sort_by(f64::total_cmp);
    println!(
        "median: start to first step {:.3} s (min {:.3}, max {:.3})",
        steps[runs / 2],
        steps[0],
        steps[runs - 1]
    );
}
