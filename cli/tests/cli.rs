//! The `kiln` binary on the real MNIST subset shipped in `src/datasets/mnist_subset`: train for
//! one epoch, then evaluate and predict with the file it wrote; and its errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root, where `models/` is: the tests run the command from there.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const SUBSET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../src/datasets/mnist_subset");

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap()
}

/// Runs the command, fails the test with its output unless it succeeds, and gives its
/// standard output.
fn succeeds(args: &[&str]) -> String {
    let run = kiln(args);
    let text = stdout(&run);
    assert!(
        run.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    text
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The `name=value` pairs of a line.
fn values(line: &str) -> Vec<(String, f64)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

#[test]
fn train_then_evaluate_and_predict_with_the_written_file() {
    let out_dir = temp("run");
    let text = succeeds(&[
        "train",
        "models/mnist_dense.json",
        "--data",
        SUBSET,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--out",
        out_dir.to_str().unwrap(),
        "--seed",
        "1",
        "--device",
        "cpu",
    ]);
    assert!(text.contains("Training on: cpu"), "{text}");
    let last = text.lines().last().unwrap();
    let scores = values(last);
    assert_eq!(scores[0].0, "test_loss", "{last}");
    let accuracy = scores.iter().find(|(k, _)| k == "test_accuracy").unwrap().1;
    // 784-512-10 after one epoch on 2,000 digits: about 0.88 on the 500 test digits
    assert!(accuracy > 0.8, "{last}");

    let model = out_dir.join("model.safetensors");
    let csv = std::fs::read_to_string(out_dir.join("history.csv")).unwrap();
    assert!(csv.starts_with("epoch,accuracy,loss\n0,"), "{csv}");
    let png = std::fs::read(out_dir.join("curves.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");

    // evaluate scores the written model exactly as train did
    let eval = kiln(&[
        "evaluate",
        model.to_str().unwrap(),
        "--data",
        SUBSET,
        "--device",
        "cpu",
    ]);
    assert!(eval.status.success());
    assert_eq!(stdout(&eval).lines().last().unwrap(), last);

    // probing for a GPU without a display prints nothing that looks like an error (Mesa's
    // window-system code complained twice about XDG_RUNTIME_DIR)
    let probed = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "evaluate",
            model.to_str().unwrap(),
            "--data",
            SUBSET,
            "--device",
            "auto",
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir(ROOT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&probed.stderr);
    assert!(probed.status.success(), "{stderr}");
    assert!(
        !stderr.contains("error") && !stderr.contains("XDG_RUNTIME_DIR"),
        "{stderr}"
    );

    // predict on the 500 test images: its classes give the same accuracy
    let images = Path::new(SUBSET).join("t10k-images-idx3-ubyte.gz");
    let pred = kiln(&[
        "predict",
        model.to_str().unwrap(),
        "--input",
        images.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(pred.status.success());
    let lines: Vec<String> = stdout(&pred).lines().map(String::from).collect();
    assert_eq!(lines.len(), 500);
    let labels = kiln::datasets::mnist::subset().unwrap().y_test;
    let classes: Vec<usize> = lines
        .iter()
        .map(|l| {
            let c = l
                .split("class=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            c.parse().unwrap()
        })
        .collect();
    let correct = classes
        .iter()
        .zip(&labels)
        .filter(|(c, l)| **c == **l as usize)
        .count();
    assert!(
        (correct as f64 / 500.0 - accuracy).abs() < 1e-3,
        "{correct}/500 vs {accuracy}"
    );
    let probabilities: Vec<f64> = lines[0]
        .split('[')
        .nth(1)
        .unwrap()
        .trim_end_matches(']')
        .split(", ")
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(probabilities.len(), 10);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-2);

    // a PNG of the first test digit gets the same class
    let subset = kiln::datasets::mnist::subset().unwrap();
    let pixels: Vec<u8> = subset
        .x_test
        .slice(ndarray::s![0, .., ..])
        .iter()
        .copied()
        .collect();
    let png = temp("digit.png");
    image::GrayImage::from_raw(28, 28, pixels)
        .unwrap()
        .save(&png)
        .unwrap();
    let one = kiln(&[
        "predict",
        model.to_str().unwrap(),
        "--input",
        png.to_str().unwrap(),
    ]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let line = stdout(&one);
    assert!(
        line.starts_with(&format!("0: class={} ", classes[0])),
        "{line}"
    );
}

/// `.npy` bytes of a `uint8` array.
fn npy_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = kiln::io::npy::header("|u1", shape);
    out.extend(data);
    out
}

#[test]
fn npy_npz_and_csv_sources_train() {
    let m = kiln::datasets::mnist::subset().unwrap();
    let n = 300;
    let x: Vec<u8> = m.x_train.iter().take(n * 784).copied().collect();
    let y: Vec<u8> = m.y_train.iter().take(n).copied().collect();
    let (xp, yp) = (temp("x.npy"), temp("y.npy"));
    std::fs::write(&xp, npy_u8(&[n, 28, 28], &x)).unwrap();
    std::fs::write(&yp, npy_u8(&[n], &y)).unwrap();
    let pair = format!("{},{}", xp.display(), yp.display());
    let out = temp("npy-run");
    let run = kiln(&[
        "train",
        "models/mnist_cnn.json",
        "--data",
        &pair,
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout(&run)
            .lines()
            .last()
            .unwrap()
            .starts_with("train_loss=")
    );

    // an .npz with train and test arrays, as keras' mnist.npz
    let npz = temp("mnist.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&npz).unwrap());
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("x_train.npy", npy_u8(&[n, 28, 28], &x)),
        ("y_train.npy", npy_u8(&[n], &y)),
        ("x_test.npy", npy_u8(&[100, 28, 28], &x[..100 * 784])),
        ("y_test.npy", npy_u8(&[100], &y[..100])),
    ] {
        zip.start_file(name, stored).unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap();
    let run = kiln(&[
        "train",
        "models/mnist_dense.json",
        "--data",
        npz.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout(&run)
            .lines()
            .last()
            .unwrap()
            .starts_with("test_loss=")
    );

    // a CSV with a label column and a validation split
    let csv = temp("blobs.csv");
    let mut text = String::from("a,b,label\n");
    for i in 0..200 {
        let c = i % 2;
        text.push_str(&format!(
            "{},{},{c}\n",
            c as f32 * 2.0 + (i % 7) as f32 / 10.0,
            1.0 - c as f32
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let model = temp("blobs.json");
    let json = r#"{"format": "kiln.model", "format_version": 1, "name": "blobs",
        "graph": {"inputs": [{"name": "x", "shape": [2]}],
                  "layers": [{"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}]}}"#;
    std::fs::write(&model, json).unwrap();
    let run = kiln(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--loss",
        "sparse_categorical_crossentropy",
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
        "--epochs",
        "20",
        "--validation-split",
        "0.2",
        "--early-stopping",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let text = stdout(&run);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let scores = values(text.lines().last().unwrap());
    assert_eq!(scores[0].0, "val_loss");
    assert!(text.contains("stopped_epoch="));
}

fn fails(args: &[&str], needle: &str) {
    let out = kiln(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
}

#[test]
fn errors_are_messages_with_a_failing_exit_code() {
    fails(&["summary", "no/such/model.json"], "no/such/model.json");
    let garbage = temp("garbage.safetensors");
    std::fs::write(&garbage, b"not a model at all").unwrap();
    fails(&["summary", garbage.to_str().unwrap()], "safetensors");
    let bad_json = temp("bad.json");
    std::fs::write(&bad_json, "{\"format\": \"kiln.model\", ").unwrap();
    fails(&["summary", bad_json.to_str().unwrap()], "not valid JSON");
    // 28x28 images do not fit a model taking 2 features
    let model = temp("tiny.json");
    std::fs::write(
        &model,
        r#"{"format": "kiln.model", "format_version": 1, "name": "t",
            "graph": {"inputs": [{"name": "x", "shape": [2]}],
                      "layers": [{"class_name": "Dense", "config": {"units": 10}}]},
            "compile": {"optimizer": {"class_name": "sgd", "config": {"learning_rate": 0.1, "momentum": 0.0, "nesterov": false}},
                        "loss": {"loss": "categorical_crossentropy"}, "metrics": []}}"#,
    )
    .unwrap();
    fails(
        &[
            "train",
            model.to_str().unwrap(),
            "--data",
            SUBSET,
            "--device",
            "cpu",
        ],
        "model's input",
    );
    fails(
        &["train", "models/mnist_dense.json", "--data", "nowhere.xyz"],
        "not a data source",
    );
    fails(
        &[
            "train",
            "models/mnist_dense.json",
            "--data",
            SUBSET,
            "--optimizer",
            "adagrad",
        ],
        "adagrad",
    );
    fails(
        &["evaluate", "missing.safetensors", "--data", SUBSET],
        "missing.safetensors",
    );
    fails(&["train", "models/mnist_dense.json"], "--data");
    for sub in ["summary", "train", "evaluate", "predict"] {
        let out = kiln(&[sub, "--help"]);
        assert!(
            out.status.success() && stdout(&out).contains("Usage"),
            "{sub} --help"
        );
    }
}

/// Text: a model file with an unadapted TextVectorization trains from a CSV's text columns (a
/// quoted field spanning lines, gzipped too), the vocabulary learned from the training rows;
/// the saved model then scores the file's texts. A missing text column is an error naming it.
#[test]
fn text_columns_train_a_text_model_file() {
    use kiln::prelude::*;
    let model = Sequential::new()
        .name("tiny_text")
        .input([6])
        .add(
            TextVectorization::new()
                .max_tokens(50)
                .output_sequence_length(6),
        )
        .add(Embedding::new(50, 8))
        .add(GlobalAveragePooling1D::new())
        .add(Dense::new(1).activation(Sigmoid))
        .compile(
            Optimizer::adam(5e-2),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let file = temp("tiny_text.json");
    std::fs::write(&file, model.to_json()).unwrap();
    let mut csv = String::from("label,subject,body\n");
    for i in 0..40 {
        if i % 2 == 0 {
            csv += &format!("1,Win money {i},\"free cash\nclaim your prize\"\n");
        } else {
            csv += &format!("0,Meeting {i},\"notes from the team\nsee you at noon\"\n");
        }
    }
    let data = temp("tiny_text.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, csv.as_bytes()).unwrap();
    std::fs::write(&data, gz.finish().unwrap()).unwrap();
    let out_dir = temp("text_run");
    let (file, data, out) = (
        file.to_str().unwrap(),
        data.to_str().unwrap(),
        out_dir.to_str().unwrap(),
    );
    let text = succeeds(&[
        "train",
        file,
        "--data",
        data,
        "--text-column",
        "subject,body",
        "--epochs",
        "20",
        "--batch-size",
        "8",
        "--validation-split",
        "0.25",
        "--out",
        out,
        "--seed",
        "1",
        "--device",
        "cpu",
    ]);
    assert!(
        text.contains("adapted `text_vectorization` to 30 texts"),
        "{text}"
    );
    let saved = out_dir.join("model.safetensors");
    let eval = kiln(&[
        "evaluate",
        saved.to_str().unwrap(),
        "--data",
        data,
        "--text-column",
        "subject,body",
        "--device",
        "cpu",
    ]);
    let text = stdout(&eval);
    assert!(
        eval.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let scores = values(text.lines().last().unwrap());
    assert_eq!(scores[1], ("train_accuracy".to_string(), 1.0), "{text}");
    let bad = kiln(&[
        "train",
        file,
        "--data",
        data,
        "--text-column",
        "title",
        "--out",
        out,
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("`title`"), "{err}");
}

/// A daily series as a CSV: `date, p, hi, lo, w`, the maximum a sine of period 30 days.
fn series_csv(days: usize) -> String {
    let mut csv = String::from("date,p,hi,lo,w\n");
    for t in 0..days {
        let hi = 20.0 + 8.0 * (t as f64 * std::f64::consts::TAU / 30.0).sin();
        let p = ((t * 7) % 5) as f64 * 0.5;
        csv += &format!("d{t},{p},{hi:.3},{:.3},3.0\n", hi - 5.0);
    }
    csv
}

/// `--window`: the weather model file trains on a CSV's raw rows, its two `Normalization`
/// layers adapted to the training rows (those before the held-out windows), the forecast in
/// the target's units; `evaluate` scores the saved model on the same test rows alike.
#[test]
fn window_flags_train_a_forecaster_on_a_csv_series() {
    let data = temp("series.csv");
    std::fs::write(&data, series_csv(300)).unwrap();
    let out_dir = temp("series_run");
    let data = data.to_str().unwrap();
    let series = [
        "--data",
        data,
        "--window",
        "14",
        "--columns",
        "p,hi,lo,w",
        "--target",
        "hi",
        "--test-from",
        "d250",
        "--device",
        "cpu",
    ];
    let mut args = vec![
        "train",
        "models/weather_lstm_normalized.json",
        "--epochs",
        "30",
        "--validation-split",
        "0.2",
        "--seed",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend(series);
    let text = succeeds(&args);
    // 236 training windows, the last 47 held out: statistics from the rows before theirs
    assert!(
        text.contains("adapted `normalization` to the window columns of 203 rows")
            && text.contains("adapted `normalization_1` to the target of 203 rows"),
        "{text}"
    );
    let test_line = text.lines().last().unwrap();
    let scores = values(test_line);
    let mae = scores.iter().find(|(k, _)| k == "test_mae").unwrap().1;
    // tomorrow as today misses a sine of amplitude 8 and period 30 by 1.07 on average
    assert!(mae < 1.0, "{test_line}");
    let mut args = vec!["evaluate"];
    let saved = out_dir.join("model.safetensors");
    args.push(saved.to_str().unwrap());
    args.extend(series);
    let eval = kiln(&args);
    let eval_text = stdout(&eval);
    assert!(eval.status.success(), "{eval_text}");
    assert_eq!(eval_text.lines().last(), Some(test_line), "{eval_text}");
}

#[test]
fn window_flags_name_what_is_missing_or_wrong() {
    let data = temp("series_errors.csv");
    std::fs::write(&data, series_csv(40)).unwrap();
    let data = data.to_str().unwrap();
    let train = |extra: &[&'static str]| -> Vec<&str> {
        let mut args = vec![
            "train",
            "models/weather_lstm_normalized.json",
            "--data",
            data,
            "--window",
            "14",
        ];
        args.extend(extra);
        args
    };
    fails(
        &train(&["--columns", "p,hi,lo,w"]),
        "--window needs --target",
    );
    fails(
        &train(&["--columns", "p,hi,x,w", "--target", "hi"]),
        "no column `x`",
    );
    fails(
        &train(&[
            "--columns",
            "p,hi,lo,w",
            "--target",
            "hi",
            "--test-from",
            "d99",
        ]),
        "no row has `d99` in column `date`",
    );
    fails(
        &train(&[
            "--columns",
            "p,hi,lo,w",
            "--target",
            "hi",
            "--test-from",
            "d10",
        ]),
        "cannot give windows of 14 rows",
    );
    // two columns for a model of four: the adapted layer names both
    fails(
        &train(&["--columns", "p,hi", "--target", "hi"]),
        "`normalization` (Normalization): 2 means and 2 variances for 4 features",
    );
}

/// `--tensorboard DIR`: event files for training and validation, written as training goes
/// (their contents are read by TensorBoard itself in `tests/tensorboard.rs`).
#[test]
fn tensorboard_flag_writes_event_files() {
    let logs = temp("tb_logs");
    let out_dir = temp("tb_run");
    let run = kiln(&[
        "train",
        "models/mnist_dense.json",
        "--data",
        SUBSET,
        "--epochs",
        "2",
        "--validation-split",
        "0.2",
        "--tensorboard",
        logs.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(
        run.status.success(),
        "{}{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    for run_dir in ["train", "validation"] {
        let files: Vec<_> = std::fs::read_dir(logs.join(run_dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with("events.out.tfevents.") && name.ends_with(".v2"),
            "{name}"
        );
        assert!(
            std::fs::metadata(&files[0]).unwrap().len() > 100,
            "{name} is empty"
        );
    }
}

/// `kiln plot`: SVG, PNG and DOT from a model file; another extension is an error.
#[test]
fn plot_draws_a_model_file() {
    for ext in ["svg", "png", "dot"] {
        let out = temp(&format!("resnet.{ext}"));
        let run = kiln(&["plot", "models/mnist_resnet.json", out.to_str().unwrap()]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        match ext {
            "png" => assert_eq!(&bytes[1..4], b"PNG"),
            _ => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    text.contains("batch_normalization_1 (BatchNormalization)"),
                    "{text}"
                );
            }
        }
    }
    fails(
        &["plot", "models/mnist_resnet.json", "resnet.jpg"],
        ".svg or .png",
    );
}

/// `kiln convert` writes a Keras file as a kiln model file that predicts what Keras printed
/// (tests/fixtures/keras/tiny.keras, see tests/keras_import.rs); `kiln summary` reads the
/// `.keras` file itself.
#[test]
fn convert_writes_a_keras_file_as_a_kiln_model() {
    let keras = format!("{ROOT}/tests/fixtures/keras/tiny.keras");
    let out = temp("tiny.safetensors");
    let text = succeeds(&["convert", &keras, out.to_str().unwrap()]);
    assert!(text.contains("2 layers, 23 weights"), "{text}");
    let model = kiln::load_model(&out).unwrap();
    let x = ndarray::arr2(&[[0.1f32, -0.2, 0.3, 0.4], [1.0, 0.5, -0.5, 0.0]]);
    let p = model.predict(&x).unwrap();
    let keras_p = [0.49915496f32, 0.500845, 0.5736266, 0.42637342];
    for (a, b) in p.iter().zip(keras_p) {
        assert!((a - b).abs() < 1e-6, "{p}");
    }
    let summary = succeeds(&["summary", &keras]);
    assert!(summary.contains("Total params: 23"), "{summary}");
    fails(
        &[
            "convert",
            &format!("{ROOT}/Cargo.toml"),
            out.to_str().unwrap(),
        ],
        "Cargo.toml",
    );
}

#[test]
fn an_image_folder_trains_batch_by_batch() {
    // 600 MNIST digits as PNG files in class folders, read as Keras'
    // image_dataset_from_directory reads them
    let m = kiln::datasets::mnist::subset().unwrap();
    let dir = temp("digits");
    for (i, image) in m.x_train.outer_iter().take(600).enumerate() {
        let class = dir.join(m.y_train[i].to_string());
        std::fs::create_dir_all(&class).unwrap();
        let pixels: Vec<u8> = image.iter().copied().collect();
        image::GrayImage::from_raw(28, 28, pixels)
            .unwrap()
            .save(class.join(format!("{i}.png")))
            .unwrap();
    }
    let out = temp("folder-run");
    let text = succeeds(&[
        "train",
        "models/mnist_cnn.json",
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "3",
        "--validation-split",
        "0.2",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(
        text.contains("480 training and 120 validation images"),
        "{text}"
    );
    let last = values(text.lines().last().unwrap());
    assert_eq!(last[0].0, "val_loss", "{text}");
    let accuracy = last.iter().find(|(k, _)| k == "val_accuracy").unwrap().1;
    // ten classes from 480 images in 3 epochs: far above chance
    assert!(accuracy > 0.6, "{text}");
    assert!(out.join("model.safetensors").exists());
    // a folder whose images do not fit the model's input channels is refused by name
    fails(
        &[
            "train",
            "models/weather_lstm.json",
            "--data",
            dir.to_str().unwrap(),
        ],
        "holds images",
    );
}
