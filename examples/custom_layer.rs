//! A layer of your own, Keras-style: `GatedDense` (examples/common/gated_dense.rs) declares its
//! weights with `add_weight` and computes `(x·W + b) ⊙ sigmoid(x·V + c)` with Burn's tensor
//! operations. The example trains it on MNIST, saves the model, reloads it in a fresh process
//! with `kiln::load_model` after registering the layer, and scores it again. Its last line is
//! `test_accuracy=<float> reloaded_accuracy=<float>`.
//!
//! `cargo run --release --example custom_layer -- --epochs 5 --seed 1`

mod common;

use common::gated_dense::GatedDense;
use kiln::prelude::*;
use kiln::{EvalOptions, Model};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--reload") {
        return common::exit_status(reload(args.get(2).map(PathBuf::from)));
    }
    common::exit_status(run())
}

/// Flattened MNIST images in [0, 1] and one-hot labels: train, then test.
type Split = (ndarray::Array2<f32>, ndarray::Array2<f32>);

fn data() -> kiln::Result<(Split, Split)> {
    let mnist = common::load_mnist()?;
    Ok((
        (
            common::flat_images(&mnist.x_train),
            common::one_hot(&mnist.y_train)?,
        ),
        (
            common::flat_images(&mnist.x_test),
            common::one_hot(&mnist.y_test)?,
        ),
    ))
}

fn accuracy(model: &Model, (x, y): &Split) -> kiln::Result<f64> {
    let scores = model.evaluate_with(x, y, EvalOptions::default().batch_size(256).verbose(0))?;
    Ok(scores.get("accuracy").unwrap_or(f64::NAN))
}

fn run() -> kiln::Result<()> {
    let args = common::parse_args(5)?;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    kiln::layers::register::<GatedDense>()?;
    let (train, test) = data()?;
    let mut model = Sequential::new()
        .name("gated_mnist")
        .input([784])
        .add(GatedDense::new(256))
        .add(Dense::new(10).activation(Softmax))
        .device(Device::new(args.device)?)
        .compile(
            Optimizer::adam(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )?;
    model.summary().print();
    let options = FitOptions::default()
        .epochs(args.epochs)
        .batch_size(args.batch_size);
    let mut board = common::tensorboard(&args);
    model.fit(&train.0, &train.1, common::with_board(options, &mut board))?;
    let test_accuracy = accuracy(&model, &test)?;
    let path = args.save.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kiln-gated-{}.safetensors", std::process::id()))
    });
    model.save(&path)?;
    println!("Saved the model to {}", path.display());
    let reloaded_accuracy = reload_in_child(&path)?;
    if args.save.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    println!("test_accuracy={test_accuracy:.4} reloaded_accuracy={reloaded_accuracy:.4}");
    Ok(())
}

/// Runs this program again with `--reload PATH` and reads the accuracy it prints.
fn reload_in_child(path: &Path) -> kiln::Result<f64> {
    let exe = std::env::current_exe().map_err(|e| kiln::Error::Config {
        what: "the example's own path".into(),
        message: e.to_string(),
    })?;
    let out = Command::new(exe)
        .arg("--reload")
        .arg(path)
        .output()
        .map_err(|e| kiln::Error::Config {
            what: "the reloading process".into(),
            message: e.to_string(),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    match last.strip_prefix("reloaded_accuracy=").map(str::parse) {
        Some(Ok(a)) if out.status.success() => Ok(a),
        _ => Err(kiln::Error::Config {
            what: "the reloading process".into(),
            message: format!(
                "it ended with {} and printed {last:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }),
    }
}

/// The fresh process: registers the layer, loads the file, and scores it on the test set.
fn reload(path: Option<PathBuf>) -> kiln::Result<()> {
    let path = path.ok_or_else(|| kiln::Error::Config {
        what: "--reload".into(),
        message: "give the path of the saved model".into(),
    })?;
    kiln::layers::register::<GatedDense>()?;
    let model = kiln::load_model(&path)?;
    println!(
        "Reloaded {} in process {}",
        path.display(),
        std::process::id()
    );
    let (_, test) = data()?;
    println!("reloaded_accuracy={}", accuracy(&model, &test)?);
    Ok(())
}
