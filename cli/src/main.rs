//! `kiln`: train, evaluate, predict and inspect model files from the command line.
//!
//! ```sh
//! kiln summary models/mnist_cnn.json
//! kiln plot models/mnist_cnn.json mnist_cnn.svg
//! kiln train models/mnist_cnn.json --data mnist --epochs 3 --out runs/cnn
//! kiln evaluate runs/cnn/model.safetensors --data mnist
//! kiln predict runs/cnn/model.safetensors --input digit.png
//! kiln predict runs/cnn/model.safetensors --input instances.jsonl --output predictions/
//! kiln serve --model-name mnist --model-base-path serving/mnist --rest-api-port 8501
//! kiln train models/weather_lstm_normalized.json --data seattle-weather.csv --window 14 \
//!     --columns precipitation,temp_max,temp_min,wind --target temp_max --test-from 2015/01/01
//! ```

mod adapt;
mod commands;
mod data;
mod distributed;
mod folder;
#[cfg(test)]
mod fuzz;
mod image;
mod jsonl;
mod npy;
mod series;
mod serve;
mod table;
mod text;
mod tf_json;

use clap::{ArgAction, Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keras-style deep learning from the command line: train the models of `models/`, evaluate
/// and use the files they produce.
#[derive(Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's Keras-style summary (an architecture .json or a saved .safetensors).
    Summary {
        /// The model file.
        model: PathBuf,
    },
    /// Train a model described by an architecture file and write the trained model, its
    /// history (CSV) and its curves (PNG).
    Train(TrainArgs),
    /// Score a saved model on a data set's test samples.
    Evaluate {
        /// The saved model (.safetensors from `kiln train` or `Model::save`).
        model: PathBuf,
        /// The data: mnist, a directory of IDX files, a .npz, X.npy,Y.npy, or a .csv.
        #[arg(long)]
        data: String,
        #[command(flatten)]
        common: Common,
    },
    /// Convert a model to one kiln model file (.safetensors): a Keras 3 .keras file, or any
    /// model file kiln reads.
    Convert {
        /// The model: model.keras, a saved .safetensors, or an architecture .json.
        input: PathBuf,
        /// The kiln model file to write.
        output: PathBuf,
    },
    /// Write a model as an ONNX file (opset 17) for onnxruntime and other ONNX runtimes.
    #[cfg(feature = "onnx")]
    ExportOnnx {
        /// The model: a saved .safetensors, a Keras .keras file, or an architecture .json.
        model: PathBuf,
        /// The ONNX file to write.
        out: PathBuf,
    },
    /// Draw a model's architecture (an architecture .json or a saved model) to an .svg or
    /// .png, or write it as Graphviz DOT to a .dot.
    Plot {
        /// The model file.
        model: PathBuf,
        /// The picture: out.svg, out.png or out.dot.
        out: PathBuf,
    },
    /// Print the top class and the probabilities a saved model gives each input; or, for a
    /// JSON-lines file, write every prediction to --output (a batch prediction job).
    Predict {
        /// The saved model.
        model: PathBuf,
        /// The inputs: a .png image, an .idx(.gz) file of images, a .npy array, or a .jsonl
        /// file of instances (one per line, or {"key": ..., "instance": ...}).
        #[arg(long)]
        input: PathBuf,
        /// With a .jsonl input: the folder that gets prediction.results-00000-of-00001 and
        /// prediction.errors_stats-00000-of-00001.
        #[arg(long)]
        output: Option<PathBuf>,
        /// With a .jsonl input: instances per forward pass.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Print at most this many samples (default: all).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// Serve a model over TensorFlow Serving's REST API (GET /v1/models/NAME,
    /// .../metadata, POST /v1/models/NAME:predict), polling a folder of numeric versions.
    Serve(ServeArgs),
}

/// `kiln serve`'s flags: TensorFlow Serving's names, with dashes or underscores.
#[derive(Args)]
struct ServeArgs {
    /// The name in the model's URLs (/v1/models/NAME).
    #[arg(long = "model-name", alias = "model_name", default_value = "default")]
    model_name: String,
    /// A folder of numeric version folders (1/, 2/, ...), each holding a model file
    /// (model.safetensors); the highest that loads is served, and new ones are picked up.
    #[arg(
        long = "model-base-path",
        alias = "model_base_path",
        required_unless_present = "model"
    )]
    model_base_path: Option<PathBuf>,
    /// One model file, served as version 1 (instead of --model-base-path).
    #[arg(long, conflicts_with = "model_base_path")]
    model: Option<PathBuf>,
    /// The port of the REST API (0: any free port; the log names it).
    #[arg(
        long = "rest-api-port",
        alias = "rest_api_port",
        default_value_t = 8501
    )]
    rest_api_port: u16,
    /// The address listened on.
    #[arg(long, default_value = "0.0.0.0")]
    host: IpAddr,
    /// Merge concurrent requests into one forward pass (--enable-batching=false runs each
    /// alone).
    #[arg(long = "enable-batching", alias = "enable_batching", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    enable_batching: bool,
    /// The most samples in one forward pass.
    #[arg(
        long = "max-batch-size",
        alias = "max_batch_size",
        default_value_t = 128
    )]
    max_batch_size: usize,
    /// How long a batch's first request waits for more (0: merge only the requests already
    /// waiting when the model is free).
    #[arg(
        long = "batch-timeout-micros",
        alias = "batch_timeout_micros",
        default_value_t = 0
    )]
    batch_timeout_micros: u64,
    /// The most requests waiting for the model; beyond it, 503.
    #[arg(
        long = "max-enqueued",
        alias = "max_enqueued_batches",
        default_value_t = 256
    )]
    max_enqueued: usize,
    /// Requests read, parsed or computed at once; beyond it, 429.
    #[arg(long = "max-in-flight", default_value_t = 512)]
    max_in_flight: usize,
    /// Seconds between looks at --model-base-path for new versions.
    #[arg(
        long = "file-system-poll-wait-seconds",
        alias = "file_system_poll_wait_seconds",
        default_value_t = 1.0
    )]
    poll_seconds: f64,
    /// The largest request body, in bytes (413 beyond).
    #[arg(long = "max-body-bytes", default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// The longest a request may take, from its first byte to its answer (408 beyond).
    #[arg(long = "request-timeout-secs", default_value_t = 30.0)]
    request_timeout_secs: f64,
    /// The longest a client may take to send a request's headers before it is dropped.
    #[arg(long = "header-timeout-secs", default_value_t = 10.0)]
    header_timeout_secs: f64,
    /// On SIGTERM, how long to wait for requests in flight.
    #[arg(long = "drain-timeout-secs", default_value_t = 30.0)]
    drain_timeout_secs: f64,
    /// Where to run: auto (a GPU when one works, else the CPU), cpu, cpu-ndarray or gpu.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Flags every command that runs a model takes.
#[derive(Args, Clone)]
struct Common {
    /// Where to run: auto (a GPU when one works, else the CPU), cpu, cpu-ndarray or gpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// The label column of a .csv data file.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// The text column(s) of a .csv or .csv.gz data file (comma-separated, joined by newlines):
    /// the data is text, which the model's TextVectorization turns into token ids.
    #[arg(long)]
    text_column: Option<String>,
    /// The data is a time series in a .csv or .csv.gz: each sample is this many consecutive
    /// rows of --columns, its target the --target column of the row after them. The model
    /// file's Normalization layers adapt to the training rows first.
    #[arg(long)]
    window: Option<usize>,
    /// With --window: the columns a window holds (comma-separated).
    #[arg(long)]
    columns: Option<String>,
    /// With --window: the column to forecast.
    #[arg(long)]
    target: Option<String>,
    /// With --window: the rows from the first whose --date-column holds this value are the
    /// test set (their windows may start before it); without it, every row trains.
    #[arg(long)]
    test_from: Option<String>,
    /// With --test-from: the column it is looked up in.
    #[arg(long, default_value = "date")]
    date_column: String,
}

impl Common {
    /// The time series the flags describe, when --window is given.
    fn series(&self) -> Result<Option<series::SeriesArgs<'_>>, String> {
        let Some(window) = self.window else {
            return Ok(None);
        };
        fn need<'a>(value: &'a Option<String>, flag: &str) -> Result<&'a str, String> {
            value
                .as_deref()
                .ok_or_else(|| format!("--window needs {flag}"))
        }
        Ok(Some(series::SeriesArgs {
            window,
            columns: need(&self.columns, "--columns (the columns a window holds)")?,
            target: need(&self.target, "--target (the column to forecast)")?,
            test_from: self.test_from.as_deref(),
            date_column: &self.date_column,
        }))
    }
}

#[derive(Args)]
struct TrainArgs {
    /// The architecture file (models/mnist_cnn.json) or a saved model to train further.
    model: PathBuf,
    /// The data: mnist, a directory of IDX files, a folder of class folders of images
    /// (PNG, JPEG, BMP; read batch by batch), a .npz, X.npy,Y.npy, or a .csv.
    #[arg(long)]
    data: String,
    /// Epochs to train.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Where to write model.safetensors, history.csv and curves.png.
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// The optimizer (sgd, rmsprop, adam, adamw), replacing the file's.
    #[arg(long)]
    optimizer: Option<String>,
    /// The learning rate, replacing the file's.
    #[arg(long)]
    lr: Option<f64>,
    /// The loss (categorical_crossentropy, sparse_categorical_crossentropy, ...), replacing
    /// the file's.
    #[arg(long)]
    loss: Option<String>,
    /// Hold out this last fraction of the training samples for validation.
    #[arg(long, default_value_t = 0.0)]
    validation_split: f64,
    /// Stop when val_loss (loss without validation) has not improved for this many epochs,
    /// and keep the best weights.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Seed the weights and the shuffling, for a reproducible run.
    #[arg(long)]
    seed: Option<u64>,
    /// Write TensorBoard logs of the training to this directory (`train/` and `validation/`
    /// event files; scalars each epoch, weight histograms every epoch), to watch with
    /// `tensorboard --logdir DIR`.
    #[arg(long)]
    tensorboard: Option<std::path::PathBuf>,
    /// Train on every process of an MPI job, synchronously (launch with `mpirun -np N`;
    /// needs a kiln built with `--features mpi`). Rank 0 writes the files and prints.
    #[arg(long, conflicts_with = "parameter_server")]
    distributed: bool,
    /// Train asynchronously with rank 0 as the parameter server and the other ranks as
    /// workers (launch with `mpirun -np N`, N ≥ 2; needs `--features mpi`).
    #[arg(long)]
    parameter_server: bool,
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Summary { model } => commands::summary(&model),
        Command::Train(args) => commands::train(args),
        Command::Plot { model, out } => commands::plot(&model, &out),
        Command::Convert { input, output } => commands::convert(&input, &output),
        #[cfg(feature = "onnx")]
        Command::ExportOnnx { model, out } => commands::export_onnx(&model, &out),
        Command::Evaluate {
            model,
            data,
            common,
        } => commands::evaluate(&model, &data, &common),
        Command::Predict {
            model,
            input,
            output,
            batch_size,
            limit,
            common,
        } => commands::predict(
            &model,
            &input,
            output.as_deref(),
            batch_size,
            limit,
            &common,
        ),
        Command::Serve(args) => commands::serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
