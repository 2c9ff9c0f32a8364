//! Keras' MNIST dense classifier, in Rust with kiln.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_dense -- --epochs 5`

mod common;

use kiln::prelude::*;
use std::time::Instant;

fn main() -> kiln::Result<()> {
    let args = common::parse_args(5)?;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let mnist = common::load_mnist()?;
    let flat = |x: &ndarray::Array3<u8>| {
        let n = x.shape()[0];
        common::images(x)
            .into_shape_with_order((n, 784))
            .expect("784 pixels")
    };
    let (x_train, y_train) = (flat(&mnist.x_train), common::one_hot(&mnist.y_train)?);
    let (x_test, y_test) = (flat(&mnist.x_test), common::one_hot(&mnist.y_test)?);

    let mut model = Sequential::new()
        .input([784])
        .add(Dense::new(512).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(Device::new(args.device)?)
        .compile(
            Optimizer::rmsprop(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )?;
    model.summary().print();

    let start = Instant::now();
    model.fit(
        &x_train,
        &y_train,
        FitOptions::default().epochs(args.epochs).batch_size(128),
    )?;
    let fit_seconds = start.elapsed().as_secs_f64();

    let scores = model.evaluate_with(
        &x_test,
        &y_test,
        EvalOptions::default().batch_size(128).verbose(0),
    )?;
    common::report(fit_seconds, &scores);
    Ok(())
}
