//! kiln trains like Keras (3.15, TensorFlow backend), checked against Keras itself.
//!
//! - One step: from the same initial weights, on the same batch, kiln's gradients and its new
//!   moving statistics equal those of Keras computing in float64, within float32 rounding. One
//!   plain SGD step with a learning rate of 1000 moves each trainable weight by 1000 times its
//!   gradient, so the saved weights reveal kiln's gradients.
//! - Whole fits: the dense model with its own optimizer (RMSprop), for two epochs of 16 batches
//!   (the last one short) without shuffling, reaches the same losses, weights and predictions as
//!   Keras. They agree within about 1e-6; the bounds are looser (2% of each weight's update)
//!   because one rounding can tip a ReLU or an optimizer's step on a gradient near 0, and that
//!   difference grows over the steps (in an earlier setting with 1,024 samples, one start in
//!   eight reached 6.5e-4 of the update, and another 1.2e-2). A doubled RMSprop epsilon misses
//!   them by far (13%).
//!
//! Longer fits of the convolutional models are not compared weight by weight: Adam rescales
//! each gradient to about its learning rate, so the rounding of gradients near 0 (a few 1e-7 of
//! the largest, in kiln and in Keras alike) changes their updates, and the residual network
//! amplifies such differences step after step.
//!
//! The cases are the reference models of `models/` with their dropout rates set to 0 (kiln and
//! Keras draw dropout masks with different generators; `ops::dropout` is tested on its own), and,
//! for the step, three more models covering the rest of the layer family. The
//! script, `tests/interop/keras_training.py`, rebuilds each model in Keras from the architecture
//! kiln saved in its file, so it reads kiln's files only.
//!
//! The interpreter is `KILN_KERAS_PYTHON` (default `python3`). When it cannot import keras, the
//! tests say so and pass, unless `KILN_REQUIRE_KERAS=1` (set by `.ci/run`, which installs
//! `tensorflow-cpu` and `keras`).

use kiln::datasets::mnist;
use kiln::io::ModelConfig;
use kiln::prelude::*;
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

mod python;

const TEST_SAMPLES: usize = 200;
const STEP_LEARNING_RATE: f64 = 1000.0;

/// Seeds are process-wide and the tests of a binary run in parallel: each test holds this
/// while it builds and trains, so that its weights come from its own seed.
static SEEDED: Mutex<()> = Mutex::new(());

/// What a test needs before it writes its case: the interpreter with keras (`None` skips the
/// test), the seed lock, held until the test ends, with kiln seeded by `seed`, and a fresh
/// directory named after `test`.
fn start(test: &str, seed: u64) -> Option<(String, MutexGuard<'static, ()>, PathBuf)> {
    let python = python::interpreter(
        "KILN_KERAS_PYTHON",
        "keras, safetensors",
        "KILN_REQUIRE_KERAS",
    )?;
    let seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    kiln::set_random_seed(seed);
    let dir = std::env::temp_dir().join(format!("kiln-keras-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Some((python, seeded, dir))
}

/// A reference model from `models/`, with every dropout rate set to 0, and plain SGD at
/// `sgd_rate` replacing its optimizer when given.
fn reference(file: &str, sgd_rate: Option<f64>) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let layers = json["graph"]["layers"].as_array_mut().unwrap();
    for layer in layers.iter_mut().filter(|l| l["class_name"] == "Dropout") {
        layer["config"]["rate"] = 0.0.into();
    }
    if let Some(rate) = sgd_rate {
        json["compile"]["optimizer"] = serde_json::json!({
            "class_name": "sgd",
            "config": {"learning_rate": rate, "momentum": 0.0, "nesterov": false}
        });
    }
    ModelConfig::from_json(&json.to_string())
        .unwrap()
        .build(Device::cpu().unwrap())
        .unwrap()
}

/// Models that cover the layer family beyond the reference models: strides, "same" padding,
/// dilation, average and global pooling, BatchNorm after a strided convolution, Conv1D with
/// LayerNormalization, merges, the 1D poolings.
fn layer_family(sgd_rate: f64) -> [(&'static str, Model); 4] {
    let sgd = || Optimizer::sgd(sgd_rate);
    let cpu = || Device::cpu().unwrap();
    let ce = || Loss::CategoricalCrossentropy;
    let strided = Sequential::new()
        .input([28, 28, 1])
        // no bias before BatchNorm: its gradient is 0, and the rounding of a sum that
        // cancels exactly would be compared with nothing
        .add(
            Conv2D::new(8, 3)
                .strides(2)
                .padding(Padding::Same)
                .use_bias(false),
        )
        .add(BatchNormalization::new())
        .add(ActivationLayer::new(Relu))
        .add(AveragePooling2D::new(2).padding(Padding::Same))
        .add(Conv2D::new(16, 3).dilation_rate(2).activation(Gelu))
        .add(MaxPooling2D::new(2).strides(1))
        .add(GlobalAveragePooling2D::new())
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    let sequence = Sequential::new()
        .input([28, 28])
        .add(Conv1D::new(8, 3).activation(Tanh))
        .add(LayerNormalization::new())
        .add(MaxPooling1D::new(2))
        .add(Flatten::new())
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    // the 1D poolings: averages with "same" padding, global mean and max in two branches
    let rows = Input::new([28, 28]);
    let h = Conv1D::new(6, 3).activation(Relu).apply(&rows).unwrap();
    let h = AveragePooling1D::new(3)
        .strides(2)
        .padding(Padding::Same)
        .apply(&h)
        .unwrap();
    let mean = GlobalAveragePooling1D::new().apply(&h).unwrap();
    let max = GlobalMaxPooling1D::new().apply(&h).unwrap();
    let both = Concatenate::new().apply([&mean, &max]).unwrap();
    let digit = Dense::new(10).activation(Softmax).apply(&both).unwrap();
    let pools = Functional::new([&rows], [&digit])
        .unwrap()
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    let image = Input::new([28, 28, 1]);
    let a = Conv2D::new(4, 3).padding(Padding::Same).activation(Relu);
    let b = Conv2D::new(4, 3).padding(Padding::Same).activation(Tanh);
    let (a, b) = (a.apply(&image).unwrap(), b.apply(&image).unwrap());
    let sum = Add::new().apply([&a, &b]).unwrap();
    let product = Multiply::new().apply([&a, &b]).unwrap();
    let both = Concatenate::new().apply([&sum, &product]).unwrap();
    let pooled = GlobalMaxPooling2D::new().apply(&both).unwrap();
    let digit = Dense::new(10).activation(Softmax).apply(&pooled).unwrap();
    let merges = Functional::new([&image], [&digit])
        .unwrap()
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    [
        ("strided", strided),
        ("sequence", sequence),
        ("merges", merges),
        ("pools1d", pools),
    ]
}

/// The sequence family: Embedding with a mask through SimpleRNN, LSTM (backwards) and GRU, all
/// returning sequences but the last; GRU without `reset_after` and TimeDistributed on rows of
/// pixels; Bidirectional LSTM and GRU on a masked embedding, one merged by concatenation and
/// averaged over the unmasked steps, one merged by their mean; recurrent layers' final states
/// (`return_state`) as outputs and as other layers' initial states; a tagger whose loss counts
/// only the unmasked steps. Each with its data: images, or token ids with a digit's class, or
/// with a class per step.
fn sequence_family(sgd_rate: f64) -> [(&'static str, Model, Data); 5] {
    let sgd = || Optimizer::sgd(sgd_rate);
    let cpu = || Device::cpu().unwrap();
    let ce = || Loss::CategoricalCrossentropy;
    let recurrent = Sequential::new()
        .input([20])
        .add(Embedding::new(10, 6).mask_zero(true))
        .add(SimpleRNN::new(5).return_sequences(true))
        .add(LSTM::new(4).go_backwards(true).return_sequences(true))
        .add(GRU::new(3))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    let rows = Sequential::new()
        .input([28, 28])
        .add(GRU::new(6).reset_after(false).return_sequences(true))
        .add(TimeDistributed::new(Dense::new(4).activation(Tanh)))
        .add(LSTM::new(5).go_backwards(true))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    let ids = Input::new([20]);
    let e = Embedding::new(10, 6).mask_zero(true).apply(&ids).unwrap();
    let a = Bidirectional::new(LSTM::new(4).return_sequences(true))
        .apply(&e)
        .unwrap();
    let a = GlobalAveragePooling1D::new().apply(&a).unwrap();
    let b = Bidirectional::new(GRU::new(3))
        .merge_mode(MergeMode::Ave)
        .apply(&e)
        .unwrap();
    let both = Concatenate::new().apply([&a, &b]).unwrap();
    let digit = Dense::new(10).activation(Softmax).apply(&both).unwrap();
    let bidirectional = Functional::new([&ids], [&digit])
        .unwrap()
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    let tagger = Sequential::new()
        .input([20])
        .add(Embedding::new(10, 6).mask_zero(true))
        .add(LSTM::new(5).return_sequences(true))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(sgd(), ce(), &[])
        .unwrap();
    [
        ("recurrent", recurrent, Data::Ids),
        ("rows", rows, Data::Images),
        ("bidirectional", bidirectional, Data::Ids),
        ("states", states_model(sgd_rate), Data::Ids),
        ("tagger", tagger, Data::Tags),
    ]
}

/// What a sequence case trains on.
enum Data {
    /// MNIST images and their one-hot digits.
    Images,
    /// Token ids (see [`token_ids`]) and the one-hot digits.
    Ids,
    /// Token ids, and at each step the one-hot of the next step's id (the last step: its own).
    Tags,
}

/// `return_state` and initial states on a masked embedding: an LSTM's sequence and final
/// states start a backwards LSTM; a GRU's final state starts a SimpleRNN; a Bidirectional LSTM
/// gives both directions' states; a Bidirectional SimpleRNN starts from the GRU's and the
/// SimpleRNN's states. Outputs and states (`c` too) meet in the classifier.
fn states_model(sgd_rate: f64) -> Model {
    let all =
        |layer: kiln::layers::Layer, inputs: Vec<&SymbolicTensor>| layer.apply_all(inputs).unwrap();
    let ids = Input::new([20]);
    let e = Embedding::new(10, 6).mask_zero(true).apply(&ids).unwrap();
    let encoder = LSTM::new(4).return_sequences(true).return_state(true);
    let [seq, h, c] = <[SymbolicTensor; 3]>::try_from(all(encoder.into(), vec![&e])).unwrap();
    let decoded = LSTM::new(4)
        .go_backwards(true)
        .apply([&seq, &h, &c])
        .unwrap();
    let gru = GRU::new(3).return_state(true);
    let [g_out, g_h] = <[SymbolicTensor; 2]>::try_from(all(gru.into(), vec![&e])).unwrap();
    let simple = SimpleRNN::new(3).return_state(true);
    let [_, s_h] = <[SymbolicTensor; 2]>::try_from(all(simple.into(), vec![&e, &g_h])).unwrap();
    let bi = Bidirectional::new(LSTM::new(2).return_state(true));
    let [b_out, _, f_c, b_h, _] =
        <[SymbolicTensor; 5]>::try_from(all(bi.into(), vec![&e])).unwrap();
    let bi_simple = Bidirectional::new(SimpleRNN::new(3).return_sequences(true))
        .apply([&e, &g_h, &s_h])
        .unwrap();
    let pooled = GlobalAveragePooling1D::new().apply(&bi_simple).unwrap();
    let both = Concatenate::new()
        .apply([&decoded, &c, &g_out, &s_h, &b_out, &f_c, &b_h, &pooled])
        .unwrap();
    let digit = Dense::new(10).activation(Softmax).apply(&both).unwrap();
    Functional::new([&ids], [&digit])
        .unwrap()
        .device(Device::cpu().unwrap())
        .compile(Optimizer::sgd(sgd_rate), Loss::CategoricalCrossentropy, &[])
        .unwrap()
}

/// Saves `model` as it starts, fits it on the first `samples` training images in batches of
/// `batch` for `epochs` without shuffling, and saves it again with the data, its per-epoch
/// losses and its predictions on test images, for the script to redo in Keras.
fn write_case(dir: &Path, name: &str, model: Model, samples: usize, epochs: usize, batch: usize) {
    let m = mnist::subset().unwrap();
    let sample = model.graph().inputs()[0].shape.dims().to_vec();
    let x = python::images(&m.x_train, samples, &sample);
    let y = python::one_hot(&m.y_train, samples);
    let x_test = python::images(&m.x_test, TEST_SAMPLES, &sample);
    write_case_on(dir, name, model, [x, y, x_test], epochs, batch);
}

/// Token ids for the sequence models: the middle row of each image, columns 4 to 23, each
/// pixel cut into ten levels (0 for a blank pixel, which `mask_zero` masks: each sequence has
/// blanks at both ends and some in the middle).
fn token_ids(images: &ndarray::Array3<u8>, n: usize) -> ArrayD<f32> {
    let rows = python::images(images, n, &[28, 28]);
    rows.slice(ndarray::s![.., 14, 4..24])
        .mapv(|v| (v * 9.99).floor())
        .into_dyn()
}

/// [`write_case`] on given data: training `x`, `y` and test `x`.
fn write_case_on(
    dir: &Path,
    name: &str,
    mut model: Model,
    [x, y, x_test]: [ArrayD<f32>; 3],
    epochs: usize,
    batch: usize,
) {
    model
        .save(dir.join(format!("{name}.init.safetensors")))
        .unwrap();
    let options = FitOptions::default()
        .epochs(epochs)
        .batch_size(batch)
        .shuffle(false)
        .verbose(0);
    let history = model.fit(&x, &y, options).unwrap();
    model
        .save(dir.join(format!("{name}.trained.safetensors")))
        .unwrap();
    let predictions = model.predict(&x_test).unwrap();
    let losses: Vec<f32> = history
        .get("loss")
        .unwrap()
        .iter()
        .map(|v| *v as f32)
        .collect();
    let losses = ArrayD::from_shape_vec(IxDyn(&[epochs]), losses).unwrap();
    python::write_tensors(
        &dir.join(format!("{name}.data.safetensors")),
        &[
            ("x", &x),
            ("y", &y),
            ("x_test", &x_test),
            ("predictions", &predictions),
            ("loss", &losses),
        ],
    );
}

/// Runs the script in `mode` on `dir` and checks it compared `cases` cases.
fn compare(python: &str, mode: &str, dir: &Path, args: &[&str], cases: usize) {
    let mut all = vec![mode, dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let text = python::run(python, "tests/interop/keras_training.py", &all);
    assert_eq!(
        text.matches(" ok:").count(),
        cases,
        "every case compared:\n{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn one_step_of_each_model_matches_keras_in_float64() {
    let Some((python, _seeded, dir)) = start("step", 1) else {
        return;
    };
    let cases = ["mnist_dense", "mnist_cnn", "mnist_resnet"];
    for name in cases {
        let model = reference(&format!("{name}.json"), Some(STEP_LEARNING_RATE));
        write_case(&dir, name, model, 64, 1, 64);
    }
    let family = layer_family(STEP_LEARNING_RATE);
    let count = cases.len() + family.len();
    for (name, model) in family {
        write_case(&dir, name, model, 64, 1, 64);
    }
    let rate = STEP_LEARNING_RATE.to_string();
    compare(&python, "step", &dir, &[&rate], count);
}

#[test]
fn one_step_of_each_sequence_model_matches_keras_in_float64() {
    let Some((python, _seeded, dir)) = start("sequence-step", 3) else {
        return;
    };
    let m = mnist::subset().unwrap();
    let family = sequence_family(STEP_LEARNING_RATE);
    let count = family.len();
    for (name, model, data) in family {
        let ids = || token_ids(&m.x_train, 64);
        let test_ids = || token_ids(&m.x_test, TEST_SAMPLES);
        match data {
            Data::Images => write_case(&dir, name, model, 64, 1, 64),
            Data::Ids => {
                let y = python::one_hot(&m.y_train, 64);
                write_case_on(&dir, name, model, [ids(), y, test_ids()], 1, 64);
            }
            Data::Tags => {
                let x = ids();
                let (n, time) = (x.shape()[0], x.shape()[1]);
                let y = ndarray::Array3::from_shape_fn((n, time, 10), |(i, t, k)| {
                    let next = x[[i, (t + 1).min(time - 1)]];
                    f32::from(next as usize == k)
                });
                write_case_on(&dir, name, model, [x, y.into_dyn(), test_ids()], 1, 64);
            }
        }
    }
    let rate = STEP_LEARNING_RATE.to_string();
    compare(&python, "step", &dir, &[&rate], count);
}

/// Weights that Keras trained (from its own initial weights; the script renames them to
/// kiln's names) load into kiln's LSTM, GRU and Bidirectional models, which then predict what
/// Keras predicts, within 1e-5.
#[test]
fn weights_trained_by_keras_predict_the_same_in_kiln() {
    let Some((python, _seeded, dir)) = start("trained", 4) else {
        return;
    };
    let m = mnist::subset().unwrap();
    let cpu = || Device::cpu().unwrap();
    let ce = || Loss::CategoricalCrossentropy;
    let lstm = Sequential::new()
        .input([28, 28])
        .add(LSTM::new(12).return_sequences(true))
        .add(LSTM::new(8).go_backwards(true))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(Optimizer::adam(1e-2), ce(), &[])
        .unwrap();
    let gru = Sequential::new()
        .input([28, 28])
        .add(GRU::new(12).return_sequences(true))
        .add(GRU::new(8).reset_after(false))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(Optimizer::adam(1e-2), ce(), &[])
        .unwrap();
    let bidirectional = Sequential::new()
        .input([20])
        .add(Embedding::new(10, 8).mask_zero(true))
        .add(Bidirectional::new(LSTM::new(6).return_sequences(true)))
        .add(Bidirectional::new(GRU::new(5)).merge_mode(MergeMode::Sum))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(Optimizer::adam(1e-2), ce(), &[])
        .unwrap();
    let n = 256;
    let cases = [
        ("lstm", lstm, false),
        ("gru", gru, false),
        ("bidirectional", bidirectional, true),
    ];
    let mut models = Vec::new();
    for (name, model, ids) in cases {
        let data = if ids {
            [
                token_ids(&m.x_train, n),
                python::one_hot(&m.y_train, n),
                token_ids(&m.x_test, TEST_SAMPLES),
            ]
        } else {
            [
                python::images(&m.x_train, n, &[28, 28]),
                python::one_hot(&m.y_train, n),
                python::images(&m.x_test, TEST_SAMPLES, &[28, 28]),
            ]
        };
        model
            .save(dir.join(format!("{name}.init.safetensors")))
            .unwrap();
        let [x, y, x_test] = &data;
        python::write_tensors(
            &dir.join(format!("{name}.data.safetensors")),
            &[("x", x), ("y", y), ("x_test", x_test)],
        );
        models.push((name, model, data[2].clone()));
    }
    let text = python::run(
        &python,
        "tests/interop/keras_training.py",
        &["trained", dir.to_str().unwrap()],
    );
    assert_eq!(text.matches(" ok:").count(), 3, "{text}");
    for (name, mut model, x_test) in models {
        let mut weights = python::read_tensors(&dir.join(format!("{name}.keras.safetensors")));
        let at = weights.iter().position(|(key, _)| key == "predictions");
        let expected = at.map(|i| weights.remove(i).1);
        assert_eq!(
            weights.len(),
            model.get_weights().len(),
            "{name}: every weight"
        );
        model.set_weights(&weights).unwrap();
        let ours = model.predict(&x_test).unwrap();
        let keras = expected.unwrap();
        let gap = (&ours - &keras)
            .mapv(f32::abs)
            .fold(0.0f32, |a, b| a.max(*b));
        println!("{name}: kiln predicts within {gap:.1e} of Keras");
        assert!(
            gap < 1e-5,
            "{name}: kiln is {gap} away from Keras' predictions"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// TextVectorization adapted to the SpamAssassin training messages gives Keras' vocabulary
/// (20,000 tokens, same order) and Keras' ids for 100 test messages.
#[test]
fn text_vectorization_gives_keras_vocabulary_and_ids() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/spam_assassin");
    if !shared.exists() {
        eprintln!("SKIPPED: no {}", shared.display());
        return;
    }
    let Some((python, _seeded, dir)) = start("text", 5) else {
        return;
    };
    let spam = kiln::datasets::spam_assassin::load_data_from(&shared).unwrap();
    let mut tv = TextVectorization::new()
        .max_tokens(20_000)
        .output_sequence_length(200);
    tv.adapt(&spam.train.texts);
    let test = &spam.test.texts[..100];
    let ids = tv.vectorize(test).unwrap();
    let ids: Vec<Vec<i64>> = ids
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|v| *v as i64).collect())
        .collect();
    let write = |name: &str, value: serde_json::Value| {
        std::fs::write(dir.join(name), value.to_string()).unwrap()
    };
    write(
        "texts.json",
        serde_json::json!({"train": spam.train.texts, "test": test, "max_tokens": 20_000, "length": 200}),
    );
    write(
        "kiln.json",
        serde_json::json!({"vocabulary": tv.vocabulary, "ids": ids}),
    );
    let text = python::run(
        &python,
        "tests/interop/keras_text.py",
        &[dir.to_str().unwrap()],
    );
    assert!(text.contains("text ok:"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_dense_model_fits_as_in_keras() {
    let Some((python, _seeded, dir)) = start("fit", 2) else {
        return;
    };
    // 1,000 samples: 15 batches of 64, then one of 40
    let model = reference("mnist_dense.json", None);
    write_case(&dir, "mnist_dense", model, 1000, 2, 64);
    compare(&python, "fit", &dir, &["2", "64"], 1);
}
