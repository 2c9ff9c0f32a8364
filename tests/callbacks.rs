//! Callbacks: hook order and counts, and the built-ins on scripted sequences and real fits.

use kiln::Logs;
use kiln::callbacks::{
    BatchLogs, Callback, CsvLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
    ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN,
};
use kiln::prelude::*;
use ndarray::{Array2, ArrayD, IxDyn};
use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-callbacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn model(optimizer: impl Into<Optimizer>) -> Model {
    Sequential::new()
        .input([3])
        .add(Dense::new(4).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            optimizer,
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

fn data(n: usize) -> (Array2<f32>, Array2<f32>) {
    let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) % 7) as f32 / 7.0 - 0.4);
    let y = kiln::to_categorical(&(0..n).map(|i| (i % 2) as u8).collect::<Vec<_>>(), 2).unwrap();
    (x, y)
}

fn logs(name: &str, value: f64) -> Logs {
    let mut l = Logs::default();
    l.insert("loss", 1.0);
    l.insert(name, value);
    l
}

/// Records every hook it sees.
#[derive(Default)]
struct Recorder(Vec<String>);

impl Callback for Recorder {
    fn on_train_begin(&mut self, _: &mut Model) -> kiln::Result<()> {
        self.0.push("train_begin".into());
        Ok(())
    }
    fn on_train_end(&mut self, _: &Logs, _: &mut Model) -> kiln::Result<()> {
        self.0.push("train_end".into());
        Ok(())
    }
    fn on_epoch_begin(&mut self, e: usize, _: &mut Model) -> kiln::Result<()> {
        self.0.push(format!("epoch_begin {e}"));
        Ok(())
    }
    fn on_epoch_end(&mut self, e: usize, logs: &Logs, _: &mut Model) -> kiln::Result<()> {
        let keys: Vec<&str> = logs.iter().map(|(n, _)| n).collect();
        self.0.push(format!("epoch_end {e} {}", keys.join(",")));
        Ok(())
    }
    fn on_train_batch_begin(&mut self, b: usize, _: &mut Model) -> kiln::Result<()> {
        self.0.push(format!("batch_begin {b}"));
        Ok(())
    }
    fn on_train_batch_end(
        &mut self,
        b: usize,
        l: &BatchLogs<'_>,
        _: &mut Model,
    ) -> kiln::Result<()> {
        assert!(l.get("loss").is_some());
        self.0.push(format!("batch_end {b}"));
        Ok(())
    }
    fn on_test_begin(&mut self, _: &Model) -> kiln::Result<()> {
        self.0.push("test_begin".into());
        Ok(())
    }
    fn on_test_end(&mut self, _: &Logs, _: &Model) -> kiln::Result<()> {
        self.0.push("test_end".into());
        Ok(())
    }
    fn on_test_batch_begin(&mut self, b: usize, _: &Model) -> kiln::Result<()> {
        self.0.push(format!("test_batch_begin {b}"));
        Ok(())
    }
    fn on_test_batch_end(&mut self, b: usize, _: &BatchLogs<'_>, _: &Model) -> kiln::Result<()> {
        self.0.push(format!("test_batch_end {b}"));
        Ok(())
    }
    fn on_predict_begin(&mut self, _: &Model) -> kiln::Result<()> {
        self.0.push("predict_begin".into());
        Ok(())
    }
    fn on_predict_end(&mut self, _: &Model) -> kiln::Result<()> {
        self.0.push("predict_end".into());
        Ok(())
    }
    fn on_predict_batch_begin(&mut self, b: usize, _: &Model) -> kiln::Result<()> {
        self.0.push(format!("predict_batch_begin {b}"));
        Ok(())
    }
    fn on_predict_batch_end(&mut self, b: usize, _: &Model) -> kiln::Result<()> {
        self.0.push(format!("predict_batch_end {b}"));
        Ok(())
    }
}

#[test]
fn every_hook_is_called_in_order_with_the_right_counts() {
    let mut m = model(Optimizer::sgd(0.1));
    let (x, y) = data(10);
    let (vx, vy) = data(5);
    let mut rec = Recorder::default();
    m.fit(
        &x,
        &y,
        FitOptions::default()
            .epochs(2)
            .batch_size(4)
            .verbose(0)
            .validation_data(&vx, &vy)
            .callback(&mut rec),
    )
    .unwrap();
    let mut expected = vec!["train_begin".to_string()];
    for e in 0..2 {
        expected.push(format!("epoch_begin {e}"));
        for b in 0..3 {
            expected.push(format!("batch_begin {b}"));
            expected.push(format!("batch_end {b}"));
        }
        expected.push("test_begin".into());
        for b in 0..2 {
            expected.push(format!("test_batch_begin {b}"));
            expected.push(format!("test_batch_end {b}"));
        }
        expected.push("test_end".into());
        expected.push(format!("epoch_end {e} loss,accuracy,val_loss,val_accuracy"));
    }
    expected.push("train_end".into());
    assert_eq!(rec.0, expected);

    let mut rec = Recorder::default();
    m.evaluate_with(
        &x,
        &y,
        EvalOptions::default()
            .batch_size(4)
            .verbose(0)
            .callback(&mut rec),
    )
    .unwrap();
    assert_eq!(rec.0.len(), 2 + 2 * 3);
    assert_eq!(rec.0.first().unwrap(), "test_begin");
    let mut rec = Recorder::default();
    m.predict_with(
        &x,
        EvalOptions::default()
            .batch_size(5)
            .verbose(0)
            .callback(&mut rec),
    )
    .unwrap();
    assert_eq!(
        rec.0,
        [
            "predict_begin",
            "predict_batch_begin 0",
            "predict_batch_end 0",
            "predict_batch_begin 1",
            "predict_batch_end 1",
            "predict_end"
        ]
    );
}

#[test]
fn a_callback_error_ends_fit_with_it() {
    struct Fails;
    impl Callback for Fails {
        fn on_epoch_end(&mut self, _: usize, _: &Logs, _: &mut Model) -> kiln::Result<()> {
            Err(kiln::Error::Data {
                message: "boom".into(),
            })
        }
    }
    let (x, y) = data(8);
    let e = model(Optimizer::sgd(0.1))
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(3)
                .verbose(0)
                .callback(&mut Fails),
        )
        .unwrap_err();
    assert!(e.to_string().contains("boom"));
}

/// Drives `callback` through epochs with scripted values of `val_loss`; before each epoch's
/// end the model's weights are set to mark the epoch. Returns the epochs run.
fn script(callback: &mut dyn Callback, model: &mut Model, values: &[f64]) -> usize {
    callback.on_train_begin(model).unwrap();
    let mut run = 0;
    for (epoch, v) in values.iter().enumerate() {
        mark(model, epoch);
        callback
            .on_epoch_end(epoch, &logs("val_loss", *v), model)
            .unwrap();
        run += 1;
        if model.is_stopping() {
            break;
        }
    }
    callback.on_train_end(&Logs::default(), model).unwrap();
    run
}

fn mark(model: &mut Model, epoch: usize) {
    let bias = ArrayD::from_elem(IxDyn(&[2]), epoch as f32);
    model.set_weights(&[("dense_1/bias".into(), bias)]).unwrap();
}

fn marked_epoch(model: &Model) -> f32 {
    model
        .get_weights()
        .iter()
        .find(|(n, _)| n == "dense_1/bias")
        .unwrap()
        .1[0]
}

#[test]
fn early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights() {
    let mut m = model(Optimizer::sgd(0.1));
    // best at epoch 2 (0.3); epochs 3, 4 do not improve; patience 2 stops at epoch 4
    let mut stop = EarlyStopping::new("val_loss")
        .patience(2)
        .restore_best_weights(true)
        .verbose(false);
    let run = script(&mut stop, &mut m, &[0.5, 0.4, 0.3, 0.35, 0.31, 0.2, 0.1]);
    assert_eq!(run, 5);
    assert_eq!(stop.stopped_epoch(), Some(4));
    assert_eq!(stop.best_epoch(), Some(2));
    assert_eq!(marked_epoch(&m), 2.0, "the weights of epoch 2 are back");

    // no stop (patience 3): training ends at epoch 4, and the best weights still come back
    let mut m = model(Optimizer::sgd(0.1));
    let mut stop = EarlyStopping::new("val_loss")
        .patience(3)
        .restore_best_weights(true)
        .verbose(false);
    let run = script(&mut stop, &mut m, &[0.5, 0.4, 0.3, 0.35, 0.31]);
    assert_eq!(run, 5);
    assert_eq!(stop.stopped_epoch(), None);
    assert_eq!(marked_epoch(&m), 2.0);

    // min_delta: improvements smaller than it do not count
    let mut m = model(Optimizer::sgd(0.1));
    let mut stop = EarlyStopping::new("val_loss")
        .patience(1)
        .min_delta(0.05)
        .verbose(false);
    script(&mut stop, &mut m, &[0.5, 0.48, 0.47, 0.3]);
    assert_eq!(stop.stopped_epoch(), Some(1));

    // start_from_epoch: nothing is watched before it
    let mut stop = EarlyStopping::new("val_loss")
        .patience(0)
        .start_from_epoch(3)
        .verbose(false);
    let mut m = model(Optimizer::sgd(0.1));
    script(&mut stop, &mut m, &[0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
    assert_eq!(stop.stopped_epoch(), Some(4));

    // an unbeaten baseline keeps the wait running through improvements (Keras' rule): the
    // same values stop one epoch sooner with it
    let values = [0.5, 0.45, 0.5, 0.5, 0.5];
    let mut stop = EarlyStopping::new("val_loss").patience(2).verbose(false);
    script(&mut stop, &mut model(Optimizer::sgd(0.1)), &values);
    assert_eq!(stop.stopped_epoch(), Some(3));
    let mut stop = EarlyStopping::new("val_loss")
        .patience(2)
        .baseline(0.1)
        .verbose(false);
    script(&mut stop, &mut model(Optimizer::sgd(0.1)), &values);
    assert_eq!(stop.stopped_epoch(), Some(2));

    // accuracies go up in auto mode
    let mut stop = EarlyStopping::new("val_accuracy")
        .patience(1)
        .verbose(false);
    let mut m = model(Optimizer::sgd(0.1));
    stop.on_train_begin(&mut m).unwrap();
    for (e, v) in [0.5, 0.6, 0.55, 0.58].iter().enumerate() {
        stop.on_epoch_end(e, &logs("val_accuracy", *v), &mut m)
            .unwrap();
        if m.is_stopping() {
            break;
        }
    }
    assert_eq!(stop.stopped_epoch(), Some(2));
}

#[test]
fn model_checkpoint_with_save_best_only_writes_only_on_improvement() {
    let dir = temp("ckpt");
    let template = format!(
        "{}/e{{epoch:02d}}-{{val_loss:.2f}}.safetensors",
        dir.display()
    );
    let mut ckpt = ModelCheckpoint::new(template).save_best_only(true);
    let mut m = model(Optimizer::sgd(0.1));
    script(&mut ckpt, &mut m, &[0.5, 0.4, 0.45, 0.3, 0.35]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "e01-0.50.safetensors",
            "e02-0.40.safetensors",
            "e04-0.30.safetensors"
        ]
    );
    // whole models, loadable, with the weights of their epoch
    let back =
        kiln::load_model_on(dir.join("e04-0.30.safetensors"), Device::cpu().unwrap()).unwrap();
    assert_eq!(marked_epoch(&back), 3.0);

    // every epoch, weights only
    let weights = temp("w-{epoch}.safetensors");
    let mut every = ModelCheckpoint::new(weights.to_str().unwrap()).save_weights_only(true);
    script(&mut every, &mut m, &[0.5, 0.6]);
    assert_eq!(every.saved().len(), 2);
    let mut fresh = model(Optimizer::sgd(0.1));
    fresh.load_weights(temp("w-2.safetensors")).unwrap();
    assert_eq!(marked_epoch(&fresh), 1.0);
}

#[test]
fn reduce_lr_on_plateau_reduces_at_the_right_epoch() {
    let mut m = model(Optimizer::sgd(0.1));
    let mut reduce = ReduceLROnPlateau::new("val_loss")
        .factor(0.5)
        .patience(2)
        .cooldown(1)
        .min_lr(0.02)
        .verbose(false);
    reduce.on_train_begin(&mut m).unwrap();
    let values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.1, 1.2];
    let mut rates = Vec::new();
    for (e, v) in values.iter().enumerate() {
        reduce
            .on_epoch_end(e, &logs("val_loss", *v), &mut m)
            .unwrap();
        rates.push(m.learning_rate().unwrap());
    }
    // Keras' counting: best at 1; waits at 2, 3 -> reduce at 3. The cooldown epoch (4) resets
    // the wait, then counts: waits 4, 5 -> reduce at 5; waits 6, 7 -> 0.0125 is under min_lr,
    // so 0.02 at 7; then the rate is at min_lr and stays.
    let expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02];
    for (e, (r, x)) in rates.iter().zip(expected).enumerate() {
        assert!((r - x).abs() < 1e-12, "epoch {e}: {r} != {x} ({rates:?})");
    }
}

#[test]
fn the_scheduler_sets_each_epoch_rate_and_training_uses_it() {
    let mut m = model(Optimizer::sgd(0.1));
    let (x, y) = data(8);
    let mut seen = Vec::new();
    let mut schedule =
        LearningRateScheduler::new(|epoch, lr| if epoch == 0 { lr } else { lr / 2.0 });
    let mut watch = LambdaCallback::new().on_epoch_begin(|_, model| {
        seen.push(model.learning_rate().unwrap());
    });
    m.fit(
        &x,
        &y,
        FitOptions::default()
            .epochs(3)
            .verbose(0)
            .callback(&mut schedule)
            .callback(&mut watch),
    )
    .unwrap();
    drop(watch);
    assert_eq!(seen, [0.1, 0.05, 0.025]);

    // a rate of 0 would freeze the weights; set_learning_rate refuses it
    let mut zero = LearningRateScheduler::new(|_, _| 0.0);
    let e = m
        .fit(&x, &y, FitOptions::default().verbose(0).callback(&mut zero))
        .unwrap_err();
    assert!(e.to_string().contains("LearningRateScheduler"), "{e}");
}

#[test]
fn terminate_on_nan_stops_a_diverging_fit() {
    let mut m = Sequential::new()
        .input([3])
        .add(Dense::new(1))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::sgd(1e12), Loss::MeanSquaredError, &[])
        .unwrap();
    let (x, _) = data(64);
    let y = x.sum_axis(ndarray::Axis(1)).mapv(|v| v * 100.0);
    let mut nan = TerminateOnNaN::new();
    let history = m
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(50)
                .batch_size(4)
                .verbose(0)
                .callback(&mut nan),
        )
        .unwrap();
    assert!(nan.terminated_at().is_some());
    assert_eq!(history.epochs().len(), 1, "stopped within the first epoch");
    assert!(!history.last("loss").unwrap().is_finite());
}

#[test]
fn csv_logger_writes_a_row_per_epoch_and_appends() {
    let path = temp("log.csv");
    let mut m = model(Optimizer::sgd(0.1));
    let (x, y) = data(8);
    let mut csv = CsvLogger::new(&path);
    m.fit(
        &x,
        &y,
        FitOptions::default()
            .epochs(3)
            .verbose(0)
            .callback(&mut csv),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,accuracy,loss");
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("2,"));
    let mut csv = CsvLogger::new(&path).append(true).separator(';');
    m.fit(
        &x,
        &y,
        FitOptions::default()
            .epochs(5)
            .initial_epoch(3)
            .verbose(0)
            .callback(&mut csv),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[4].starts_with("3;"));
}

#[test]
fn early_stopping_stops_a_real_fit_on_val_loss() {
    // a model that overfits noise: val_loss rises after a few epochs
    kiln::set_random_seed(2);
    let mut m = Sequential::new()
        .input([3])
        .add(Dense::new(64).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::adam(0.05), Loss::CategoricalCrossentropy, &[])
        .unwrap();
    let x = Array2::from_shape_fn((40, 3), |(i, j)| {
        (((i * 31 + j * 17) % 23) as f32 / 11.0) - 1.0
    });
    let y = kiln::to_categorical(
        &(0..40)
            .map(|i| ((i * 7) % 3 == 0) as u8)
            .collect::<Vec<_>>(),
        2,
    )
    .unwrap();
    let mut stop = EarlyStopping::new("val_loss")
        .patience(2)
        .restore_best_weights(true)
        .verbose(false);
    let history = m
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(200)
                .batch_size(8)
                .validation_split(0.25)
                .verbose(0)
                .callback(&mut stop),
        )
        .unwrap();
    let stopped = stop
        .stopped_epoch()
        .expect("noise cannot be fitted for 200 epochs");
    assert_eq!(history.epochs().len(), stopped + 1);
    let best = stop.best_epoch().unwrap();
    assert_eq!(stopped, best + 2);
    let val = history.get("val_loss").unwrap();
    let min = val.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(val[best], min);
}

#[test]
fn history_exports_csv_and_json() {
    let mut m = model(Optimizer::sgd(0.1));
    let (x, y) = data(8);
    let h = m
        .fit(&x, &y, FitOptions::default().epochs(2).verbose(0))
        .unwrap();
    let csv = h.to_csv();
    assert!(csv.starts_with("epoch,accuracy,loss\n0,"));
    assert_eq!(csv.lines().count(), 3);
    let json: serde_json::Value = serde_json::from_str(&h.to_json()).unwrap();
    assert_eq!(json["epoch"], serde_json::json!([0, 1]));
    assert_eq!(json["loss"].as_array().unwrap().len(), 2);
    let path = temp("history.json");
    h.save_json(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), h.to_json());
}

#[test]
fn a_schedule_sets_the_rate_of_every_step() {
    use kiln::training::optimizers::{ExponentialDecay, PiecewiseConstantDecay};
    // one weight, no bias: loss (w x - y)², gradient 2 x (w x - y), x = 1, y = 0
    let schedule = PiecewiseConstantDecay::new(vec![0, 1], vec![0.1, 0.05, 0.01]);
    let mut m = Sequential::new()
        .input([1])
        .add(Dense::new(1).use_bias(false))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::sgd(schedule), Loss::MeanSquaredError, &[])
        .unwrap();
    m.set_weights(&[(
        "dense/kernel".into(),
        ArrayD::from_elem(IxDyn(&[1, 1]), 1.0),
    )])
    .unwrap();
    let x = Array2::from_elem((1, 1), 1.0f32);
    let y = Array2::from_elem((1, 1), 0.0f32);
    let mut rates = Vec::new();
    let mut w = 1.0f64;
    for step in 0..3 {
        rates.push(m.learning_rate().unwrap());
        m.train_on_batch(&x, &y).unwrap();
        w -= [0.1, 0.05, 0.01][step] * 2.0 * w;
        let got = m.get_weights()[0].1[[0, 0]] as f64;
        assert!((got - w).abs() < 1e-6, "step {step}: {got} != {w}");
    }
    assert_eq!(rates, [0.1, 0.05, 0.01]);
    // a scheduled rate cannot be set by hand
    assert!(m.set_learning_rate(0.5).is_err());
    // schedules travel in the model's JSON
    let opt: Optimizer = Optimizer::adam(ExponentialDecay::new(1e-3, 100, 0.9)).into();
    let json = serde_json::to_string(&opt).unwrap();
    assert!(json.contains("ExponentialDecay"), "{json}");
    assert_eq!(serde_json::from_str::<Optimizer>(&json).unwrap(), opt);
}
