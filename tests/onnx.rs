//! ONNX files kiln writes pass `onnx.checker` (full check) and run in onnxruntime, which
//! computes what kiln's `predict` does within 1e-5 on 100 MNIST test images: the dense, CNN
//! and residual reference models, the two-input two-output model, and a model covering the
//! rest of the exported layers (strided, dilated and "same" convolutions, average pooling
//! without the padding, batch normalization, GELU, leaky ReLU, global poolings, every merge,
//! Reshape), and two sequence models (Embedding, LSTM, GRU with and without `reset_after`,
//! SimpleRNN, `go_backwards`, Bidirectional with three merge modes). Weights are set at random (moving variances in [0.5, 1.5]) so that no weight
//! stays at its initial value.
//!
//! The interpreter is `KILN_PYTHON` (default `python3`), which must import onnx and
//! onnxruntime; without them the test says so and passes, unless `KILN_REQUIRE_PYTHON=1`.
//!
//! The same files then run in tract, a Rust ONNX runtime, in the workspace member
//! `interop/tract` (`cargo test --release -p kiln-tract-check`, after this test).

use kiln::datasets::mnist;
use kiln::prelude::*;
use ndarray::{ArrayD, Axis};
use rand::{Rng, SeedableRng};
use std::path::Path;

mod python;

#[path = "../examples/common/architectures.rs"]
#[allow(dead_code)]
mod architectures;

const SAMPLES: usize = 100;

fn from_file(name: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{name}.json"));
    Model::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn layers() -> Model {
    let image = Input::new([28, 28, 1]).name("image");
    let x = Conv2D::new(8, 3)
        .strides(2)
        .padding(Padding::Same)
        .activation(Activation::Gelu)
        .apply(&image)
        .unwrap();
    let x = AveragePooling2D::new(3)
        .strides(1)
        .padding(Padding::Same)
        .apply(&x)
        .unwrap();
    let x = BatchNormalization::new().apply(&x).unwrap();
    let x = ActivationLayer::new(Activation::LeakyRelu)
        .apply(&x)
        .unwrap();
    let y = Conv2D::new(8, [3, 2])
        .dilation_rate([2, 1])
        .padding(Padding::Same)
        .apply(&x)
        .unwrap();
    let y = MaxPooling2D::new(2)
        .padding(Padding::Same)
        .apply(&y)
        .unwrap();
    let a = GlobalMaxPooling2D::new().apply(&y).unwrap();
    let b = GlobalAveragePooling2D::new().apply(&x).unwrap();
    let merged = [
        Add::new().apply([&a, &b]).unwrap(),
        Subtract::new().apply([&a, &b]).unwrap(),
        Multiply::new().apply([&a, &b, &a]).unwrap(),
        Average::new().apply([&a, &b]).unwrap(),
        Maximum::new().apply([&a, &b]).unwrap(),
        Minimum::new().apply([&a, &b]).unwrap(),
    ];
    let joined = Concatenate::new()
        .apply(merged.iter().collect::<Vec<_>>())
        .unwrap();
    let shaped = Reshape::new([6, 8]).apply(&joined).unwrap();
    let flat = Flatten::new().apply(&shaped).unwrap();
    let out = Dense::new(10)
        .activation(Softmax)
        .name("probabilities")
        .apply(&flat)
        .unwrap();
    Functional::new([&image], [&out]).unwrap().build().unwrap()
}

fn sequences() -> Model {
    Sequential::new()
        .input([20])
        .add(Embedding::new(10, 8))
        .add(LSTM::new(12).return_sequences(true))
        .add(GRU::new(8).return_sequences(true))
        .add(
            GRU::new(6)
                .reset_after(false)
                .go_backwards(true)
                .return_sequences(true),
        )
        .add(SimpleRNN::new(5).go_backwards(true))
        .add(Dense::new(10).activation(Softmax))
        .build()
        .unwrap()
}

fn bidirectional() -> Model {
    Sequential::new()
        .input([28, 28])
        .add(Bidirectional::new(LSTM::new(6).return_sequences(true)))
        .add(Bidirectional::new(GRU::new(5).return_sequences(true)).merge_mode(MergeMode::Sum))
        .add(Bidirectional::new(SimpleRNN::new(4)).merge_mode(MergeMode::Ave))
        .add(Dense::new(10).activation(Softmax))
        .build()
        .unwrap()
}

fn perturbed(mut model: Model, seed: u64) -> Model {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let weights: Vec<(String, ArrayD<f32>)> = model
        .get_weights()
        .into_iter()
        .map(|(name, array)| {
            let range = if name.ends_with("moving_variance") {
                0.5..1.5
            } else {
                -0.3..0.3
            };
            let values = array.mapv(|_| rng.random_range(range.clone()));
            (name, values)
        })
        .collect();
    model.set_weights(&weights).unwrap();
    model
}

/// The models exported, with random weights, and 100 MNIST test samples as their inputs.
fn cases() -> Vec<(&'static str, Model, Vec<ArrayD<f32>>)> {
    let m = mnist::subset().unwrap();
    let flat = python::images(&m.x_test, SAMPLES, &[784]);
    let image = python::images(&m.x_test, SAMPLES, &[28, 28, 1]);
    // token ids 0..=9 from a row of each image
    let ids = image
        .slice(ndarray::s![.., 14, 4..24, 0])
        .mapv(|v| (v * 9.99).floor())
        .into_dyn();
    let halves = [
        flat.slice_axis(Axis(1), (0..392).into()).to_owned(),
        flat.slice_axis(Axis(1), (392..784).into()).to_owned(),
    ];
    let cases: Vec<(&str, Model, Vec<ArrayD<f32>>)> = vec![
        ("mnist_dense", from_file("mnist_dense"), vec![flat.clone()]),
        ("mnist_cnn", from_file("mnist_cnn"), vec![image.clone()]),
        (
            "mnist_resnet",
            from_file("mnist_resnet"),
            vec![image.clone()],
        ),
        (
            "two_halves",
            architectures::two_halves().unwrap().build().unwrap(),
            halves.to_vec(),
        ),
        ("layers", layers(), vec![image.clone()]),
        ("sequences", sequences(), vec![ids]),
        (
            "bidirectional",
            bidirectional(),
            vec![python::images(&m.x_test, SAMPLES, &[28, 28])],
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(seed, (name, model, inputs))| (name, perturbed(model, seed as u64), inputs))
        .collect()
}

/// A case's name, its output names and what `predict` computes.
type Expected = (&'static str, Vec<String>, Vec<ArrayD<f32>>);

/// Exports every case into `target/tmp/onnx-cases`: NAME.onnx, NAME.inputs.safetensors (by
/// input name) and NAME.kiln.safetensors (what `predict` computes, by output name). They stay
/// there for the tract check, `cargo test --release -p kiln-tract-check` (interop/tract).
fn write_cases() -> (std::path::PathBuf, Vec<Expected>) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx-cases");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    let mut expected = Vec::new();
    for (name, model, inputs) in cases() {
        model.export_onnx(dir.join(format!("{name}.onnx"))).unwrap();
        let names = model.input_names();
        let named: Vec<(&str, &ArrayD<f32>)> =
            names.iter().map(String::as_str).zip(&inputs).collect();
        python::write_tensors(&dir.join(format!("{name}.inputs.safetensors")), &named);
        let outputs = model.predict_outputs(&inputs).unwrap();
        let output_names = model.output_names();
        let named: Vec<(&str, &ArrayD<f32>)> = output_names
            .iter()
            .map(String::as_str)
            .zip(&outputs)
            .collect();
        python::write_tensors(&dir.join(format!("{name}.kiln.safetensors")), &named);
        expected.push((name, output_names, outputs));
    }
    (dir, expected)
}

#[test]
fn onnxruntime_computes_what_predict_does() {
    let (dir, expected) = write_cases();
    let Some(python) = python::interpreter(
        "KILN_PYTHON",
        "onnx, onnxruntime, safetensors",
        "KILN_REQUIRE_PYTHON",
    ) else {
        return;
    };
    let names: Vec<&str> = expected.iter().map(|(n, _, _)| *n).collect();
    let mut args = vec![dir.to_str().unwrap()];
    args.extend(&names);
    let text = python::run(&python, "tests/interop/onnx_check.py", &args);
    assert_eq!(text.matches(" ok: opset 17").count(), names.len(), "{text}");
    for (name, output_names, ours) in expected {
        let theirs = python::read_tensors(&dir.join(format!("{name}.outputs.safetensors")));
        for (output, ours) in output_names.iter().zip(&ours) {
            let (_, runtime) = theirs
                .iter()
                .find(|(n, _)| n == output)
                .unwrap_or_else(|| panic!("{name}: no output `{output}`"));
            let gap = (ours - runtime)
                .mapv(f32::abs)
                .fold(0.0f32, |a, b| a.max(*b));
            println!("{name} `{output}`: onnxruntime within {gap:.1e} of kiln");
            assert!(gap < 1e-5, "{name} `{output}`: {gap}");
        }
    }
}

#[test]
fn a_layer_without_an_onnx_form_is_named() {
    let identity = Lambda::new(|x: kiln::Value| Ok(x));
    let lambda = Sequential::new().input([3]).add(identity).build().unwrap();
    let masked = Sequential::new()
        .input([5])
        .add(Embedding::new(10, 4).mask_zero(true))
        .add(LSTM::new(4))
        .build()
        .unwrap();
    for (model, needle) in [(lambda, "layer `lambda`"), (masked, "mask_zero")] {
        let path = std::env::temp_dir().join(format!("kiln-onnx-no-{}.onnx", std::process::id()));
        let e = model.export_onnx(&path).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("no ONNX export"), "{e}");
        assert!(!path.exists(), "nothing is written");
    }
}
