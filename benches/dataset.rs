//! Whether a dataset's production overlaps with training: batches that take `PRODUCE_MS` to
//! make (a sleep, as a slow decoder or disk would), a model whose step takes about as long,
//! and the epoch's seconds without and with `prefetch`.
//!
//! `cargo bench --bench dataset -- [PRODUCE_MS] [EPOCHS]` (defaults 10 and 5)
//!
//! Prints the median epoch of each, beside the sum and the max of the two parts measured
//! alone: without prefetch an epoch is near their sum, with it near their max.

use kiln::data::{Batch, Dataset};
use kiln::layers::Dense;
use kiln::prelude::*;
use kiln::{HostArray, Model};
use std::time::{Duration, Instant};

const BATCHES: usize = 50;
const BATCH: usize = 256;
const FEATURES: usize = 784;

fn model() -> Model {
    kiln::set_random_seed(1);
    Sequential::new()
        .input([FEATURES])
        .add(Dense::new(512).activation(Relu))
        .add(Dense::new(512).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::rmsprop(0.001),
            Loss::CategoricalCrossentropy,
            &[],
        )
        .unwrap()
}

/// Batch `b`: values that follow from `b`, one-hot targets.
fn batch(b: usize) -> Batch {
    let x: Vec<f32> = (0..BATCH * FEATURES)
        .map(|i| ((i * 31 + b * 7) % 255) as f32 / 255.0)
        .collect();
    let mut y = vec![0.0; BATCH * 10];
    for r in 0..BATCH {
        y[r * 10 + (r + b) % 10] = 1.0;
    }
    Batch {
        x: vec![HostArray::from_vec(x, [BATCH, FEATURES]).unwrap()],
        y: vec![HostArray::from_vec(y, [BATCH, 10]).unwrap()],
    }
}

/// Batches that each take `produce` to make.
fn slow(produce: Duration) -> Dataset<Batch> {
    Dataset::from_indexed(BATCHES, move |b| {
        std::thread::sleep(produce);
        Ok(batch(b))
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds of each of `epochs` epochs of `fit_dataset` on `data`, after one to warm up.
fn epochs(data: &Dataset<Batch>, epochs: usize) -> Vec<f64> {
    let mut m = model();
    let quiet = || FitOptions::default().verbose(0);
    m.fit_dataset(data, quiet()).unwrap();
    (0..epochs)
        .map(|_| {
            let start = Instant::now();
            m.fit_dataset(data, quiet()).unwrap();
            start.elapsed().as_secs_f64()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let produce_ms: u64 = args.first().map_or(10, |a| a.parse().unwrap());
    let runs: usize = args.get(1).map_or(5, |a| a.parse().unwrap());
    let produce = Duration::from_millis(produce_ms);

    // the parts alone: making the batches, and training on batches made in advance
    let start = Instant::now();
    let made: Vec<Batch> = slow(produce).pass(0).map(Result::unwrap).collect();
    let produce_s = start.elapsed().as_secs_f64();
    let ready = Dataset::from_items(made);
    let train_s = median(epochs(&ready, runs));

    let plain = median(epochs(&slow(produce), runs));
    let prefetched = median(epochs(&slow(produce).prefetch(4), runs));
    println!(
        "{BATCHES} batches of {BATCH}: produce {produce_s:.3} s, train {train_s:.3} s \
         (sum {:.3}, max {:.3})",
        produce_s + train_s,
        produce_s.max(train_s)
    );
    println!("epoch without prefetch: {plain:.3} s (median of {runs})");
    println!(
        "epoch with prefetch(4): {prefetched:.3} s (median of {runs}), {:.2}× the max",
        prefetched / produce_s.max(train_s)
    );
}
