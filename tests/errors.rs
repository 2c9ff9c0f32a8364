//! Bad input gets a clear `Err`, never a panic, and leaves the model untouched.

use kiln::layers::Dense;
use kiln::prelude::*;
use ndarray::{Array1, Array2};

fn model() -> Model {
    Sequential::new()
        .input([4])
        .add(Dense::new(3).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::sgd(0.1),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

fn quiet() -> FitOptions<'static> {
    FitOptions::default().verbose(0)
}

fn err_text<T: std::fmt::Debug>(r: kiln::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn x_and_y_of_different_lengths() {
    let e = err_text(model().fit(
        &Array2::<f32>::zeros((5, 4)),
        &Array2::<f32>::zeros((4, 3)),
        quiet(),
    ));
    assert!(e.contains("5 samples") && e.contains("y has 4"), "{e}");
}

#[test]
fn wrong_feature_width() {
    let e = err_text(model().fit(
        &Array2::<f32>::zeros((5, 6)),
        &Array2::<f32>::zeros((5, 3)),
        quiet(),
    ));
    assert!(
        e.contains("[6]") && e.contains("(None, 4)") && e.contains("input_layer"),
        "{e}"
    );
    let e = err_text(model().predict(&Array2::<f32>::zeros((2, 3))));
    assert!(e.contains("predict") && e.contains("(None, 4)"), "{e}");
}

#[test]
fn nan_and_infinite_inputs_and_targets_name_the_sample() {
    let mut x = Array2::<f32>::zeros((5, 4));
    x[[3, 2]] = f32::NAN;
    let y = Array2::<f32>::zeros((5, 3));
    let e = err_text(model().fit(&x, &y, quiet()));
    assert!(
        e.contains("sample 3 holds NaN (value 2 of the sample)"),
        "{e}"
    );
    assert!(e.contains("input_layer"), "{e}");
    let e = err_text(model().predict(&x));
    assert!(
        e.contains("predict") && e.contains("sample 3 holds NaN"),
        "{e}"
    );
    x[[3, 2]] = f32::INFINITY;
    let e = err_text(model().evaluate(&x, &y));
    assert!(e.contains("sample 3 holds inf"), "{e}");

    let x = Array2::<f32>::zeros((5, 4));
    let mut y = Array2::<f32>::zeros((5, 3));
    y[[4, 0]] = f32::NEG_INFINITY;
    let e = err_text(model().fit(&x, &y, quiet()));
    assert!(
        e.contains("targets") && e.contains("sample 4 holds -inf"),
        "{e}"
    );
}

#[test]
fn empty_data() {
    let e = err_text(model().fit(
        &Array2::<f32>::zeros((0, 4)),
        &Array2::<f32>::zeros((0, 3)),
        quiet(),
    ));
    assert!(e.contains("no samples"), "{e}");
    let e = err_text(model().predict(&Array2::<f32>::zeros((0, 4))));
    assert!(e.contains("no samples"), "{e}");
}

#[test]
fn batch_size_zero() {
    let (x, y) = (Array2::<f32>::zeros((5, 4)), Array2::<f32>::zeros((5, 3)));
    let e = err_text(model().fit(&x, &y, quiet().batch_size(0)));
    assert!(e.contains("batch_size"), "{e}");
    let e = err_text(model().evaluate_with(&x, &y, EvalOptions::default().batch_size(0)));
    assert!(e.contains("batch_size"), "{e}");
}

#[test]
fn labels_out_of_range_or_not_whole() {
    let mut m = Sequential::new()
        .input([4])
        .add(Dense::new(3).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::sgd(0.1),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let x = Array2::<f32>::zeros((3, 4));
    let e = err_text(m.fit(&x, &Array1::from(vec![0u8, 3, 1]), quiet()));
    assert!(e.contains("label 3") && e.contains("0..3"), "{e}");
    let e = err_text(m.fit(&x, &Array1::from(vec![0.0f32, 1.5, 1.0]), quiet()));
    assert!(e.contains("1.5"), "{e}");
    let e = err_text(m.fit(&x, &Array1::from(vec![-1i32, 0, 1]), quiet()));
    assert!(e.contains("-1"), "{e}");
    let e = err_text(kiln::to_categorical(&[0u8, 10], 10));
    assert!(e.contains("10"), "{e}");
}

#[test]
fn integer_labels_with_categorical_crossentropy() {
    let e = err_text(model().fit(
        &Array2::<f32>::zeros((3, 4)),
        &Array1::from(vec![0u8, 1, 2]),
        quiet(),
    ));
    assert!(
        e.contains("SparseCategoricalCrossentropy") && e.contains("to_categorical"),
        "{e}"
    );
}

#[test]
fn fit_before_compile() {
    let mut m = Sequential::new()
        .input([4])
        .add(Dense::new(3))
        .device(Device::cpu().unwrap())
        .build()
        .unwrap();
    let (x, y) = (Array2::<f32>::zeros((2, 4)), Array2::<f32>::zeros((2, 3)));
    let e = err_text(m.fit(&x, &y, quiet()));
    assert!(e.contains("compile"), "{e}");
    assert!(err_text(m.evaluate(&x, &y)).contains("compile"));
    assert!(err_text(m.train_on_batch(&x, &y)).contains("compile"));
    // predicting needs no compile, as in Keras
    assert_eq!(m.predict(&x).unwrap().shape(), &[2, 3]);
}

#[test]
fn bad_options() {
    let (x, y) = (Array2::<f32>::zeros((4, 4)), Array2::<f32>::zeros((4, 3)));
    assert!(
        err_text(model().fit(&x, &y, quiet().validation_split(1.0))).contains("validation_split")
    );
    assert!(err_text(model().fit(&x, &y, quiet().validation_split(0.9))).contains("both need"));
    assert!(err_text(model().fit(&x, &y, quiet().verbose(3))).contains("verbose"));
    assert!(
        err_text(model().fit(&x, &y, quiet().epochs(2).initial_epoch(3))).contains("initial_epoch")
    );
    let bad_opt = Sequential::new()
        .input([4])
        .add(Dense::new(3))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::adam(0.0), Loss::MeanSquaredError, &[]);
    assert!(err_text(bad_opt).contains("learning_rate"));
    let bad_metric = Sequential::new()
        .input([4])
        .add(Dense::new(3))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::adam(0.1),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Mae],
        );
    assert!(err_text(bad_metric).contains("mae"));
}

#[test]
fn a_failed_fit_leaves_the_weights_alone() {
    let mut m = model();
    let before = m.get_weights();
    let _ = m.fit(
        &Array2::<f32>::zeros((5, 4)),
        &Array2::<f32>::zeros((4, 3)),
        quiet(),
    );
    assert_eq!(m.get_weights(), before);
    assert_eq!(m.iterations(), 0);
}

#[test]
fn set_weights_checks_names_and_shapes() {
    let mut m = model();
    let e = err_text(m.set_weights(&[("dense/kernal".into(), ndarray::ArrayD::zeros(vec![4, 3]))]));
    assert!(
        e.contains("dense/kernal") && e.contains("dense/kernel"),
        "{e}"
    );
    let e = err_text(m.set_weights(&[("dense/kernel".into(), ndarray::ArrayD::zeros(vec![3, 4]))]));
    assert!(e.contains("[4, 3]") && e.contains("[3, 4]"), "{e}");
}

#[test]
fn bad_names_from_strings() {
    assert!(err_text("relu6".parse::<Activation>()).contains("relu6"));
    assert!(err_text("hinge".parse::<Loss>()).contains("hinge"));
    assert!(err_text("auc".parse::<Metric>()).contains("auc"));
    assert!(err_text("tpu".parse::<DeviceChoice>()).contains("tpu"));
}
