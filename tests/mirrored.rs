//! `MirroredStrategy`: replicas on CPU devices, on GPUs (lavapipe, Mesa's software Vulkan, in
//! CI) and on a GPU beside the CPU train as the model does on one device.
//!
//! Every check starts two models from the same weights, trains one on one device and the
//! other with its batches split among replicas, and compares every weight's difference with
//! the weight's largest change over the run. Splitting a batch only changes the order of
//! sums, so the replicas on one kind of device stay within 1e-5 of that change; wgpu's
//! operations differ from flex's by up to 2e-7 (tests/parity.rs), so the GPU and CPU mix is
//! held to 1e-4.
//!
//! When wgpu cannot start, the GPU checks say so and pass, unless `KILN_REQUIRE_WGPU=1` (set by
//! `.ci/run`, which installs lavapipe).

mod common;

use kiln::distribute::MirroredStrategy;
use kiln::layers::{BatchNormalization, Dense};
use kiln::prelude::*;
use ndarray::{Array2, ArrayD};

/// The GPU, or `None` (saying so) where wgpu cannot start and CI did not ask for it.
fn gpu() -> Option<Device> {
    let devices = common::devices();
    (devices.len() == 3).then(|| devices[2].clone())
}

fn data() -> (Array2<f32>, Array2<f32>) {
    let x = Array2::from_shape_fn((150, 5), |(i, j)| ((i * 5 + j * 7) % 13) as f32 / 13.0);
    let y = Array2::from_shape_fn((150, 3), |(i, j)| {
        let class = (x[[i, 1]] + x[[i, 4]] > 1.0) as usize + (x[[i, 2]] > 0.6) as usize;
        f32::from(j == class)
    });
    (x, y)
}

fn model(device: &Device, batch_norm: bool) -> Model {
    let mut model = Sequential::new()
        .input([5])
        .add(Dense::new(12).activation(Relu));
    if batch_norm {
        model = model.add(BatchNormalization::new());
    }
    model
        .add(Dense::new(3).activation(Softmax))
        .device(device.clone())
        .compile(
            Optimizer::rmsprop(1e-2),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

fn options<'a>() -> FitOptions<'a> {
    FitOptions::default()
        .epochs(3)
        .batch_size(32)
        .seed(4)
        .verbose(0)
}

/// Trains a model on `devices[0]` alone and one mirrored on `devices` from the same start;
/// returns the largest weight difference relative to that weight's largest change.
fn mirrored_against_one_device(devices: Vec<Device>) -> f32 {
    let (x, y) = data();
    let mut one = model(&devices[0], false);
    let start: Vec<(String, ArrayD<f32>)> = one.get_weights();
    let mut mirrored = model(&devices[0], false);
    mirrored.set_weights(&start).unwrap();
    let a = one.fit(&x, &y, options()).unwrap();
    let mut strategy = MirroredStrategy::new(devices).unwrap();
    let b = mirrored
        .fit(&x, &y, options().strategy(&mut strategy))
        .unwrap();
    let (a, b) = (a.get("loss").unwrap(), b.get("loss").unwrap());
    for (a, b) in a.iter().zip(b) {
        assert!((a - b).abs() < 1e-4 * a.abs(), "losses {a} and {b}");
    }
    let mut worst = 0.0f32;
    for (((name, want), (_, got)), (_, s)) in one
        .get_weights()
        .iter()
        .zip(mirrored.get_weights())
        .zip(&start)
    {
        let change = want
            .iter()
            .zip(s)
            .map(|(w, s)| (w - s).abs())
            .fold(0.0, f32::max);
        let off = want
            .iter()
            .zip(&got)
            .map(|(w, g)| (w - g).abs())
            .fold(0.0, f32::max);
        assert!(change > 0.0, "{name} did not train");
        worst = worst.max(off / change);
    }
    worst
}

#[test]
fn two_cpu_replicas_train_as_one_device() {
    let cpu = Device::cpu().unwrap();
    let off = mirrored_against_one_device(vec![cpu.clone(), cpu]);
    assert!(off < 1e-5, "off by {off} of the largest change");
}

#[test]
fn replicas_on_two_cpu_backends_train_as_one_device() {
    // flex and ndarray: two CPU devices of different backends, gradients moved between
    let off =
        mirrored_against_one_device(vec![Device::cpu().unwrap(), Device::cpu_ndarray().unwrap()]);
    assert!(off < 1e-5, "off by {off} of the largest change");
}

#[test]
fn three_replicas_split_uneven_batches() {
    // 150 samples in batches of 32: the last batch of 22 splits 7, 7, 8
    let cpu = Device::cpu().unwrap();
    let off = mirrored_against_one_device(vec![cpu.clone(), cpu.clone(), cpu]);
    assert!(off < 1e-5, "off by {off} of the largest change");
}

#[test]
fn two_gpu_replicas_train_as_one_gpu() {
    let Some(gpu) = gpu() else { return };
    let off = mirrored_against_one_device(vec![gpu.clone(), gpu]);
    println!("two replicas on {}: off by {off:e}", common::devices()[2]);
    assert!(off < 1e-5, "off by {off} of the largest change");
}

#[test]
fn a_gpu_replica_beside_the_cpu_trains_as_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let off = mirrored_against_one_device(vec![Device::cpu().unwrap(), gpu]);
    println!("flex with a wgpu replica: off by {off:e}");
    assert!(off < 1e-4, "off by {off} of the largest change");
}

#[test]
fn every_gpu_is_a_device_the_first_the_gpu() {
    let Some(gpu) = gpu() else { return };
    let gpus = Device::gpus().unwrap();
    assert!(!gpus.is_empty());
    assert_eq!(gpus[0], gpu);
    // every adapter's device trains: its replicas, with the CPU's, follow the CPU alone
    let mut devices = vec![Device::cpu().unwrap()];
    devices.extend(gpus);
    let off = mirrored_against_one_device(devices);
    assert!(off < 1e-4, "off by {off} of the largest change");
}

#[test]
fn batch_normalization_on_gpu_replicas_keeps_equal_moving_statistics() {
    // each replica normalizes its half with its own statistics and the model keeps the mean
    // of their moving-statistics updates: the same on the GPU as on the CPU
    let Some(gpu) = gpu() else { return };
    let cpu = Device::cpu().unwrap();
    let (x, y) = data();
    let mut on_cpu = model(&cpu, true);
    let start = on_cpu.get_weights();
    let mut on_gpu = model(&gpu, true);
    on_gpu.set_weights(&start).unwrap();
    let mut cpus = MirroredStrategy::new(vec![cpu.clone(), cpu]).unwrap();
    let mut gpus = MirroredStrategy::new(vec![gpu.clone(), gpu]).unwrap();
    on_cpu.fit(&x, &y, options().strategy(&mut cpus)).unwrap();
    on_gpu.fit(&x, &y, options().strategy(&mut gpus)).unwrap();
    for ((name, a), (_, b)) in on_cpu.get_weights().iter().zip(on_gpu.get_weights()) {
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let off = a
            .iter()
            .zip(&b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            off < 1e-4 * scale,
            "{name}: CPU and GPU replicas differ by {off}"
        );
    }
    let moving = on_gpu
        .get_weights()
        .into_iter()
        .find(|(n, _)| n.ends_with("moving_mean"))
        .unwrap()
        .1;
    assert!(
        moving.iter().any(|v| *v != 0.0),
        "the moving mean never moved"
    );
}
