//! A residual convnet for MNIST, written with the Functional API: the shortcut of its residual
//! block is an `Add` of the block's input and its output.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_resnet -- --epochs 2`

mod common;

use kiln::Device;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let mut args = common::parse_args(2)?;
    // Keras' default batch size: twice as many steps in two epochs as batches of 128 give
    args.batch_size = 32;
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

    let mut model = common::architectures::mnist_resnet(Device::new(args.device)?)?;
    common::train_and_report(&mut model, (&x_train, &y_train), (&x_test, &y_test), &args)
}
