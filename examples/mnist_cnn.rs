//! Keras' MNIST convnet, in Rust with kiln.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_cnn -- --epochs 3`

mod common;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let args = common::parse_args(3)?;
    common::run_image_example(&args, common::architectures::mnist_cnn)
}
