//! Keras' MNIST convnet, in Rust with kiln.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_cnn -- --epochs 3`

mod common;

use kiln::prelude::*;
use std::time::Instant;

fn main() -> kiln::Result<()> {
    let args = common::parse_args(3)?;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let mnist = common::load_mnist()?;
    let (x_train, y_train) = (
        common::images(&mnist.x_train),
        common::one_hot(&mnist.y_train)?,
    );
    let (x_test, y_test) = (
        common::images(&mnist.x_test),
        common::one_hot(&mnist.y_test)?,
    );

    let mut model = Sequential::new()
        .input([28, 28, 1])
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Softmax))
        .device(Device::new(args.device)?)
        .compile(
            Optimizer::adam(1e-3),
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
