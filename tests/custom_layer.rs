//! A user's own layer (`GatedDense`, from `examples/common/gated_dense.rs`) works everywhere a
//! built-in one does: its gradients agree with finite differences, it trains, it is shared in a
//! Functional graph with its weights counted once, it gives the same numbers on every backend,
//! and a saved model reloads in another process (after registering) with bitwise-identical
//! predictions; an unregistered class is a clear error. Also `Lambda`.

mod common;

#[path = "../examples/common/gated_dense.rs"]
#[allow(dead_code)]
mod gated_dense;

use burn::tensor::Tensor;
use gated_dense::GatedDense;
use kiln::layers::{Call, Lambda, LayerConfig, Weights};
use kiln::prelude::*;
use kiln::{Shape, Value};
use ndarray::{Array2, ArrayD, IxDyn};
use std::path::PathBuf;
use std::process::Command;

fn register() {
    kiln::layers::register::<GatedDense>().unwrap();
}

fn gated_model(device: Device) -> Model {
    Sequential::new()
        .input([5])
        .add(GatedDense::new(3))
        .add(Dense::new(2))
        .device(device)
        .compile(Optimizer::sgd(1.0), Loss::MeanSquaredError, &[])
        .unwrap()
}

fn x_batch() -> ArrayD<f32> {
    common::uniform(&[4, 5], 11)
}

fn y_batch() -> ArrayD<f32> {
    common::uniform(&[4, 2], 12)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kiln-custom-{}-{name}", std::process::id()))
}

#[test]
fn gradients_agree_with_finite_differences() {
    register();
    kiln::set_random_seed(3);
    let mut model = gated_model(Device::cpu().unwrap());
    let (x, y) = (x_batch(), y_batch());
    let before = model.get_weights();
    let loss = |m: &Model| m.test_on_batch(&x, &y).unwrap().get("loss").unwrap();
    // plain SGD at learning rate 1: each weight moves by minus its gradient
    model.train_on_batch(&x, &y).unwrap();
    let after = model.get_weights();
    let mut probe = gated_model(Device::cpu().unwrap());
    let mut checked = 0;
    for (k, (name, w)) in before.iter().enumerate() {
        if !name.starts_with("gated_dense/") {
            continue;
        }
        for i in [0, w.len() / 2, w.len() - 1] {
            let gradient = (w.as_slice().unwrap()[i] - after[k].1.as_slice().unwrap()[i]) as f64;
            let eps = 1e-2f32;
            let mut at = |delta: f32| {
                let mut ws = before.clone();
                ws[k].1.as_slice_mut().unwrap()[i] += delta;
                probe.set_weights(&ws).unwrap();
                loss(&probe)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            assert!(
                (numeric - gradient).abs() <= 2e-3 + 2e-2 * gradient.abs(),
                "{name}[{i}]: autodiff {gradient}, finite differences {numeric}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 12,
        "kernel, bias, gate_kernel and gate_bias, three entries each"
    );
    let moved = before
        .iter()
        .zip(&after)
        .filter(|((n, a), (_, b))| n.starts_with("gated_dense/") && a != b)
        .count();
    assert_eq!(moved, 4, "every weight of the layer is trained");
    let _ = loss(&model);
}

#[test]
fn it_trains_summarizes_and_counts_like_a_built_in() {
    register();
    kiln::set_random_seed(4);
    let mut model = Sequential::new()
        .input([5])
        .add(GatedDense::new(8))
        .add(Dense::new(2))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::adam(1e-2), Loss::MeanSquaredError, &[])
        .unwrap();
    let summary = model.summary();
    assert_eq!(summary.rows[0].class_name, "GatedDense");
    assert_eq!(summary.rows[0].name, "gated_dense");
    assert_eq!(summary.rows[0].params, (5 * 8 + 8) * 2);
    assert_eq!(summary.total_params, (5 * 8 + 8) * 2 + 8 * 2 + 2);
    let (x, y) = (x_batch(), y_batch());
    let first = model
        .evaluate_with(&x, &y, EvalOptions::default().verbose(0))
        .unwrap();
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(30).batch_size(4).verbose(0),
        )
        .unwrap();
    let last = history.last("loss").unwrap();
    assert!(
        last < 0.5 * first.get("loss").unwrap(),
        "loss {first:?} -> {last}"
    );
}

#[test]
fn a_shared_custom_layer_has_one_set_of_weights() {
    register();
    let (a, b) = (Input::new([6]), Input::new([6]));
    let shared = GatedDense::new(4).shared();
    let (ea, eb) = (shared.apply(&a).unwrap(), shared.apply(&b).unwrap());
    let sum = Add::new().apply([&ea, &eb]).unwrap();
    let model = Functional::new([&a, &b], [&sum]).unwrap().build().unwrap();
    assert_eq!(model.summary().total_params, (6 * 4 + 4) * 2);
    let names: Vec<String> = model.get_weights().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "gated_dense/kernel",
            "gated_dense/bias",
            "gated_dense/gate_kernel",
            "gated_dense/gate_bias"
        ]
    );
    // the same input on both branches gives twice one branch
    let x = common::uniform(&[3, 6], 5);
    let both = model.predict_on_batch(&[x.clone(), x.clone()]).unwrap();
    let mut single = Functional::new([&a], [&shared.apply(&a).unwrap()])
        .unwrap()
        .build()
        .unwrap();
    single.set_weights(&model.get_weights()).unwrap();
    let one = single.predict_on_batch(&x).unwrap();
    for (s, o) in both.iter().zip(one.iter()) {
        assert!((s - 2.0 * o).abs() < 1e-5, "{s} vs 2 * {o}");
    }
}

#[test]
fn every_backend_gives_the_same_numbers() {
    register();
    kiln::set_random_seed(6);
    let reference = gated_model(Device::cpu().unwrap());
    let x = x_batch();
    let expected = reference.predict_on_batch(&x).unwrap();
    // flex is the reference; the others are compared with it
    let devices = common::devices().into_iter().skip(1);
    for device in devices {
        let name = device.description().to_string();
        let mut model = gated_model(device);
        model.set_weights(&reference.get_weights()).unwrap();
        let got = model.predict_on_batch(&x).unwrap();
        for (g, e) in got.iter().zip(expected.iter()) {
            assert!((g - e).abs() < 1e-5, "{name}: {g} vs {e}");
        }
    }
}

/// The child half of the next test: runs only when the parent sets the two paths.
#[test]
fn child_reloads_the_model_and_predicts() {
    let (Ok(model), Ok(out)) = (
        std::env::var("KILN_CUSTOM_CHILD_MODEL"),
        std::env::var("KILN_CUSTOM_CHILD_OUT"),
    ) else {
        return;
    };
    register();
    let model = kiln::load_model_on(&model, Device::cpu().unwrap()).unwrap();
    let y = model.predict_on_batch(&x_batch()).unwrap();
    let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn a_saved_model_reloads_in_another_process_with_identical_predictions() {
    register();
    kiln::set_random_seed(7);
    let mut model = gated_model(Device::cpu().unwrap());
    model.train_on_batch(&x_batch(), &y_batch()).unwrap();
    let path = temp("model.safetensors");
    let out = temp("predictions.bin");
    model.save(&path).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reloads_the_model_and_predicts",
            "--nocapture",
        ])
        .env("KILN_CUSTOM_CHILD_MODEL", &path)
        .env("KILN_CUSTOM_CHILD_OUT", &out)
        .status()
        .unwrap();
    assert!(status.success());
    let theirs = std::fs::read(&out).unwrap();
    let ours: Vec<u8> = model
        .predict_on_batch(&x_batch())
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(theirs.len(), 4 * 2 * 4);
    assert_eq!(theirs, ours, "the reloaded model predicts other bits");
    // and in this process, from the file's architecture alone
    let back = kiln::load_model_on(&path, Device::cpu().unwrap()).unwrap();
    assert_eq!(back.to_json(), model.to_json());
    for p in [&path, &out] {
        let _ = std::fs::remove_file(p);
    }
}

/// A layer type `$ty` of class `$class` that passes its input through.
macro_rules! passthrough_layer {
    ($ty:ident, $class:literal) => {
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct $ty {
            name: Option<String>,
        }

        impl LayerConfig for $ty {
            const CLASS_NAME: &'static str = $class;
            type Module = Weights;

            fn name(&self) -> Option<&str> {
                self.name.as_deref()
            }

            fn set_name(&mut self, name: String) {
                self.name = Some(name);
            }

            fn output_shape(&self, _: &str, inputs: &[Shape]) -> kiln::Result<Shape> {
                Ok(inputs[0].clone())
            }

            fn call(&self, _: &Weights, mut x: Vec<Value>, _: &Call) -> kiln::Result<Value> {
                Ok(x.remove(0))
            }
        }
    };
}

// never registered
passthrough_layer!(NeverRegistered, "NeverRegistered");

#[test]
fn an_unregistered_class_is_an_error_saying_how_to_register() {
    let model = Sequential::new()
        .input([3])
        .add(NeverRegistered { name: None })
        .add(Dense::new(1))
        .build()
        .unwrap();
    let path = temp("unregistered.safetensors");
    model.save(&path).unwrap();
    let e = kiln::load_model(&path).unwrap_err().to_string();
    assert!(
        e.contains("`NeverRegistered`")
            && e.contains("kiln::layers::register::<NeverRegistered>()"),
        "{e}"
    );
    let e = Model::from_json(&model.to_json()).unwrap_err().to_string();
    assert!(e.contains("NeverRegistered"), "{e}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_class_name_taken_by_a_built_in_cannot_be_registered() {
    passthrough_layer!(Impostor, "Dense");
    let e = kiln::layers::register::<Impostor>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("`Dense`") && e.contains("built-in"), "{e}");
    register();
    register(); // again: harmless
}

#[test]
fn a_layer_breaking_its_promised_shape_is_an_error_naming_it() {
    // promises its input's shape, gives half of it
    let liar = Lambda::new(|x: Value| {
        let t: Tensor<2> = x.into_tensor()?;
        let [b, n] = t.dims();
        Ok(t.slice([0..b, 0..n / 2]).into())
    })
    .output_shape([4])
    .name("liar");
    let model = Sequential::new()
        .input([4])
        .add(liar)
        .add(Dense::new(1))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])
        .unwrap();
    let e = model
        .predict_on_batch(&common::uniform(&[3, 4], 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("liar") && e.contains("[3, 4]") && e.contains("[3, 2]"),
        "{e}"
    );
}

#[test]
fn a_lambda_computes_trains_through_and_refuses_to_be_saved() {
    let scale = Lambda::new(|x: Value| {
        let t: Tensor<2> = x.into_tensor()?;
        Ok(t.mul_scalar(3.0).into())
    })
    .name("triple");
    let mut model = Sequential::new()
        .input([2])
        .add(Dense::new(2).name("d"))
        .add(scale)
        .device(Device::cpu().unwrap())
        .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])
        .unwrap();
    let identity = Array2::<f32>::eye(2).into_dyn();
    model
        .set_weights(&[
            ("d/kernel".into(), identity),
            ("d/bias".into(), ArrayD::zeros(IxDyn(&[2]))),
        ])
        .unwrap();
    let x = ndarray::array![[1.0f32, -2.0]];
    let y = model.predict_on_batch(&x).unwrap();
    assert_eq!(y.iter().copied().collect::<Vec<_>>(), [3.0, -6.0]);
    assert_eq!(model.summary().rows[1].class_name, "Lambda");
    // d(loss)/d(kernel) flows through the closure: loss = mean((3 x W - t)^2)
    let before = model.get_weights();
    model
        .train_on_batch(&x, &ndarray::array![[0.0f32, 0.0]])
        .unwrap();
    assert_ne!(model.get_weights()[0].1, before[0].1);
    let e = model
        .save(temp("lambda.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`triple`") && e.contains("closure"), "{e}");
    // a lambda's output shape comes from a trial run
    let half = Lambda::new(|x: Value| {
        let t: Tensor<2> = x.into_tensor()?;
        let [b, n] = t.dims();
        Ok(t.slice([0..b, 0..n / 2]).into())
    });
    let m = Sequential::new().input([6]).add(half).build().unwrap();
    assert_eq!(m.graph().output_shapes(), vec![Shape::new([3])]);
}
