//! The same model gives the same numbers on every backend: burn-flex, burn-ndarray, and wgpu
//! (on lavapipe, a software Vulkan driver, in CI; on a real GPU where there is one).
//!
//! Each check builds one architecture on every device with the same weights and compares with
//! flex. Measured on lavapipe and ndarray (2026-11-24), every difference is under 2e-7 (sums
//! taken in different orders); the tolerances leave a margin of 50 or more for real GPUs:
//! - forward passes: 1e-5 absolute on outputs of size ~1;
//! - one SGD step: the loss within 1e-5 relative, every weight within 1e-5 absolute;
//! - a short fit (3 epochs, 12 steps): the final loss within 1e-4 relative, predictions
//!   within 1e-4 absolute.
//!
//! The wgpu device is `Device::gpu()`. When it cannot start, the test says so and checks the
//! CPU backends only, unless `KILN_REQUIRE_WGPU=1` (set by `.ci/run`, which installs lavapipe).

mod common;

use common::devices;
use kiln::io::ModelConfig;
use kiln::prelude::*;
use ndarray::{Array2, ArrayD};

fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    common::uniform(shape, seed)
}

fn labels(n: usize, classes: usize) -> Array2<f32> {
    let y: Vec<u8> = (0..n).map(|i| ((i * 7 + i / 3) % classes) as u8).collect();
    kiln::to_categorical(&y, classes).unwrap()
}

/// Dense, softmax and crossentropy.
fn dense() -> Sequential {
    Sequential::new()
        .input([12])
        .add(Dense::new(16).activation(Relu))
        .add(Dense::new(8).activation(Tanh))
        .add(Dense::new(4).activation(Softmax))
}

/// Conv2D (valid and same, strided), batch norm, max and average pooling, global pooling.
fn convnet() -> Sequential {
    Sequential::new()
        .input([10, 10, 3])
        .add(Conv2D::new(6, 3).activation(Relu))
        .add(BatchNormalization::new())
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(8, 3).padding(Padding::Same).strides(2))
        .add(AveragePooling2D::new(2).padding(Padding::Same))
        .add(Flatten::new())
        .add(Dense::new(4).activation(Softmax))
}

/// Conv1D, LayerNormalization, the 1D poolings.
fn sequence() -> Sequential {
    Sequential::new()
        .input([12, 3])
        .add(Conv1D::new(4, 3).activation(Tanh))
        .add(LayerNormalization::new())
        .add(AveragePooling1D::new(3).strides(2).padding(Padding::Same))
        .add(GlobalAveragePooling1D::new())
        .add(Dense::new(4).activation(Softmax))
}

/// The model built on `device` with `weights`, compiled with SGD(0.1).
fn on(model: &Sequential, device: &Device, weights: &[(String, ArrayD<f32>)]) -> Model {
    let json = model
        .clone()
        .device(Device::cpu().unwrap())
        .build()
        .unwrap()
        .to_json();
    let mut m = ModelConfig::from_json(&json)
        .unwrap()
        .build(device.clone())
        .unwrap();
    m.compile(
        Optimizer::sgd(0.1),
        Loss::CategoricalCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    m.set_weights(weights).unwrap();
    m
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

/// Runs `check` for every model, with weights drawn once on flex.
fn for_each_model(check: impl Fn(&str, &Sequential, &[(String, ArrayD<f32>)], &[usize])) {
    kiln::set_random_seed(17);
    for (name, model, input) in [
        ("dense", dense(), vec![12]),
        ("convnet", convnet(), vec![10, 10, 3]),
        ("sequence", sequence(), vec![12, 3]),
    ] {
        let weights = model
            .clone()
            .device(Device::cpu().unwrap())
            .build()
            .unwrap()
            .get_weights();
        check(name, &model, &weights, &input);
    }
}

#[test]
fn forward_passes_agree() {
    let devices = devices();
    for_each_model(|name, model, weights, input| {
        let mut dims = vec![16];
        dims.extend_from_slice(input);
        let x = random(&dims, 3);
        let reference = on(model, &devices[0], weights).predict(&x).unwrap();
        for device in &devices[1..] {
            let out = on(model, device, weights).predict(&x).unwrap();
            let d = max_diff(&reference, &out);
            println!("{name} forward, {device} vs flex: {d:.2e}");
            assert!(
                d < 1e-5,
                "{name} forward on {device} differs from flex by {d}"
            );
        }
    });
}

#[test]
fn one_training_step_agrees() {
    let devices = devices();
    for_each_model(|name, model, weights, input| {
        let mut dims = vec![16];
        dims.extend_from_slice(input);
        let (x, y) = (random(&dims, 5), labels(16, 4));
        let step = |device: &Device| {
            let mut m = on(model, device, weights);
            let logs = m.train_on_batch(&x, &y).unwrap();
            (logs.get("loss").unwrap(), m.get_weights())
        };
        let (loss, after) = step(&devices[0]);
        for device in &devices[1..] {
            let (l, w) = step(device);
            let rel = ((l - loss) / loss).abs();
            println!("{name} step, {device} vs flex: loss {rel:.2e} relative");
            assert!(
                rel < 1e-5,
                "{name}: loss on {device} is {l}, on flex {loss}"
            );
            for ((n, a), (_, b)) in after.iter().zip(&w) {
                let d = max_diff(a, b);
                println!("  {n}: {d:.2e}");
                assert!(
                    d < 1e-5,
                    "{name}: {n} after one step on {device} differs by {d}"
                );
            }
        }
    });
}

#[test]
fn a_short_fit_agrees() {
    let devices = devices();
    for_each_model(|name, model, weights, input| {
        let mut dims = vec![64];
        dims.extend_from_slice(input);
        let (x, y) = (random(&dims, 9), labels(64, 4));
        let fit = |device: &Device| {
            let mut m = on(model, device, weights);
            let options = FitOptions::default()
                .epochs(3)
                .batch_size(16)
                .seed(1)
                .verbose(0);
            let history = m.fit(&x, &y, options).unwrap();
            (history.last("loss").unwrap(), m.predict(&x).unwrap())
        };
        let (loss, predictions) = fit(&devices[0]);
        for device in &devices[1..] {
            let (l, p) = fit(device);
            let (rel, d) = (((l - loss) / loss).abs(), max_diff(&predictions, &p));
            println!("{name} fit, {device} vs flex: loss {rel:.2e} relative, predictions {d:.2e}");
            assert!(
                rel < 1e-4,
                "{name}: final loss on {device} is {l}, on flex {loss}"
            );
            assert!(
                d < 1e-4,
                "{name}: predictions after fit on {device} differ by {d}"
            );
        }
    });
}

#[test]
fn a_model_trained_on_one_device_loads_on_every_other() {
    let devices = devices();
    let dir = std::env::temp_dir().join(format!("kiln-parity-{}", std::process::id()));
    for_each_model(|name, model, weights, input| {
        let mut dims = vec![32];
        dims.extend_from_slice(input);
        let (x, y) = (random(&dims, 13), labels(32, 4));
        for (i, from) in devices.iter().enumerate() {
            let mut m = on(model, from, weights);
            m.fit(
                &x,
                &y,
                FitOptions::default().epochs(1).batch_size(8).verbose(0),
            )
            .unwrap();
            let path = dir.join(format!("{name}-{i}.safetensors"));
            m.save(&path).unwrap();
            let expected = m.predict(&x).unwrap();
            for to in &devices {
                let back = kiln::load_model_on(&path, to.clone()).unwrap();
                let d = max_diff(&expected, &back.predict(&x).unwrap());
                println!("{name} trained on {from}, loaded on {to}: {d:.2e}");
                assert!(d < 1e-5, "{name} from {from} to {to}: {d}");
            }
        }
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
