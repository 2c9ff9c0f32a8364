//! Keras' MNIST dense classifier, in Rust with kiln.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_dense -- --epochs 5`

mod common;

use kiln::Device;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let args = common::parse_args(5)?;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let mnist = common::load_mnist()?;
    let flat = common::flat_images;
    let (x_train, y_train) = (flat(&mnist.x_train), common::one_hot(&mnist.y_train)?);
    let (x_test, y_test) = (flat(&mnist.x_test), common::one_hot(&mnist.y_test)?);

    let mut model = common::architectures::mnist_dense(Device::new(args.device)?)?;
    common::train_and_report(&mut model, (&x_train, &y_train), (&x_test, &y_test), &args)
}
