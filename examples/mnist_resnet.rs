//! A residual convnet for MNIST, written with the Functional API: the shortcut of its residual
//! block is an `Add` of the block's input and its output.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_resnet -- --epochs 2`

mod common;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let mut args = common::parse_args(2)?;
    // Keras' default batch size: twice as many steps in two epochs as batches of 128 give
    args.batch_size = 32;
    common::run_image_example(&args, common::architectures::mnist_resnet)
}
