//! Training: fit, evaluate, predict and the batch methods, against hand computations.

use kiln::layers::Dense;
use kiln::prelude::*;
use ndarray::{Array1, Array2, ArrayD, IxDyn, array};

fn cpu() -> Device {
    Device::cpu().unwrap()
}

/// Two Gaussian-free, linearly separable blobs: class = [x0 + x1 > 0].
fn separable(n: usize) -> (Array2<f32>, Array1<u8>, Array2<f32>) {
    let mut x = Array2::zeros((n, 2));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        let a = ((i * 7919) % 1000) as f32 / 500.0 - 1.0;
        let b = ((i * 104_729) % 997) as f32 / 498.5 - 1.0;
        let side = if a + b > 0.0 { 1u8 } else { 0 };
        // push points away from the boundary so a margin exists
        let shift = if side == 1 { 0.3 } else { -0.3 };
        x[[i, 0]] = a + shift;
        x[[i, 1]] = b + shift;
        y[i] = side;
    }
    let onehot = kiln::to_categorical(y.as_slice().unwrap(), 2).unwrap();
    (x, y, onehot)
}

fn classifier() -> Sequential {
    Sequential::new()
        .input([2])
        .add(Dense::new(16).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(cpu())
}

#[test]
fn fit_drives_the_loss_down_and_learns_a_separable_problem() {
    let (x, _, y) = separable(256);
    let mut model = classifier()
        .compile(
            Optimizer::adam(0.01),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(30)
                .batch_size(32)
                .verbose(0)
                .seed(1),
        )
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert_eq!(loss.len(), 30);
    assert!(
        loss[29] < loss[0] / 4.0,
        "loss went from {} to {}",
        loss[0],
        loss[29]
    );
    let scores = model
        .evaluate_with(&x, &y, EvalOptions::default().verbose(0))
        .unwrap();
    assert_eq!(scores.get("accuracy"), Some(1.0), "{scores}");
    assert_eq!(model.iterations(), 30 * 8);
}

#[test]
fn every_optimizer_trains() {
    let (x, _, y) = separable(128);
    let optimizers: Vec<Optimizer> = vec![
        Optimizer::sgd(0.1).into(),
        Optimizer::sgd(0.05).momentum(0.9).nesterov(true).into(),
        Optimizer::rmsprop(0.01).into(),
        Optimizer::rmsprop(0.01).momentum(0.5).centered(true).into(),
        Optimizer::adam(0.01).into(),
        Optimizer::adamw(0.01).into(),
    ];
    for opt in optimizers {
        let name = opt.name();
        let mut model = classifier()
            .compile(opt, Loss::CategoricalCrossentropy, &[Metric::Accuracy])
            .unwrap();
        let h = model
            .fit(&x, &y, FitOptions::default().epochs(15).verbose(0).seed(3))
            .unwrap();
        let loss = h.get("loss").unwrap();
        assert!(
            loss[14] < loss[0] * 0.7,
            "{name}: {} -> {}",
            loss[0],
            loss[14]
        );
    }
}

#[test]
fn sparse_and_categorical_crossentropy_agree() {
    let (x, labels, onehot) = separable(64);
    let mut model = classifier()
        .compile(
            Optimizer::adam(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let quiet = || EvalOptions::default().verbose(0);
    let a = model.evaluate_with(&x, &onehot, quiet()).unwrap();
    model
        .compile(
            Optimizer::adam(1e-3),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let b = model.evaluate_with(&x, &labels, quiet()).unwrap();
    let (la, lb) = (a.get("loss").unwrap(), b.get("loss").unwrap());
    assert!((la - lb).abs() < 1e-6, "{la} vs {lb}");
    assert_eq!(a.get("accuracy"), b.get("accuracy"));
}

#[test]
fn evaluate_agrees_with_a_hand_computation_from_predict() {
    let (x, labels, onehot) = separable(50);
    let mut model = classifier()
        .compile(
            Optimizer::rmsprop(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
        .fit(&x, &onehot, FitOptions::default().epochs(2).verbose(0))
        .unwrap();
    let p = model.predict(&x).unwrap();
    assert_eq!(p.shape(), &[50, 2]);
    let mut loss = 0.0f64;
    let mut correct = 0;
    for i in 0..50 {
        let truth = labels[i] as usize;
        loss -= (p[[i, truth]] as f64).max(1e-7).ln();
        let guess = if p[[i, 1]] > p[[i, 0]] { 1 } else { 0 };
        correct += (guess == truth) as usize;
    }
    loss /= 50.0;
    // a batch size that does not divide 50 checks the weighting of the last batch
    let scores = model
        .evaluate_with(
            &x,
            &onehot,
            EvalOptions::default().batch_size(16).verbose(0),
        )
        .unwrap();
    assert!(
        (scores.get("loss").unwrap() - loss).abs() < 1e-5,
        "{scores} vs {loss}"
    );
    assert!((scores.get("accuracy").unwrap() - correct as f64 / 50.0).abs() < 1e-9);
}

#[test]
fn validation_split_holds_out_exactly_the_last_samples() {
    let (x, _, y) = separable(40);
    let mut model = classifier()
        .compile(
            Optimizer::sgd(0.05),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let h = model
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(1)
                .validation_split(0.25)
                .verbose(0),
        )
        .unwrap();
    let quiet = || EvalOptions::default().verbose(0);
    let tail = model
        .evaluate_with(
            &x.slice(ndarray::s![30.., ..]),
            &y.slice(ndarray::s![30.., ..]),
            quiet(),
        )
        .unwrap();
    let head = model
        .evaluate_with(
            &x.slice(ndarray::s![..10, ..]),
            &y.slice(ndarray::s![..10, ..]),
            quiet(),
        )
        .unwrap();
    let val = h.get("val_loss").unwrap()[0];
    assert!(
        (val - tail.get("loss").unwrap()).abs() < 1e-6,
        "{val} vs {tail}"
    );
    assert!((val - head.get("loss").unwrap()).abs() > 1e-6);
    assert!(h.get("val_accuracy").is_some());
    // 30 training samples in batches of 32: one step
    assert_eq!(model.iterations(), 1);
}

#[test]
fn validation_data_is_scored_every_epoch() {
    let (x, _, y) = separable(64);
    let (vx, _, vy) = separable(16);
    let mut model = classifier()
        .compile(
            Optimizer::adam(0.01),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let h = model
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(3)
                .validation_data(&vx, &vy)
                .verbose(2),
        )
        .unwrap();
    let names: Vec<&str> = h.names().collect();
    assert_eq!(names, ["loss", "accuracy", "val_loss", "val_accuracy"]);
    assert_eq!(h.get("val_loss").unwrap().len(), 3);
    assert_eq!(h.epochs(), &[0, 1, 2]);
}

#[test]
fn initial_epoch_resumes_the_count() {
    let (x, _, y) = separable(32);
    let mut model = classifier()
        .compile(Optimizer::adam(0.01), Loss::CategoricalCrossentropy, &[])
        .unwrap();
    let h = model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(5).initial_epoch(3).verbose(0),
        )
        .unwrap();
    assert_eq!(h.epochs(), &[3, 4]);
}

/// A one-unit linear model `y = w·x + b` with w = [0.5, -1], b = 0.1, trained with mse.
fn line_model(optimizer: impl Into<Optimizer>) -> Model {
    let mut model = Sequential::new()
        .input([2])
        .add(Dense::new(1))
        .device(cpu())
        .compile(optimizer, Loss::MeanSquaredError, &[])
        .unwrap();
    set_line(&mut model, [0.5, -1.0], 0.1);
    model
}

/// Steps the line model `steps` times on x = [1, 2] and `target`, and checks its weights
/// against `rule`, Keras' update written out: `rule(step, weights, grads)` updates
/// `[w0, w1, b]`.
fn check_steps(
    mut model: Model,
    steps: i32,
    target: f32,
    mut rule: impl FnMut(i32, &mut [f64; 3], [f64; 3]),
) {
    let x = array![[1.0f32, 2.0]];
    let y = array![[target]];
    let mut w = [0.5f64, -1.0, 0.1];
    for t in 1..=steps {
        model.train_on_batch(&x, &y).unwrap();
        // prediction p = w0 + 2 w1 + b; d(p - y)²/dp = 2 (p - y)
        let e = w[0] + 2.0 * w[1] + w[2] - target as f64;
        rule(t, &mut w, [2.0 * e, 4.0 * e, 2.0 * e]);
    }
    check_line(&model, [w[0], w[1]], w[2]);
}

/// A target 5e-5 from the first prediction (-1.4): gradients so small that where epsilon
/// stands in the update (inside or outside the root, scaled or not) changes the step.
const NEAR: f32 = -1.4 + 5e-5;

#[test]
fn rmsprop_steps_match_keras_by_hand() {
    // v = rho v + (1 - rho) g²; w -= lr g / sqrt(v + eps)
    for target in [0.0, NEAR] {
        let mut v = [0.0f64; 3];
        check_steps(
            line_model(Optimizer::rmsprop(0.01)),
            2,
            target,
            |_, w, g| {
                for i in 0..3 {
                    v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
                    w[i] -= 0.01 * g[i] / (v[i] + 1e-7).sqrt();
                }
            },
        );
    }
}

#[test]
fn adam_steps_match_keras_by_hand() {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
    for (target, lr) in [(0.0, 0.1), (NEAR, 1e-4)] {
        let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
        check_steps(line_model(Optimizer::adam(lr)), 3, target, |t, w, g| {
            let alpha = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
            for i in 0..3 {
                m[i] += (g[i] - m[i]) * (1.0 - b1);
                v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
                w[i] -= alpha * m[i] / (v[i].sqrt() + eps);
            }
        });
    }
}

#[test]
fn adamw_steps_match_keras_by_hand() {
    let (b1, b2, eps, lr, wd) = (0.9f64, 0.999f64, 1e-7f64, 0.1f64, 0.004f64);
    let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
    check_steps(line_model(Optimizer::adamw(lr)), 2, 0.0, |t, w, g| {
        let alpha = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        for i in 0..3 {
            w[i] -= w[i] * wd * lr;
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            w[i] -= alpha * m[i] / (v[i].sqrt() + eps);
        }
    });
}

#[test]
fn sgd_momentum_steps_match_keras_by_hand() {
    // m = momentum m - lr g; w += m
    let mut m = [0.0f64; 3];
    check_steps(
        line_model(Optimizer::sgd(0.1).momentum(0.9)),
        2,
        0.0,
        |_, w, g| {
            for i in 0..3 {
                m[i] = 0.9 * m[i] - 0.1 * g[i];
                w[i] += m[i];
            }
        },
    );
}

#[test]
fn sgd_nesterov_steps_match_keras_by_hand() {
    // m = momentum m - lr g; w += momentum m - lr g
    let mut m = [0.0f64; 3];
    let opt = Optimizer::sgd(0.1).momentum(0.9).nesterov(true);
    check_steps(line_model(opt), 2, 0.0, |_, w, g| {
        for i in 0..3 {
            m[i] = 0.9 * m[i] - 0.1 * g[i];
            w[i] += 0.9 * m[i] - 0.1 * g[i];
        }
    });
}

fn set_line(model: &mut Model, w: [f32; 2], b: f32) {
    let kernel = ArrayD::from_shape_vec(IxDyn(&[2, 1]), w.to_vec()).unwrap();
    let bias = ArrayD::from_shape_vec(IxDyn(&[1]), vec![b]).unwrap();
    model
        .set_weights(&[("dense/kernel".into(), kernel), ("dense/bias".into(), bias)])
        .unwrap();
}

fn check_line(model: &Model, w: [f64; 2], b: f64) {
    let weights = model.get_weights();
    let got = [
        weights[0].1[[0, 0]] as f64,
        weights[0].1[[1, 0]] as f64,
        weights[1].1[[0]] as f64,
    ];
    let want = [w[0], w[1], b];
    for (g, e) in got.iter().zip(want) {
        assert!((g - e).abs() < 1e-5, "got {got:?}, expected {want:?}");
    }
}

#[test]
fn binary_crossentropy_with_a_sigmoid_output() {
    let (x, labels, _) = separable(128);
    // one label per sample, as Keras takes them for a single-unit output
    let y = labels.mapv(|v| v as f32);
    let mut model = Sequential::new()
        .input([2])
        .add(Dense::new(8).activation(Tanh))
        .add(Dense::new(1).activation(Sigmoid))
        .device(cpu())
        .compile(
            Optimizer::adam(0.05),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy, Metric::Mse],
        )
        .unwrap();
    model
        .fit(&x, &y, FitOptions::default().epochs(40).verbose(0).seed(5))
        .unwrap();
    let s = model
        .evaluate_with(&x, &y, EvalOptions::default().verbose(0))
        .unwrap();
    assert!(s.get("accuracy").unwrap() >= 0.97, "{s}");
    assert!(s.get("mse").unwrap() < 0.05, "{s}");
}

#[test]
fn regression_with_mae() {
    let x = Array2::from_shape_fn((64, 3), |(i, j)| ((i * 3 + j) % 11) as f32 / 11.0);
    let y = Array2::from_shape_fn((64, 1), |(i, _)| 2.0 * x[[i, 0]] - x[[i, 2]] + 0.5);
    let mut model = Sequential::new()
        .input([3])
        .add(Dense::new(1))
        .device(cpu())
        .compile(
            Optimizer::adam(0.02),
            Loss::MeanAbsoluteError,
            &[Metric::Mse],
        )
        .unwrap();
    let h = model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(150).batch_size(16).verbose(0),
        )
        .unwrap();
    // y is exactly linear in x: the error shrinks to the size of Adam's steps
    assert!(h.last("loss").unwrap() < 0.1, "{:?}", h.last("loss"));
}

#[test]
fn batch_methods_work_on_exactly_the_given_samples() {
    let (x, _, y) = separable(10);
    let mut model = classifier()
        .compile(
            Optimizer::sgd(0.1),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let before = model.test_on_batch(&x, &y).unwrap();
    let during = model.train_on_batch(&x, &y).unwrap();
    assert!((before.get("loss").unwrap() - during.get("loss").unwrap()).abs() < 1e-6);
    let after = model.test_on_batch(&x, &y).unwrap();
    assert!(after.get("loss").unwrap() < before.get("loss").unwrap());
    assert_eq!(
        model.predict_on_batch(&x).unwrap(),
        model.predict(&x).unwrap()
    );
}

#[test]
fn slices_with_a_shape_are_accepted() {
    let values = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6];
    let x = kiln::HostArray::new(&values, [3, 2]).unwrap();
    let y = kiln::HostArray::new(&[0u8, 1, 1], [3]).unwrap();
    let mut model = classifier()
        .compile(
            Optimizer::sgd(0.1),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model.fit(&x, &y, FitOptions::default().verbose(0)).unwrap();
    let p = model.predict(&x).unwrap();
    assert_eq!(p.shape(), &[3, 2]);
    let rows: Vec<f32> = p.sum_axis(ndarray::Axis(1)).iter().copied().collect();
    assert!(rows.iter().all(|s| (s - 1.0).abs() < 1e-5));
}

#[test]
fn dropout_is_active_in_fit_only() {
    // a model that is only dropout: y = x in inference, x masked and scaled by 2 in training
    let mut model = Sequential::new()
        .input([4000])
        .add(kiln::layers::Dropout::new(0.5))
        .device(cpu())
        .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])
        .unwrap();
    let x = Array2::<f32>::ones((1, 4000));
    // inference: the output is x, so the loss against x is 0
    assert_eq!(model.test_on_batch(&x, &x).unwrap().get("loss"), Some(0.0));
    assert_eq!(
        model
            .predict(&x)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![1.0; 4000]
    );
    // training: each output is 0 or 2, so (y - 1)² is 1 everywhere
    let train = model.train_on_batch(&x, &x).unwrap().get("loss").unwrap();
    assert!((train - 1.0).abs() < 1e-6, "{train}");
    // and about half are dropped: against 0, the loss is 4 times the kept fraction
    let zeros = Array2::<f32>::zeros((1, 4000));
    let h = model
        .fit(&x, &zeros, FitOptions::default().verbose(0))
        .unwrap();
    let kept = h.last("loss").unwrap() / 4.0;
    assert!((kept - 0.5).abs() < 0.05, "kept {kept}");
}
