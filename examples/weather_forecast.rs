//! Tomorrow's maximum temperature in Seattle from the last 14 days of weather: an LSTM on real
//! daily observations, against the persistence forecast ("tomorrow as today").
//!
//! `cargo run --release --example weather_forecast -- --epochs 20 --seed 1
//! [--data ../shared/data/seattle_weather]`
//!
//! Trains on 2012–2014, tests on every day of 2015; the last line is
//! `test_mae_c=<float> persistence_mae_c=<float>`, both in °C.

mod common;

use common::architectures;
use kiln::datasets::seattle_weather;
use kiln::{EvalOptions, FitOptions};
use std::time::Instant;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let mut args = common::parse_args(20)?;
    args.batch_size = 32;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| "../shared/data/seattle_weather".into());
    let task = seattle_weather::load_data_from(&dir)?.forecast(14)?;
    let mut model = architectures::weather_lstm(kiln::Device::new(args.device)?)?;
    model.summary().print();
    let start = Instant::now();
    let options = FitOptions::default()
        .epochs(args.epochs)
        .batch_size(args.batch_size);
    let mut board = common::tensorboard(&args);
    let options = common::with_board(options, &mut board);
    model.fit(&task.x_train, &task.y_train, options)?;
    println!("fit_seconds={:.3}", start.elapsed().as_secs_f64());
    if let Some(path) = &args.save {
        model.save(path)?;
        println!("Saved the model to {}", path.display());
    }
    let quiet = EvalOptions::default().batch_size(128).verbose(0);
    let scores = model.evaluate_with(&task.x_test, &task.y_test, quiet)?;
    let std = f64::from(task.temp_max_std);
    let persistence = (&task.persistence - &task.y_test)
        .mapv(f32::abs)
        .mean()
        .unwrap_or(f32::NAN);
    println!(
        "test_mae_c={:.4} persistence_mae_c={:.4}",
        scores.get("mae").unwrap_or(f64::NAN) * std,
        f64::from(persistence) * std
    );
    Ok(())
}
