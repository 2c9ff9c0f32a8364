//! The Functional API with two inputs and two outputs, on MNIST: each image is cut into its
//! top and bottom halves (two inputs); one shared encoder reads both halves; the model
//! predicts the digit (`digit`, 10 classes) and whether it is 5 or more (`big`, one sigmoid).
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example functional_two_inputs`
//!
//! Ends with `fit_seconds=<float>`, then
//! `test_loss=<float> digit_accuracy=<float> big_accuracy=<float>`.

mod common;

use kiln::prelude::*;
use ndarray::{Array1, Array2, Array3, s};
use std::time::Instant;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

/// The top and bottom halves of each image, flattened and scaled to [0, 1].
fn halves(x: &Array3<u8>) -> (Array2<f32>, Array2<f32>) {
    let n = x.shape()[0];
    let half = |rows: std::ops::Range<usize>| {
        x.slice(s![.., rows, ..])
            .mapv(|v| v as f32 / 255.0)
            .into_shape_with_order((n, 14 * 28))
            .expect("14x28 halves")
    };
    (half(0..14), half(14..28))
}

/// 1 for digits 5 to 9, 0 for the others.
fn big(y: &Array1<u8>) -> Array1<f32> {
    y.mapv(|d| if d >= 5 { 1.0 } else { 0.0 })
}

fn run() -> kiln::Result<()> {
    let args = common::parse_args(2)?;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let mnist = common::load_mnist()?;

    let mut model = common::architectures::two_halves()?
        .device(Device::new(args.device)?)
        .compile(
            Optimizer::adam(1e-3),
            Losses::named([
                ("digit", Loss::SparseCategoricalCrossentropy),
                ("big", Loss::BinaryCrossentropy),
            ])
            .loss_weights([1.0, 0.5]),
            &[Metric::Accuracy],
        )?;
    model.summary().print();

    let (train_top, train_bottom) = halves(&mnist.x_train);
    let (train_digit, train_big) = (mnist.y_train.mapv(f32::from), big(&mnist.y_train));
    let start = Instant::now();
    let mut board = common::tensorboard(&args);
    let options = FitOptions::default().epochs(args.epochs).batch_size(128);
    model.fit(
        &[("top", &train_top), ("bottom", &train_bottom)],
        &[("digit", &train_digit), ("big", &train_big)],
        common::with_board(options, &mut board),
    )?;
    println!("fit_seconds={:.3}", start.elapsed().as_secs_f64());

    let (test_top, test_bottom) = halves(&mnist.x_test);
    let (test_digit, test_big) = (mnist.y_test.mapv(f32::from), big(&mnist.y_test));
    let scores = model.evaluate_with(
        &[&test_top, &test_bottom],
        &[&test_digit, &test_big],
        EvalOptions::default().batch_size(128).verbose(0),
    )?;
    let get = |name: &str| scores.get(name).unwrap_or(f64::NAN);
    println!(
        "test_loss={:.4} digit_accuracy={:.4} big_accuracy={:.4}",
        get("loss"),
        get("digit_accuracy"),
        get("big_accuracy")
    );
    Ok(())
}
