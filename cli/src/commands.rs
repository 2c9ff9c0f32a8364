//! The commands.

use crate::data::{self, Split};
use crate::npy::read_npy;
use crate::serve::{self, ServeOptions};
use crate::{Common, ServeArgs, TrainArgs};
use crate::{distributed, folder, series, text};
use kiln::callbacks::{EarlyStopping, TensorBoard};
use kiln::data::{Batch, Dataset};
use kiln::io::ModelConfig;
use kiln::{
    Device, DeviceChoice, EvalOptions, FitOptions, Logs, Loss, Losses, Metric, Metrics, Model,
    Optimizer,
};
use ndarray::{ArrayD, Axis, IxDyn};
use std::path::Path;

type Result<T = ()> = std::result::Result<T, String>;

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn device(common: &Common) -> Result<Device> {
    Device::new(common.device.parse::<DeviceChoice>().map_err(text)?).map_err(text)
}

/// A model from an architecture `.json` (fresh weights), a saved `.safetensors`, or a Keras
/// `.keras` file.
pub(crate) fn open(path: &Path, device: Device) -> Result<Model> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => ModelConfig::read(path)
            .and_then(|c| c.build(device))
            .map_err(text),
        #[cfg(feature = "keras")]
        Some("keras") => kiln::io::load_keras_on(path, device).map_err(text),
        _ => kiln::load_model_on(path, device).map_err(text),
    }
}

pub fn summary(path: &Path) -> Result {
    let model = open(path, Device::cpu().map_err(text)?)?;
    model.summary().print();
    Ok(())
}

/// Writes the model in `input` (a `.keras` file, a saved model, an architecture) as one kiln
/// model file.
pub fn convert(input: &Path, output: &Path) -> Result {
    let model = open(input, Device::cpu().map_err(text)?)?;
    model.save(output).map_err(text)?;
    println!(
        "wrote {} ({} layers, {} weights)",
        output.display(),
        model.layers().len(),
        model.summary().total_params
    );
    Ok(())
}

/// Writes the model in `path` as an ONNX file.
#[cfg(feature = "onnx")]
pub fn export_onnx(path: &Path, out: &Path) -> Result {
    let model = open(path, Device::cpu().map_err(text)?)?;
    model.export_onnx(out).map_err(text)?;
    println!(
        "wrote {} (opset {}; inputs {:?}, outputs {:?})",
        out.display(),
        kiln::io::onnx::OPSET,
        model.input_names(),
        model.output_names()
    );
    Ok(())
}

pub fn plot(path: &Path, out: &Path) -> Result {
    let model = open(path, Device::cpu().map_err(text)?)?;
    if out.extension().is_some_and(|e| e == "dot") {
        let tmp = out.with_extension("dot.tmp");
        std::fs::write(&tmp, model.to_dot())
            .and_then(|()| std::fs::rename(&tmp, out))
            .map_err(|e| format!("{}: {e}", out.display()))?;
    } else {
        model.plot(out).map_err(text)?;
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// What `kiln train` reads: arrays in memory, or the batches of an image folder (training,
/// and the held-out part with `--validation-split`).
enum Data {
    Arrays(Box<data::Dataset>),
    Folder(Dataset<Batch>, Option<Dataset<Batch>>),
}

pub fn train(args: TrainArgs) -> Result {
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let series = args.common.series()?;
    let (mut model, data) = match (&args.common.text_column, series) {
        (Some(_), Some(_)) => {
            return Err("give --text-column or --window, not both".into());
        }
        (None, Some(series_args)) => {
            let series = series::load(&args.data, &series_args)?;
            let device = device(&args.common)?;
            // the statistics come from the rows before the held-out windows' targets
            let n = series.train_windows();
            let held = ((n as f64 * args.validation_split.clamp(0.0, 1.0)) as usize).min(n);
            let rows = series.test_start - held;
            let model = match args.model.extension().and_then(|e| e.to_str()) {
                Some("json") => series.open_adapted(&args.model, device, rows)?,
                _ => open(&args.model, device)?,
            };
            (model, Data::Arrays(Box::new(series.dataset()?)))
        }
        (Some(columns), None) => {
            let texts = text::load(&args.data, columns, &args.common.label_column)?;
            let device = device(&args.common)?;
            // the vocabulary comes from the training rows, not the held-out ones
            let n = texts.texts.len();
            let held = ((n as f64 * args.validation_split.clamp(0.0, 1.0)) as usize).min(n);
            let train = &texts.texts[..n - held];
            let model = match args.model.extension().and_then(|e| e.to_str()) {
                Some("json") => text::open_adapted(&args.model, device, train)?,
                _ => open(&args.model, device)?,
            };
            let data = text::dataset(&model, texts)?;
            (model, Data::Arrays(Box::new(data)))
        }
        (None, None) if folder::is_image_folder(&args.data) => {
            let mut model = open(&args.model, device(&args.common)?)?;
            compile(&mut model, &args)?;
            let seed = args.seed.map_or(1337, |s| s as u32);
            let (train, held) = folder::datasets(
                &model,
                &args.data,
                args.batch_size,
                args.validation_split,
                seed,
            )?;
            (model, Data::Folder(train, held))
        }
        (None, None) => (
            open(&args.model, device(&args.common)?)?,
            Data::Arrays(Box::new(data::load(&args.data, &args.common.label_column)?)),
        ),
    };
    compile(&mut model, &args)?;

    let mut options = FitOptions::default()
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .validation_split(args.validation_split);
    if let Some(seed) = args.seed {
        options = options.seed(seed);
    }
    let monitor = if args.validation_split > 0.0 {
        "val_loss"
    } else {
        "loss"
    };
    let mut stop = args.early_stopping.map(|p| {
        EarlyStopping::new(monitor)
            .patience(p)
            .restore_best_weights(true)
    });
    if let Some(stop) = &mut stop {
        options = options.callback(stop);
    }
    let mut board = args
        .tensorboard
        .as_ref()
        .map(|dir| TensorBoard::new(dir).histogram_freq(1));
    if let Some(board) = &mut board {
        options = options.callback(board);
    }
    let mut strategy = distributed::strategy(args.distributed, args.parameter_server)?;
    // under mpirun only rank 0 (the chief) writes files and prints
    let chief = strategy.as_ref().is_none_or(|s| s.rank() == 0);
    if let Some(strategy) = strategy.as_deref_mut() {
        options = options.strategy(strategy);
    }
    let history = match &data {
        Data::Arrays(data) => {
            let x = data::inputs(&model, &data.train.x, data.bytes)?;
            let y = data::targets(&model, &data.train.y)?;
            model.fit(&x, &y, options).map_err(text)?
        }
        Data::Folder(train, held) => {
            // the folder was split when it was listed
            options.validation_split = 0.0;
            if let Some(held) = held {
                options = options.validation_dataset(held);
            }
            model.fit_dataset(train, options).map_err(text)?
        }
    };

    if !chief {
        return Ok(());
    }
    if let Some(strategy) = &strategy {
        println!("workers={}", strategy.workers());
    }
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let files = [
        out.join("model.safetensors"),
        out.join("history.csv"),
        out.join("curves.png"),
    ];
    model.save(&files[0]).map_err(text)?;
    history.save_csv(&files[1]).map_err(text)?;
    history.plot(&files[2]).map_err(text)?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    if let Some(stop) = &stop {
        println!("stopped_epoch={}", stop.stopped_epoch().unwrap_or(0));
    }
    // the test set when the source has one, else the held-out part, else the training data
    let (name, scores) = match data {
        Data::Arrays(data) => {
            let (name, split) = match data.test {
                Some(test) => ("test", test),
                None if args.validation_split > 0.0 => {
                    ("val", data::split_off(&data.train, args.validation_split).1)
                }
                None => ("train", data.train),
            };
            (name, score(&model, &split, data.bytes)?)
        }
        Data::Folder(train, held) => {
            let (name, batches) = match &held {
                Some(held) => ("val", held),
                None => ("train", &train),
            };
            let quiet = EvalOptions::default().verbose(0);
            (name, model.evaluate_dataset(batches, quiet).map_err(text)?)
        }
    };
    println!("{}", line(name, &scores));
    Ok(())
}

/// Compiles `model` from the file's compile section, with the flags replacing its parts.
fn compile(model: &mut Model, args: &TrainArgs) -> Result {
    let file = model.compile_config();
    if file.is_some() && args.optimizer.is_none() && args.lr.is_none() && args.loss.is_none() {
        return Ok(());
    }
    let optimizer = match (&args.optimizer, &file) {
        (Some(name), _) => Optimizer::from_name(name).map_err(text)?,
        (None, Some(c)) => c.optimizer.clone(),
        (None, None) => Optimizer::from_name("adam").map_err(text)?,
    };
    let optimizer = match args.lr {
        Some(lr) => optimizer.with_learning_rate(lr),
        None => optimizer,
    };
    let loss: Losses = match (&args.loss, &file) {
        (Some(name), _) => name.parse::<Loss>().map_err(text)?.into(),
        (None, Some(c)) => c.losses(),
        (None, None) => {
            return Err(format!(
                "{} has no compile section: give --loss (and --optimizer)",
                args.model.display()
            ));
        }
    };
    let metrics = file.map_or(Metrics::from(vec![Metric::Accuracy]), |c| {
        Metrics(c.metrics)
    });
    model.compile(optimizer, loss, metrics).map_err(text)
}

fn score(model: &Model, split: &Split, bytes: bool) -> Result<Logs> {
    let x = data::inputs(model, &split.x, bytes)?;
    let y = data::targets(model, &split.y)?;
    let quiet = EvalOptions::default().batch_size(128).verbose(0);
    model.evaluate_with(&x, &y, quiet).map_err(text)
}

/// `test_loss=0.0443 test_accuracy=0.9862`
fn line(prefix: &str, scores: &Logs) -> String {
    scores
        .iter()
        .map(|(n, v)| format!("{prefix}_{n}={v:.4}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn evaluate(path: &Path, source: &str, common: &Common) -> Result {
    let model = open(path, device(common)?)?;
    if model.compile_config().is_none() {
        return Err(format!(
            "{} was saved without compile settings; it cannot be scored",
            path.display()
        ));
    }
    let data = match (&common.text_column, common.series()?) {
        (Some(columns), _) => {
            text::dataset(&model, text::load(source, columns, &common.label_column)?)?
        }
        (None, Some(series_args)) => series::load(source, &series_args)?.dataset()?,
        (None, None) => data::load(source, &common.label_column)?,
    };
    let (name, split) = match data.test {
        Some(test) => ("test", test),
        None => {
            println!("{source} has no test set; scoring its training samples");
            ("train", data.train)
        }
    };
    let scores = score(&model, &split, data.bytes)?;
    println!("{}", line(name, &scores));
    Ok(())
}

pub fn predict(
    path: &Path,
    input: &Path,
    output: Option<&Path>,
    batch_size: usize,
    limit: Option<usize>,
    common: &Common,
) -> Result {
    let model = open(path, device(common)?)?;
    if input
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "json")
    {
        let out = output.ok_or("a .jsonl input needs --output DIR for the predictions")?;
        let report = crate::jsonl::predict_file(&model, input, out, batch_size)?;
        println!(
            "predicted={} errors={} results={}",
            report.predicted,
            report.errors,
            out.join(crate::jsonl::RESULTS).display()
        );
        return Ok(());
    }
    if output.is_some() {
        return Err("--output is for .jsonl inputs; other inputs' predictions are printed".into());
    }
    let (x, bytes) = read_inputs(&model, input)?;
    let x = data::inputs(&model, &x, bytes)?;
    let probabilities = model.predict(&x).map_err(text)?;
    let rows = probabilities.len_of(Axis(0));
    for (i, p) in probabilities
        .axis_iter(Axis(0))
        .take(limit.unwrap_or(rows))
        .enumerate()
    {
        let (class, best) = p
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (c, &v)| if v > b.1 { (c, v) } else { b });
        let all: Vec<String> = p.iter().map(|v| format!("{v:.4}")).collect();
        println!(
            "{i}: class={class} p={best:.4} probabilities=[{}]",
            all.join(", ")
        );
    }
    Ok(())
}

/// The samples of a `.png` (one image, resized to the model's input), an IDX file, or a `.npy`.
fn read_inputs(model: &Model, input: &Path) -> Result<(ArrayD<f32>, bool)> {
    let name = input.to_string_lossy();
    if name.ends_with(".npy") {
        let a = read_npy(input)?;
        return Ok((a.array, a.bytes));
    }
    if name.ends_with(".png") {
        return png(model, input).map(|x| (x, true));
    }
    if name.contains("idx") {
        let a = kiln::datasets::idx::read(input).map_err(text)?;
        return Ok((a.mapv(|v| v as f32), true));
    }
    Err(format!(
        "{name}: give a .png image, an IDX file (name containing idx) or a .npy"
    ))
}

fn png(model: &Model, input: &Path) -> Result<ArrayD<f32>> {
    let shape = model.graph().inputs()[0].shape.dims().to_vec();
    let (h, w, c) =
        crate::image::image_dims(&shape).map_err(|e| format!("the model's input takes {e}"))?;
    let file = std::fs::File::open(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let image = crate::image::decode_png(std::io::BufReader::new(file))
        .map_err(|e| format!("{}: {e}", input.display()))?;
    let pixels: Vec<f32> = crate::image::pixels(&image, (h, w, c))
        .into_iter()
        .map(f32::from)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&[1, h, w, c]), pixels).map_err(text)
}

pub fn serve(args: ServeArgs) -> Result {
    let seconds = |value: f64, flag: &str| {
        std::time::Duration::try_from_secs_f64(value)
            .map_err(|_| format!("{flag} must be a number of seconds, not {value}"))
    };
    if args.max_batch_size == 0 {
        return Err("--max-batch-size must be at least 1".into());
    }
    let source = match (args.model, args.model_base_path) {
        (Some(file), _) => serve::ModelSource::File(file),
        (None, Some(base)) => serve::ModelSource::Base(base),
        (None, None) => return Err("give --model-base-path DIR or --model FILE".into()),
    };
    serve::run(ServeOptions {
        name: args.model_name,
        source,
        device: Device::new(args.device.parse::<DeviceChoice>().map_err(text)?).map_err(text)?,
        address: std::net::SocketAddr::new(args.host, args.rest_api_port),
        batching: serve::BatchingOptions {
            merge: args.enable_batching,
            max_batch_size: args.max_batch_size,
            batch_timeout: std::time::Duration::from_micros(args.batch_timeout_micros),
            max_enqueued: args.max_enqueued.max(1),
        },
        poll: seconds(args.poll_seconds, "--file-system-poll-wait-seconds")?,
        max_body: args.max_body_bytes,
        max_in_flight: args.max_in_flight.max(1),
        request_timeout: seconds(args.request_timeout_secs, "--request-timeout-secs")?,
        header_timeout: seconds(args.header_timeout_secs, "--header-timeout-secs")?,
        drain_timeout: seconds(args.drain_timeout_secs, "--drain-timeout-secs")?,
    })
}
