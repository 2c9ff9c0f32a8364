//! The `TensorBoard` callback's logs, read by TensorBoard itself: the `tensorboard` package's
//! `EventAccumulator` finds every scalar History has (tags, steps, values), the histograms and
//! the summary text; TensorFlow's TFRecord reader checks every CRC. The interpreter is
//! `KILN_PYTHON`; without `tensorboard` and `tensorflow` the tests say so and pass, unless
//! `KILN_REQUIRE_PYTHON=1` (`.ci/run` installs both).

use kiln::callbacks::{BackupAndRestore, Callback, TensorBoard, UpdateFreq};
use kiln::datasets::mnist;
use kiln::io::ModelConfig;
use kiln::prelude::*;
use kiln::{History, Logs};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};

mod python;

fn python() -> Option<String> {
    python::interpreter(
        "KILN_PYTHON",
        "tensorboard, tensorflow",
        "KILN_REQUIRE_PYTHON",
    )
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-tb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The scalars History says the callback wrote: `epoch_<name>` per epoch, training logs under
/// `train` (with the learning rate), validation logs under `validation`.
fn epoch_scalars(history: &History, learning_rate: f64) -> Json {
    let (mut train, mut validation) = (serde_json::Map::new(), serde_json::Map::new());
    for name in history.names() {
        let points: Vec<Json> = history
            .epochs()
            .iter()
            .zip(history.get(name).unwrap())
            .map(|(e, v)| json!([e, v]))
            .collect();
        match name.strip_prefix("val_") {
            Some(n) => validation.insert(format!("epoch_{n}"), points.into()),
            None => train.insert(format!("epoch_{name}"), points.into()),
        };
    }
    let lr: Vec<Json> = history
        .epochs()
        .iter()
        .map(|e| json!([e, learning_rate]))
        .collect();
    train.insert("epoch_learning_rate".into(), lr.into());
    json!({"train": train, "validation": validation})
}

fn check(python: &str, dir: &Path, expected: Json) -> String {
    let file = dir.join("expected.json");
    std::fs::write(&file, expected.to_string()).unwrap();
    let text = python::run(
        python,
        "tests/interop/tensorboard_read.py",
        &[dir.to_str().unwrap(), file.to_str().unwrap()],
    );
    assert!(text.contains("tensorboard ok"), "{text}");
    text
}

/// A 3-epoch MNIST run with validation: epoch scalars, batch scalars every 5 steps,
/// histograms every epoch, the summary.
#[test]
fn tensorboard_reads_the_logs_of_an_mnist_run() {
    let Some(python) = python() else {
        return;
    };
    kiln::set_random_seed(1);
    let m = mnist::subset().unwrap();
    let n = m.y_train.len();
    let (x, y) = (
        python::images(&m.x_train, n, &[784]),
        python::one_hot(&m.y_train, n),
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist_dense.json");
    let mut model = ModelConfig::read(path)
        .unwrap()
        .build(Device::cpu().unwrap())
        .unwrap();
    let dir = temp("mnist");
    let mut board = TensorBoard::new(&dir)
        .update_freq(UpdateFreq::Batches(5))
        .histogram_freq(1);
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(3)
                .batch_size(32)
                .validation_split(0.2)
                .verbose(0)
                .callback(&mut board),
        )
        .unwrap();
    drop(board);
    let mut scalars = epoch_scalars(&history, model.learning_rate().unwrap());
    // batch_loss every 5 steps: its steps are the multiples of 5 up to the step count
    let steps = model.iterations();
    let batch_steps: Vec<u64> = (1..=steps).filter(|s| s % 5 == 0).collect();
    let evaluations: Vec<u64> = (0..3).map(|e| (e + 1) * steps / 3).collect();
    let expected_steps = json!({
        "batch": batch_steps,
        "evaluation": evaluations,
    });
    let histograms: serde_json::Map<String, Json> = model
        .get_weights()
        .into_iter()
        .map(|(name, w)| (format!("{name}/histogram"), json!(w.len())))
        .collect();
    let expected = json!({
        "scalars": scalars.take(),
        "histograms": histograms,
        "summary": "Total params: 407,050",
        "steps": expected_steps,
        "graph": {
            "input_layer": [],
            "dense": ["input_layer"],
            "dense_1": ["dense"],
        },
    });
    let text = check(&python, &dir, expected);
    assert!(text.contains("batch_loss steps ok"), "{text}");
    assert!(text.contains("graph ok"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Fails the run after epoch 2, as a crash would end it.
struct Crash;

impl Callback for Crash {
    fn on_epoch_end(&mut self, epoch: usize, _: &Logs, _: &mut Model) -> kiln::Result<()> {
        if epoch == 1 {
            return Err(kiln::Error::Data {
                message: "crashed".into(),
            });
        }
        Ok(())
    }
}

/// A run stopped after 2 of 4 epochs and resumed by `BackupAndRestore` continues the same
/// curves: epochs 0 to 3 once each, batch steps counting on from the backup's.
#[test]
fn a_resumed_run_continues_the_same_curves() {
    let Some(python) = python() else {
        return;
    };
    let (dir, backup_dir) = (temp("resume"), temp("resume-backup"));
    let x = ndarray::Array2::from_shape_fn((64, 3), |(i, j)| ((i * 5 + j) % 7) as f32 / 7.0);
    let y = x.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1));
    let model = || {
        kiln::set_random_seed(2);
        Sequential::new()
            .input([3])
            .add(Dense::new(4).activation(Tanh))
            .add(Dense::new(1))
            .compile(Optimizer::sgd(0.05), Loss::MeanSquaredError, &[])
            .unwrap()
    };
    let fit = |model: &mut Model, crash: bool| {
        let mut backup = BackupAndRestore::new(&backup_dir);
        let mut board = TensorBoard::new(&dir).update_freq(UpdateFreq::Batches(1));
        let mut crasher = Crash;
        let mut options = FitOptions::default()
            .epochs(4)
            .batch_size(16)
            .verbose(0)
            .callback(&mut backup)
            .callback(&mut board);
        if crash {
            options = options.callback(&mut crasher);
        }
        model.fit(&x, &y, options)
    };
    let mut first = model();
    assert!(fit(&mut first, true).is_err());
    let mut second = model();
    let history = fit(&mut second, false).unwrap();
    assert_eq!(history.epochs(), &[2, 3]);
    // the losses of epochs 0 and 1 are the first run's; History has the last two
    let mut scalars = epoch_scalars(&history, 0.05);
    let train = scalars["train"].as_object_mut().unwrap();
    for tag in ["epoch_loss", "epoch_learning_rate"] {
        let points = train[tag].as_array_mut().unwrap();
        points.retain(|p| p[0].as_u64() >= Some(2));
    }
    let expected = json!({
        "scalars": {"train": {}},
        "histograms": {},
        "summary": "Total params: 21",
        "steps": {"batch": (1..=16).collect::<Vec<u64>>(), "epoch": [0, 1, 2, 3],
                  "last_epochs": scalars["train"]},
    });
    let text = check(&python, &dir, expected);
    assert!(text.contains("batch_loss steps ok"), "{text}");
    assert!(text.contains("epoch steps ok"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The graph dashboard's graph of a model with branches: two inputs, a shared layer, a merge,
/// two outputs, as TensorBoard's own converter reads the `keras` tag.
#[test]
fn tensorboard_draws_the_graph_of_a_branched_model() {
    let Some(python) = python() else {
        return;
    };
    let (a, b) = (Input::new([4]).name("a"), Input::new([4]).name("b"));
    let shared = Dense::new(3).name("encoder").shared();
    let (ea, eb) = (shared.apply(&a).unwrap(), shared.apply(&b).unwrap());
    let both = Concatenate::new().apply([&ea, &eb]).unwrap();
    let score = Dense::new(1).name("score").apply(&both).unwrap();
    let class = Dense::new(2).name("class").apply(&both).unwrap();
    let mut model = Functional::new([&a, &b], [&score, &class])
        .unwrap()
        .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])
        .unwrap();
    let x = ndarray::Array2::<f32>::ones((8, 4));
    let (y1, y2) = (
        ndarray::Array2::<f32>::ones((8, 1)),
        ndarray::Array2::<f32>::ones((8, 2)),
    );
    let dir = temp("graph");
    let mut board = TensorBoard::new(&dir);
    model
        .fit(
            &[&x, &x],
            &[&y1, &y2],
            FitOptions::default()
                .epochs(1)
                .verbose(0)
                .callback(&mut board),
        )
        .unwrap();
    drop(board);
    let expected = json!({
        "scalars": {"train": {}},
        "histograms": {},
        "summary": "encoder (Dense)",
        "graph": {
            "a": [], "b": [],
            "encoder": ["a", "b"],
            "concatenate": ["encoder", "encoder"],
            "score": ["concatenate"],
            "class": ["concatenate"],
        },
    });
    let text = check(&python, &dir, expected);
    assert!(text.contains("graph ok"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
