//! Loads a model saved by an example (`--save PATH`) and uses it on the MNIST test set: no Rust
//! code of the model is needed, the file holds its architecture.
//!
//! ```sh
//! KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_cnn -- --save cnn.safetensors
//! KILN_DATA_DIR=../shared/data/mnist cargo run --release --example predict -- cnn.safetensors
//! ```

mod common;

use kiln::training::PerOutput;
use kiln::{Device, DeviceChoice, EvalOptions};
use ndarray::{ArrayD, Axis, IxDyn};

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let mut path = None;
    let mut device = DeviceChoice::from_env()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--device" => {
                device = args
                    .next()
                    .ok_or_else(|| kiln::Error::Config {
                        what: "flag --device".into(),
                        message: "it needs a value: auto, cpu, cpu-ndarray or gpu".into(),
                    })?
                    .parse()?
            }
            "-h" | "--help" => {
                println!("usage: predict MODEL.safetensors [--device auto|cpu|cpu-ndarray|gpu]");
                return Ok(());
            }
            _ if path.is_none() && !arg.starts_with('-') => path = Some(arg),
            other => {
                return Err(kiln::Error::Config {
                    what: format!("argument {other}"),
                    message: "usage: predict MODEL.safetensors [--device ...]".into(),
                });
            }
        }
    }
    let path = path.ok_or_else(|| kiln::Error::Config {
        what: "model file".into(),
        message: "give the path of a file saved with `--save`".into(),
    })?;

    let model = kiln::load_model_on(&path, Device::new(device)?)?;
    println!("Loaded {path}");
    model.summary().print();

    let mnist = common::load_mnist()?;
    // the images as the model's input takes them: [n, 784] or [n, 28, 28, 1]
    let n = mnist.x_test.shape()[0];
    let mut dims = vec![n];
    dims.extend_from_slice(model.graph().inputs()[0].shape.dims());
    let x = common::images(&mnist.x_test)
        .into_shape_with_order(IxDyn(&dims))
        .map_err(|_| kiln::Error::Data {
            message: format!("the model's input {dims:?} does not hold 28x28 images"),
        })?;
    let probabilities: ArrayD<f32> = model.predict(&x)?;
    for (i, p) in probabilities.axis_iter(Axis(0)).take(5).enumerate() {
        let (class, best) = p
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (c, &v)| if v > b.1 { (c, v) } else { b });
        println!(
            "image {i}: predicted {class} (p={best:.4}), label {}",
            mnist.y_test[i]
        );
    }

    let sparse = model
        .compile_config()
        .is_some_and(|c| matches!(c.loss, PerOutput::All(l) if l.loss.is_sparse()));
    let quiet = EvalOptions::default().batch_size(128).verbose(0);
    let scores = if sparse {
        model.evaluate_with(&x, &mnist.y_test, quiet)?
    } else {
        model.evaluate_with(&x, &common::one_hot(&mnist.y_test)?, quiet)?
    };
    println!(
        "test_loss={:.4} test_accuracy={:.4}",
        scores.get("loss").unwrap_or(f64::NAN),
        scores.get("accuracy").unwrap_or(f64::NAN)
    );
    Ok(())
}
