//! What the MNIST examples share: flags, data, the models, and the closing lines.

// each example uses part of this module
#![allow(dead_code)]

pub mod architectures;
pub mod gated_dense;

use kiln::callbacks::{EarlyStopping, TensorBoard};
use kiln::datasets::mnist::{self, Mnist};
use kiln::distribute::Strategy;
use kiln::{DeviceChoice, EvalOptions, FitOptions, Model, ToHostArray};
use ndarray::{Array2, Array4};
use std::path::PathBuf;
use std::time::Instant;

/// The flags every example takes.
pub struct Args {
    pub epochs: usize,
    /// Samples per step in `train_and_report` (128 unless an example sets another).
    pub batch_size: usize,
    pub seed: Option<u64>,
    pub device: DeviceChoice,
    pub save: Option<PathBuf>,
    pub early_stopping: Option<usize>,
    /// `--model NAME`: which of an example's models to train.
    pub model: Option<String>,
    /// `--data PATH`: where an example's data set is.
    pub data: Option<PathBuf>,
    /// `--tensorboard DIR`: TensorBoard logs of the training there.
    pub tensorboard: Option<PathBuf>,
    /// `--distributed` (synchronous workers) or `--parameter-server`, under `mpirun`.
    pub distributed: Distributed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Distributed {
    No,
    Workers,
    ParameterServer,
}

/// Parses `--epochs N`, `--seed N`, `--device auto|cpu|cpu-ndarray|gpu`, `--save PATH`,
/// `--early-stopping PATIENCE`, `--model NAME`, `--data PATH` and `--tensorboard DIR`.
pub fn parse_args(default_epochs: usize) -> kiln::Result<Args> {
    let mut args = Args {
        epochs: default_epochs,
        batch_size: 128,
        seed: None,
        device: DeviceChoice::from_env()?,
        save: None,
        early_stopping: None,
        model: None,
        data: None,
        tensorboard: None,
        distributed: Distributed::No,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next().ok_or_else(|| kiln::Error::Config {
                what: format!("flag {flag}"),
                message: "it needs a value".into(),
            })
        };
        let bad = |what: &str, v: &str| kiln::Error::Config {
            what: format!("flag {what}"),
            message: format!("`{v}` is not a whole number"),
        };
        match flag.as_str() {
            "--epochs" => {
                let v = value()?;
                args.epochs = v.parse().map_err(|_| bad("--epochs", &v))?;
            }
            "--seed" => {
                let v = value()?;
                args.seed = Some(v.parse().map_err(|_| bad("--seed", &v))?);
            }
            "--device" => args.device = value()?.parse()?,
            "--save" => args.save = Some(value()?.into()),
            "--model" => args.model = Some(value()?),
            "--data" => args.data = Some(value()?.into()),
            "--tensorboard" => args.tensorboard = Some(value()?.into()),
            "--distributed" => args.distributed = Distributed::Workers,
            "--parameter-server" => args.distributed = Distributed::ParameterServer,
            "--early-stopping" => {
                let v = value()?;
                args.early_stopping = Some(v.parse().map_err(|_| bad("--early-stopping", &v))?);
            }
            "-h" | "--help" => {
                println!(
                    "flags: --epochs N  --seed N  --device auto|cpu|cpu-ndarray|gpu  --save PATH  \
                     --early-stopping PATIENCE  --model NAME  --data PATH  --tensorboard DIR  \
                     --distributed  --parameter-server (the last two under mpirun, built with \
                     --features mpi)"
                );
                std::process::exit(0);
            }
            other => {
                return Err(kiln::Error::Config {
                    what: format!("flag {other}"),
                    message: "unknown; use --epochs N, --seed N, --device auto|cpu|gpu, \
                              --save PATH, --model NAME, --data PATH, --tensorboard DIR, \
                              --distributed or --parameter-server"
                        .into(),
                });
            }
        }
    }
    Ok(args)
}

/// With `--tensorboard DIR`, the callback writing TensorBoard logs there (scalars each epoch,
/// weight histograms every epoch): `tensorboard --logdir DIR` shows the run as it trains.
pub fn tensorboard(args: &Args) -> Option<TensorBoard> {
    args.tensorboard
        .as_ref()
        .map(|dir| TensorBoard::new(dir).histogram_freq(1))
}

/// `options` with `board` among its callbacks, when there is one.
pub fn with_board<'a>(
    options: FitOptions<'a>,
    board: &'a mut Option<TensorBoard>,
) -> FitOptions<'a> {
    match board {
        Some(board) => options.callback(board),
        None => options,
    }
}

/// The exit status of an example: its error, if any, printed as a sentence (`error: ...`), not
/// as `Debug` output.
pub fn exit_status(result: kiln::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The full MNIST when it can be had, else the subset shipped with kiln, saying so.
pub fn load_mnist() -> kiln::Result<Mnist> {
    match mnist::load_data() {
        Ok(m) => Ok(m),
        Err(e) => {
            println!("Full MNIST unavailable ({e}).");
            println!(
                "Training on the small real subset shipped with kiln (2,000 train / 500 test images)."
            );
            mnist::subset()
        }
    }
}

/// Images scaled to [0, 1], as `[n, 28, 28, 1]`.
pub fn images(x: &ndarray::Array3<u8>) -> Array4<f32> {
    let n = x.shape()[0];
    x.mapv(|v| v as f32 / 255.0)
        .into_shape_with_order((n, 28, 28, 1))
        .expect("28x28 images")
}

/// Images scaled to [0, 1] and flattened, as `[n, 784]`.
pub fn flat_images(x: &ndarray::Array3<u8>) -> Array2<f32> {
    let n = x.shape()[0];
    images(x)
        .into_shape_with_order((n, 784))
        .expect("784 pixels")
}

/// One-hot labels.
pub fn one_hot(y: &ndarray::Array1<u8>) -> kiln::Result<Array2<f32>> {
    kiln::to_categorical(y.as_slice().expect("contiguous labels"), 10)
}

/// Prints the summary, fits with batches of `args.batch_size` for `--epochs`, scores on the test set, saves
/// the model when `--save` asks, and prints the two closing lines every example ends with:
/// `fit_seconds=<float>`, then `test_loss=<float> test_accuracy=<float>`.
///
/// With `--early-stopping PATIENCE`, the last 10% of the training set validates each epoch and
/// `EarlyStopping` on `val_loss` (that patience, best weights restored) ends training; the line
/// `stopped_epoch=<n>` (Keras' `stopped_epoch`: the 0-based epoch it stopped at, 0 when it ran
/// every epoch) comes just before the last one.
/// The strategy `--distributed` or `--parameter-server` asks for, joining the MPI job.
pub fn strategy(args: &Args) -> kiln::Result<Option<Box<dyn Strategy>>> {
    #[cfg(feature = "mpi")]
    {
        use kiln::distribute::{MultiWorkerMirroredStrategy, ParameterServerStrategy};
        Ok(match args.distributed {
            Distributed::No => None,
            Distributed::Workers => Some(Box::new(MultiWorkerMirroredStrategy::new()?)),
            Distributed::ParameterServer => Some(Box::new(ParameterServerStrategy::new()?)),
        })
    }
    #[cfg(not(feature = "mpi"))]
    {
        if args.distributed == Distributed::No {
            return Ok(None);
        }
        Err(kiln::Error::Config {
            what: "flag --distributed".into(),
            message: "this example was built without MPI; build it with `--features mpi` and \
                      launch it with `mpirun -np N`"
                .into(),
        })
    }
}

pub fn train_and_report(
    model: &mut Model,
    train: (&impl ToHostArray, &impl ToHostArray),
    test: (&impl ToHostArray, &impl ToHostArray),
    args: &Args,
) -> kiln::Result<()> {
    let mut strategy = strategy(args)?;
    // under mpirun only rank 0 (the chief) prints, saves and scores
    let chief = strategy.as_ref().is_none_or(|s| s.rank() == 0);
    if chief {
        model.summary().print();
    }
    let start = Instant::now();
    let mut options = FitOptions::default()
        .epochs(args.epochs)
        .batch_size(args.batch_size);
    if let Some(strategy) = strategy.as_deref_mut() {
        options = options.strategy(strategy);
    }
    let mut stop = args.early_stopping.map(|patience| {
        EarlyStopping::new("val_loss")
            .patience(patience)
            .restore_best_weights(true)
    });
    if let Some(stop) = &mut stop {
        options = options.validation_split(0.1).callback(stop);
    }
    let mut board = tensorboard(args);
    model.fit(train.0, train.1, with_board(options, &mut board))?;
    let fit_seconds = start.elapsed().as_secs_f64();
    if !chief {
        return Ok(());
    }
    if let Some(strategy) = &strategy {
        if let Some(c) = strategy.comm_stats().filter(|c| c.calls > 0) {
            println!(
                "comm_calls={} comm_bytes_per_call={} comm_ms_per_call={:.3}",
                c.calls,
                c.bytes / c.calls,
                1e3 * c.seconds / c.calls as f64
            );
        }
        println!("workers={}", strategy.workers());
    }
    if let Some(path) = &args.save {
        model.save(path)?;
        println!("Saved the model to {}", path.display());
    }
    println!("fit_seconds={fit_seconds:.3}");
    if let Some(stop) = &stop {
        println!("stopped_epoch={}", stop.stopped_epoch().unwrap_or(0));
    }
    let quiet = EvalOptions::default().batch_size(128).verbose(0);
    let scores = model.evaluate_with(test.0, test.1, quiet)?;
    println!(
        "test_loss={:.4} test_accuracy={:.4}",
        scores.get("loss").unwrap_or(f64::NAN),
        scores.get("accuracy").unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Seeds kiln from `--seed`, loads MNIST as `[n, 28, 28, 1]` images in [0, 1] with one-hot
/// labels, builds the model with `build` on `--device`, and runs [`train_and_report`]: the
/// body of the convolutional examples.
pub fn run_image_example(
    args: &Args,
    build: fn(kiln::Device) -> kiln::Result<Model>,
) -> kiln::Result<()> {
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let mnist = load_mnist()?;
    let (x_train, y_train) = (images(&mnist.x_train), one_hot(&mnist.y_train)?);
    let (x_test, y_test) = (images(&mnist.x_test), one_hot(&mnist.y_test)?);
    let mut model = build(kiln::Device::new(args.device)?)?;
    train_and_report(&mut model, (&x_train, &y_train), (&x_test, &y_test), args)
}
