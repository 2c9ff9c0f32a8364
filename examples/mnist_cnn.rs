//! Keras' MNIST convnet, in Rust with kiln.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_cnn -- --epochs 3`

mod common;

use kiln::prelude::*;

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
    common::train_and_report(
        &mut model,
        (&x_train, &y_train),
        (&x_test, &y_test),
        args.epochs,
    )
}
