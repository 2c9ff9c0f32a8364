//! kiln against the same model written directly in Burn, on MNIST, in one process.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo bench --bench mnist -- [dense|cnn] [EPOCHS] [RUNS] [flex|ndarray] [FIRST_SEED]`
//!
//! Runs use seeds FIRST_SEED (default 1), FIRST_SEED + 1, …: `benches/versus_keras.sh` runs one
//! seed at a time, alternating with Keras.
//!
//! For each run it trains both for EPOCHS epochs (batch 128, shuffled, Keras' optimizer
//! settings) on the CPU backend named (default flex, kiln's CPU default), then runs and scores
//! the 10,000 test images in batches of 500. It prints, for each, the seconds of each epoch,
//! training samples per second, test-set inference samples per second and test accuracy; then
//! the medians (the epoch median over every epoch of every run, and over the steady epochs:
//! all but each run's first), kiln's time over raw Burn's, and the process' peak resident
//! memory.

#[path = "common/clock.rs"]
mod clock;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, RmsPropConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Int, Tensor, TensorData};
use clock::Clock;
use kiln::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::time::Instant;

struct Data {
    x_train: Vec<f32>,
    y_train: Vec<u8>,
    x_test: Vec<f32>,
    y_test: Vec<u8>,
}

fn load() -> Data {
    let m = kiln::datasets::mnist::load_data().unwrap_or_else(|e| {
        eprintln!("full MNIST unavailable ({e}); benchmarking on the shipped subset");
        kiln::datasets::mnist::subset().expect("the shipped subset")
    });
    let scale = |x: &ndarray::Array3<u8>| x.iter().map(|v| *v as f32 / 255.0).collect();
    Data {
        x_train: scale(&m.x_train),
        y_train: m.y_train.to_vec(),
        x_test: scale(&m.x_test),
        y_test: m.y_test.to_vec(),
    }
}

/// The raw-Burn version of kiln's models: NCHW input, logits output.
#[derive(Module, Debug)]
struct Raw {
    c1: Option<Conv2d>,
    c2: Option<Conv2d>,
    pool: MaxPool2d,
    hidden: Option<Linear>,
    out: Linear,
    dropout: Dropout,
}

fn glorot() -> Initializer {
    Initializer::XavierUniform { gain: 1.0 }
}

impl Raw {
    fn new(cnn: bool, device: &burn::tensor::Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_initializer(glorot())
                .init(device)
        };
        let lin = |i, o| {
            LinearConfig::new(i, o)
                .with_initializer(glorot())
                .init(device)
        };
        Raw {
            c1: cnn.then(|| conv(1, 32)),
            c2: cnn.then(|| conv(32, 64)),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            hidden: (!cnn).then(|| lin(784, 512)),
            out: if cnn { lin(1600, 10) } else { lin(512, 10) },
            dropout: DropoutConfig::new(0.5).init(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let b = x.dims()[0];
        match (&self.c1, &self.c2, &self.hidden) {
            (Some(c1), Some(c2), _) => {
                let x = x.reshape([b, 1, 28, 28]);
                let x = self.pool.forward(relu(c1.forward(x)));
                let x = self.pool.forward(relu(c2.forward(x)));
                // flatten in Keras' (h, w, c) order, as kiln does
                let x: Tensor<2> = x.permute([0, 2, 3, 1]).reshape([b, 1600]);
                self.out.forward(self.dropout.forward(x))
            }
            (_, _, Some(h)) => self.out.forward(relu(h.forward(x))),
            _ => unreachable!(),
        }
    }
}

/// Trains the raw model, then scores the test set.
fn raw_run(cnn: bool, data: &Data, epochs: usize, seed: u64, device: &burn::tensor::Device) -> Run {
    let train_device = device.clone().autodiff();
    train_device.seed(seed);
    let mut model = Raw::new(cnn, &train_device);
    let mut optim = if cnn {
        AdamConfig::new().with_epsilon(1e-7).init()
    } else {
        RmsPropConfig::new()
            .with_alpha(0.9)
            .with_momentum(0.0)
            .with_epsilon(1e-7)
            .init()
    };
    let n = data.y_train.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut epoch_times = Vec::with_capacity(epochs);
    for _ in 0..epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        for idx in order.chunks(128) {
            let mut xs = Vec::with_capacity(idx.len() * 784);
            for &i in idx {
                xs.extend_from_slice(&data.x_train[i * 784..(i + 1) * 784]);
            }
            let ys: Vec<i64> = idx.iter().map(|&i| data.y_train[i] as i64).collect();
            let x = Tensor::<2>::from_data(TensorData::new(xs, [idx.len(), 784]), &train_device);
            let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [idx.len()]), &train_device);
            let logp = log_softmax(model.forward(x), 1);
            let loss = logp.gather(1, y.reshape([idx.len(), 1])).mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        epoch_times.push(start.elapsed().as_secs_f64());
    }
    let start = Instant::now();
    let valid = model.valid();
    let (mut correct, m) = (0usize, data.y_test.len());
    for s in (0..m).step_by(500) {
        let e = (s + 500).min(m);
        let x = Tensor::<2>::from_data(
            TensorData::new(data.x_test[s * 784..e * 784].to_vec(), [e - s, 784]),
            device,
        );
        let pred: Vec<f32> = valid
            .forward(x)
            .argmax(1)
            .float()
            .into_data()
            .try_to_vec()
            .unwrap();
        correct += pred
            .iter()
            .zip(&data.y_test[s..e])
            .filter(|(p, y)| **p == **y as f32)
            .count();
    }
    Run {
        epochs: epoch_times,
        inference: m as f64 / start.elapsed().as_secs_f64(),
        accuracy: correct as f64 / m as f64,
    }
}

/// Trains kiln's model, then scores the test set.
fn kiln_run(cnn: bool, data: &Data, epochs: usize, seed: u64, device: &Device) -> Run {
    kiln::set_random_seed(seed);
    let (n, m) = (data.y_train.len(), data.y_test.len());
    let shape = |k: usize| {
        if cnn {
            vec![k, 28, 28, 1]
        } else {
            vec![k, 784]
        }
    };
    let x_train = kiln::HostArray::new(&data.x_train, shape(n)).unwrap();
    let y_train = kiln::HostArray::new(&data.y_train, [n]).unwrap();
    let x_test = kiln::HostArray::new(&data.x_test, shape(m)).unwrap();
    let y_test = kiln::HostArray::new(&data.y_test, [m]).unwrap();
    let model = if cnn {
        Sequential::new()
            .input([28, 28, 1])
            .add(Conv2D::new(32, 3).activation(Relu))
            .add(MaxPooling2D::new(2))
            .add(Conv2D::new(64, 3).activation(Relu))
            .add(MaxPooling2D::new(2))
            .add(Flatten::new())
            .add(kiln::layers::Dropout::new(0.5))
            .add(Dense::new(10).activation(Softmax))
    } else {
        Sequential::new()
            .input([784])
            .add(Dense::new(512).activation(Relu))
            .add(Dense::new(10).activation(Softmax))
    };
    let optimizer: Optimizer = if cnn {
        Optimizer::adam(1e-3).into()
    } else {
        Optimizer::rmsprop(1e-3).into()
    };
    let mut model = model
        .device(device.clone())
        .compile(
            optimizer,
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let mut clock = Clock::default();
    model
        .fit(
            &x_train,
            &y_train,
            FitOptions::default()
                .epochs(epochs)
                .batch_size(128)
                .verbose(0)
                .callback(&mut clock),
        )
        .unwrap();
    let start = Instant::now();
    let scores = model
        .evaluate_with(
            &x_test,
            &y_test,
            EvalOptions::default().batch_size(500).verbose(0),
        )
        .unwrap();
    Run {
        epochs: clock.epochs,
        inference: m as f64 / start.elapsed().as_secs_f64(),
        accuracy: scores.get("accuracy").unwrap(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let k = v.len();
    if k % 2 == 1 {
        v[k / 2]
    } else {
        (v[k / 2 - 1] + v[k / 2]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let cnn = args.first().map(|a| a == "cnn").unwrap_or(false);
    let epochs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let runs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let device = match args.get(3).map(String::as_str) {
        Some("ndarray") => Device::cpu_ndarray(),
        Some("flex") | None => Device::cpu(),
        Some(other) => panic!("unknown CPU backend `{other}`: use flex or ndarray"),
    }
    .expect("a CPU backend");
    let first_seed: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1);
    let data = load();
    println!(
        "model={} epochs={epochs} runs={runs} device={} train={} test={}",
        if cnn { "cnn" } else { "dense" },
        device,
        data.y_train.len(),
        data.y_test.len()
    );
    let n = data.y_train.len() as f64;
    let (mut kiln, mut burn) = (vec![], vec![]);
    for seed in first_seed..first_seed + runs {
        let k = kiln_run(cnn, &data, epochs, seed, &device);
        k.print(seed, "kiln", n);
        kiln.push(k);
        let r = raw_run(cnn, &data, epochs, seed, device.as_burn());
        r.print(seed, "burn", n);
        burn.push(r);
    }
    let (k, r) = (Run::median(&kiln), Run::median(&burn));
    k.print_median("kiln", n);
    r.print_median("burn", n);
    println!("kiln/burn time {:.3}", k.per_epoch() / r.per_epoch());
    if epochs > 1 {
        let (ks, rs) = (Run::steady(&kiln), Run::steady(&burn));
        println!(
            "steady epochs (all but each run's first, {} each): kiln {ks:.3} s, burn {rs:.3} s, kiln/burn {:.3}",
            kiln.len() * (epochs - 1),
            ks / rs
        );
    }
    if let Some(peak) = peak_memory_mb() {
        println!("peak resident memory of this process (both models, every run): {peak:.0} MB");
    }
}

/// One training run's figures.
struct Run {
    /// The seconds of each training epoch.
    epochs: Vec<f64>,
    /// Test images run and scored per second.
    inference: f64,
    /// Test accuracy.
    accuracy: f64,
}

impl Run {
    /// The median epoch.
    fn per_epoch(&self) -> f64 {
        median(self.epochs.clone())
    }

    fn line(&self, samples: f64) -> String {
        let epochs: Vec<String> = self.epochs.iter().map(|e| format!("{e:.3}")).collect();
        format!(
            "{:.3} s/epoch ({:.0} samples/s; epochs {}), inference {:.0} samples/s, accuracy {:.4}",
            self.per_epoch(),
            samples / self.per_epoch(),
            epochs.join(" "),
            self.inference,
            self.accuracy
        )
    }

    fn print(&self, seed: u64, name: &str, samples: f64) {
        println!("run {seed}: {name} {}", self.line(samples));
    }

    fn print_median(&self, name: &str, samples: f64) {
        println!("median: {name} {}", self.line(samples));
    }

    /// The median of every epoch of `runs`, and of the other figures over `runs`.
    fn median(runs: &[Run]) -> Run {
        let of = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
        Run {
            epochs: vec![median(runs.iter().flat_map(|r| r.epochs.clone()).collect())],
            inference: of(|r| r.inference),
            accuracy: of(|r| r.accuracy),
        }
    }

    /// The median of the epochs of `runs` after each run's first.
    fn steady(runs: &[Run]) -> f64 {
        median(runs.iter().flat_map(|r| r.epochs[1..].to_vec()).collect())
    }
}

/// The process' peak resident memory (`VmHWM`), in MB, where Linux reports it.
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
