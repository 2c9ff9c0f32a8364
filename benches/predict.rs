//! In-process `predict` throughput: the ceiling for `kiln serve`. The dense and CNN MNIST
//! models (fresh weights from `models/`; speed does not depend on their values) on the CPU
//! device, one batch of 1, 32 and 500 MNIST-sized samples at a time (`predict_on_batch`),
//! for about SECONDS each (default 5); samples per second, the median of 5 timed slices.
//!
//! `cargo bench --bench predict -- [dense|cnn|all] [SECONDS] [BATCH]`: a BATCH times that batch
//! size alone (for `perf record`).
//!
//! It also writes each model as ONNX to `target/bench-onnx/{dense,cnn}.onnx`, for
//! `benches/keras_predict.py --onnx target/bench-onnx` to time in onnxruntime.

use kiln::io::ModelConfig;
use kiln::{Device, Model};
use ndarray::{ArrayD, IxDyn};
use std::time::{Duration, Instant};

fn model(file: &str) -> Model {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    ModelConfig::read(path)
        .and_then(|c| c.build(Device::cpu()?))
        .expect("the reference model files build")
}

/// Samples per second over `slices` slices of `budget / slices`, the median.
fn rate(model: &Model, x: &ArrayD<f32>, budget: Duration) -> f64 {
    let batch = x.shape()[0];
    // warm: the first calls allocate
    for _ in 0..3 {
        model.predict_on_batch(x).unwrap();
    }
    let slices = 5;
    let mut rates: Vec<f64> = (0..slices)
        .map(|_| {
            let start = Instant::now();
            let mut samples = 0usize;
            while start.elapsed() < budget / slices {
                model.predict_on_batch(x).unwrap();
                samples += batch;
            }
            samples as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let which = args.first().map_or("all", String::as_str);
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let budget = Duration::from_secs_f64(seconds);
    let batches: Vec<usize> = match args.get(2).and_then(|s| s.parse().ok()) {
        Some(batch) => vec![batch],
        None => vec![1, 32, 500],
    };
    println!("model batch samples_per_s");
    for (name, file, sample) in [
        ("dense", "mnist_dense.json", vec![784]),
        ("cnn", "mnist_cnn.json", vec![28, 28, 1]),
    ] {
        if which != "all" && which != name {
            continue;
        }
        let model = model(file);
        #[cfg(feature = "onnx")]
        {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-onnx");
            std::fs::create_dir_all(&dir).expect("target/bench-onnx");
            model
                .export_onnx(dir.join(format!("{name}.onnx")))
                .expect("the model exports to ONNX");
        }
        for &batch in &batches {
            let dims: Vec<usize> = [batch].iter().chain(&sample).copied().collect();
            let n: usize = dims.iter().product();
            let x = ArrayD::from_shape_vec(
                IxDyn(&dims),
                (0..n).map(|i| (i % 255) as f32 / 255.0).collect(),
            )
            .unwrap();
            println!("{name} {batch} {:.0}", rate(&model, &x, budget));
        }
    }
}
