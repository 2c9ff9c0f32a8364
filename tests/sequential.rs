//! Building Sequential models: names, shapes, parameter counts, the summary, build errors.

use kiln::layers::{ActivationLayer, Dense, Dropout, Flatten, Reshape};
use kiln::prelude::*;

fn cpu() -> Device {
    Device::cpu().unwrap()
}

fn dense_mnist() -> Sequential {
    Sequential::new()
        .input([784])
        .add(Dense::new(512).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
}

#[test]
fn dense_summary_matches_keras() {
    let expected = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 512)            │       401,920 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         5,130 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 407,050 (1.55 MB)
 Trainable params: 407,050 (1.55 MB)
 Non-trainable params: 0 (0.00 B)
";
    let model = dense_mnist().build().unwrap();
    assert_eq!(model.summary().to_string(), expected);
    // the builder's summary (no weights) and the built model's agree
    assert_eq!(dense_mnist().summary().unwrap().to_string(), expected);
}

#[test]
fn built_weights_match_the_counted_params() {
    let model = dense_mnist().build().unwrap();
    let weights = model.get_weights();
    let names: Vec<&str> = weights.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "dense/kernel",
            "dense/bias",
            "dense_1/kernel",
            "dense_1/bias"
        ]
    );
    assert_eq!(weights[0].1.shape(), &[784, 512]);
    assert_eq!(weights[3].1.shape(), &[10]);
    let total: usize = weights.iter().map(|(_, w)| w.len()).sum();
    assert_eq!(total, model.summary().total_params);
    assert_eq!(total, burn::module::Module::num_params(model.network()));
    // Keras' default bias is zeros; Glorot's bound is sqrt(6 / (784 + 512))
    assert!(weights[1].1.iter().all(|v| *v == 0.0));
    let bound = (6.0f32 / (784.0 + 512.0)).sqrt();
    assert!(weights[0].1.iter().all(|v| v.abs() <= bound));
}

#[test]
fn shapes_and_counts_through_every_layer_kind() {
    let model = Sequential::new()
        .input([28, 28])
        .add(Reshape::new([-1, 14]))
        .add(Dense::new(8).activation(Gelu))
        .add(ActivationLayer::new(Tanh))
        .add(Dropout::new(0.2))
        .add(Flatten::new())
        .add(Dense::new(3).use_bias(false))
        .device(cpu())
        .build()
        .unwrap();
    let s = model.summary();
    let shapes: Vec<&str> = s.rows.iter().map(|r| r.output_shape.as_str()).collect();
    assert_eq!(
        shapes,
        [
            "(None, 56, 14)",
            "(None, 56, 8)",
            "(None, 56, 8)",
            "(None, 56, 8)",
            "(None, 448)",
            "(None, 3)"
        ]
    );
    let params: Vec<usize> = s.rows.iter().map(|r| r.params).collect();
    assert_eq!(params, [0, 14 * 8 + 8, 0, 0, 0, 448 * 3]);
    let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "reshape",
            "dense",
            "activation",
            "dropout",
            "flatten",
            "dense_1"
        ]
    );
    let x = ndarray::Array3::<f32>::ones((2, 28, 28));
    assert_eq!(model.predict(&x).unwrap().shape(), &[2, 3]);
}

#[test]
fn a_shape_error_names_the_layer_and_both_shapes() {
    let e = Sequential::new()
        .input([10])
        .add(Dense::new(4))
        .add(Reshape::new([3, 3]))
        .device(cpu())
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("`reshape`"), "{e}");
    assert!(e.contains("(None, 4)"), "{e}");
    assert!(e.contains('9'), "{e}");
}

#[test]
fn invalid_layer_settings_are_errors_at_build() {
    let e = Sequential::new()
        .input([4])
        .add(Dropout::new(1.5))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("dropout"), "{e}");
    let e = Sequential::new()
        .input([4])
        .add(Dense::new(0))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("units"), "{e}");
    let e = Sequential::new()
        .input([0])
        .add(Dense::new(2))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("(None, 0)"), "{e}");
}

#[test]
fn pop_and_layers_edit_the_stack() {
    let mut s = dense_mnist().add(Dense::new(3));
    assert_eq!(s.layers().len(), 3);
    s.pop();
    assert_eq!(s.summary().unwrap().total_params, 407_050);
}

#[test]
fn named_input_and_model() {
    let model = Sequential::new()
        .name("digits")
        .input(Input::new([784]).name("pixels"))
        .add(Dense::new(10))
        .device(cpu())
        .build()
        .unwrap();
    assert_eq!(model.name(), "digits");
    assert_eq!(model.graph().inputs()[0].name, "pixels");
    assert!(model.summary().to_string().starts_with("Model: \"digits\""));
}
