//! `kiln`: train, evaluate, predict and inspect model files from the command line.
//!
//! ```sh
//! kiln summary models/mnist_cnn.json
//! kiln plot models/mnist_cnn.json mnist_cnn.svg
//! kiln train models/mnist_cnn.json --data mnist --epochs 3 --out runs/cnn
//! kiln evaluate runs/cnn/model.safetensors --data mnist
//! kiln predict runs/cnn/model.safetensors --input digit.png
//! kiln train models/weather_lstm_normalized.json --data seattle-weather.csv --window 14 \
//!     --columns precipitation,temp_max,temp_min,wind --target temp_max --test-from 2015/01/01
//! ```

mod adapt;
mod commands;
mod data;
mod npy;
mod series;
mod table;
mod text;

use clap::{Args, Parser, Subcommand};
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
    /// Draw a model's architecture (an architecture .json or a saved model) to an .svg or
    /// .png, or write it as Graphviz DOT to a .dot.
    Plot {
        /// The model file.
        model: PathBuf,
        /// The picture: out.svg, out.png or out.dot.
        out: PathBuf,
    },
    /// Print the top class and the probabilities a saved model gives each input.
    Predict {
        /// The saved model.
        model: PathBuf,
        /// The inputs: a .png image, an .idx(.gz) file of images, or a .npy array.
        #[arg(long)]
        input: PathBuf,
        /// Print at most this many samples (default: all).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
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
    /// The data: mnist, a directory of IDX files, a .npz, X.npy,Y.npy, or a .csv.
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
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Summary { model } => commands::summary(&model),
        Command::Train(args) => commands::train(args),
        Command::Plot { model, out } => commands::plot(&model, &out),
        Command::Evaluate {
            model,
            data,
            common,
        } => commands::evaluate(&model, &data, &common),
        Command::Predict {
            model,
            input,
            limit,
            common,
        } => commands::predict(&model, &input, limit, &common),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
