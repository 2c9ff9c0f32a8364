//! kiln against Keras on the sequence examples' models, alternating in one run.
//!
//! `cargo bench --bench sequence -- [bilstm|bigru|conv|weather|weather_gru] [RUNS]`
//!
//! Each run trains kiln's model in one `fit` (`examples/common/architectures.rs`: batch 32,
//! shuffled; 3 epochs for the spam models, 20 for the weather ones; `bigru` and `weather_gru` put Keras'
//! `GRU(32)` where the others have `LSTM(32)`) on the data of `../shared/data`, then
//! Keras' same model with `benches/keras_sequence.py` (interpreter: `KILN_KERAS_PYTHON`,
//! default `python3`), seeds 1, 2, …. Both time each epoch from its start to its end by a
//! callback, so neither counts its `fit`'s setup. It prints each run's seconds per epoch and test score
//! (accuracy, or the weather's MAE in °C), then the medians over every epoch after each run's
//! first (Keras' first traces its graph) and kiln's time over Keras'.

#[path = "../examples/common/architectures.rs"]
#[allow(dead_code)] // the MNIST models are benchmarked by `mnist`
mod architectures;
#[path = "common/clock.rs"]
mod clock;

use clock::Clock;
use kiln::datasets::{seattle_weather, spam_assassin};
use kiln::{Device, EvalOptions, FitOptions};
use ndarray::{Array2, ArrayD};
use std::process::Command;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// kiln's epochs (seconds) and test score for `kind` with `seed`.
fn kiln_run(kind: &str, seed: u64, shared: &str) -> (Vec<f64>, f64) {
    kiln::set_random_seed(seed);
    let device = Device::cpu().unwrap();
    let (mut model, x, y, x_test, y_test, epochs, scale) = if kind.starts_with("weather") {
        let task = seattle_weather::load_data_from(format!("{shared}/seattle_weather"))
            .unwrap()
            .forecast(14)
            .unwrap();
        let model = if kind == "weather_gru" {
            architectures::weather_gru(device).unwrap()
        } else {
            architectures::weather_lstm(device).unwrap()
        };
        let d = |a: ndarray::Array3<f32>| a.into_dyn();
        let t = |a: Array2<f32>| a.into_dyn();
        (
            model,
            d(task.x_train),
            t(task.y_train),
            d(task.x_test),
            t(task.y_test),
            20,
            f64::from(task.temp_max_std),
        )
    } else {
        let spam = spam_assassin::load_data_from(format!("{shared}/spam_assassin")).unwrap();
        let mut tv = architectures::spam_vectorizer();
        tv.adapt(&spam.train.texts);
        let model = match kind {
            "conv" => architectures::spam_conv_with(device, tv).unwrap(),
            "bigru" => architectures::spam_bigru_with(device, tv).unwrap(),
            _ => architectures::spam_bilstm_with(device, tv).unwrap(),
        };
        let labels = |l: &[f32]| -> ArrayD<f32> {
            Array2::from_shape_vec((l.len(), 1), l.to_vec())
                .unwrap()
                .into_dyn()
        };
        let x = model.vectorize_text(&spam.train.texts).unwrap();
        let x_test = model.vectorize_text(&spam.test.texts).unwrap();
        (
            model,
            x,
            labels(&spam.train.labels),
            x_test,
            labels(&spam.test.labels),
            3,
            1.0,
        )
    };
    let mut clock = Clock::default();
    model
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(epochs)
                .batch_size(32)
                .verbose(0)
                .callback(&mut clock),
        )
        .unwrap();
    let scores = model
        .evaluate_with(&x_test, &y_test, EvalOptions::default().verbose(0))
        .unwrap();
    let metric = if kind.starts_with("weather") {
        "mae"
    } else {
        "accuracy"
    };
    (clock.epochs, scores.get(metric).unwrap() * scale)
}

/// Keras' epochs and test score for `kind` with `seed`, from the script's `seed` line.
fn keras_run(kind: &str, seed: u64, shared: &str) -> (Vec<f64>, f64) {
    let python = std::env::var("KILN_KERAS_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "benches/keras_sequence.py",
            kind,
            "1",
            shared,
            &seed.to_string(),
        ])
        .output()
        .expect("the Keras script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("seed "))
        .unwrap_or_else(|| {
            panic!(
                "no result from Keras:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let inside = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
    let times = inside
        .split(',')
        .map(|t| t.trim().parse().unwrap())
        .collect();
    let score = line.rsplit('=').next().unwrap().trim().parse().unwrap();
    (times, score)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let kind = args.first().map_or("bilstm", String::as_str).to_string();
    let runs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let shared = "../shared/data";
    println!("model={kind} runs={runs}");
    let (mut kiln, mut keras, mut kiln_scores, mut keras_scores) = (vec![], vec![], vec![], vec![]);
    for seed in 1..=runs {
        for (name, run) in [
            ("kiln", kiln_run as fn(&str, u64, &str) -> _),
            ("keras", keras_run),
        ] {
            let (times, score) = run(&kind, seed, shared);
            let shown: Vec<String> = times.iter().map(|t| format!("{t:.4}")).collect();
            println!(
                "run {seed} {name}: epochs [{}] s, score {score:.4}",
                shown.join(", ")
            );
            let (epochs, scores) = if name == "kiln" {
                (&mut kiln, &mut kiln_scores)
            } else {
                (&mut keras, &mut keras_scores)
            };
            epochs.extend_from_slice(&times[1..]);
            scores.push(score);
        }
    }
    let (k, t) = (median(kiln), median(keras));
    println!(
        "median epoch: kiln {k:.4} s, keras {t:.4} s, kiln/keras {:.2}; median score: kiln {:.4}, keras {:.4}",
        k / t,
        median(kiln_scores),
        median(keras_scores)
    );
}
