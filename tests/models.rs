//! `models/*.json` are the examples' models as files: each equals, to the byte, what
//! `to_json` writes for the model the example builds in Rust, and builds into that model.
//!
//! After changing an example's model, `KILN_WRITE_MODELS=1 cargo test --release --test models`
//! rewrites the files.

#[path = "../examples/common/architectures.rs"]
#[allow(dead_code)] // two_halves has no model file; tests/plot.rs draws it
mod architectures;

use kiln::io::ModelConfig;
use kiln::{Device, Model};
use std::path::PathBuf;

fn check(file: &str, build: fn(Device) -> kiln::Result<Model>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    let model = build(Device::cpu().unwrap()).unwrap();
    let json = model.to_json() + "\n";
    if std::env::var("KILN_WRITE_MODELS").is_ok() {
        std::fs::write(&path, &json).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert_eq!(on_disk, json, "{file} differs from the example's model");
    let from_file = ModelConfig::read(&path)
        .unwrap()
        .build(Device::cpu().unwrap())
        .unwrap();
    assert_eq!(from_file.config(), model.config());
    assert_eq!(from_file.summary().to_string(), model.summary().to_string());
}

#[test]
fn mnist_dense_json_is_the_example_model() {
    check("mnist_dense.json", architectures::mnist_dense);
}

#[test]
fn mnist_cnn_json_is_the_example_model() {
    check("mnist_cnn.json", architectures::mnist_cnn);
}

#[test]
fn the_cnn_file_gives_keras_summary() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/mnist_cnn.json");
    let summary = ModelConfig::read(path)
        .unwrap()
        .build(Device::cpu().unwrap())
        .unwrap()
        .summary();
    assert_eq!(summary.total_params, 34_826);
}

#[test]
fn mnist_resnet_json_is_the_example_model() {
    check("mnist_resnet.json", architectures::mnist_resnet);
}

#[test]
fn the_sequence_model_files_are_the_example_models() {
    check("spam_bilstm.json", architectures::spam_bilstm);
    check("spam_conv.json", architectures::spam_conv);
    check("weather_lstm.json", architectures::weather_lstm);
    check(
        "weather_lstm_normalized.json",
        architectures::weather_lstm_normalized,
    );
}

/// Keras' summaries of the three models (Keras 3.15, same layers): the BiLSTM 1,304,897
/// parameters, the convolutional model 2,806,273, the weather LSTM 4,769.
#[test]
fn the_sequence_models_have_keras_parameter_counts() {
    let count = |build: fn(Device) -> kiln::Result<Model>| {
        build(Device::cpu().unwrap())
            .unwrap()
            .summary()
            .total_params
    };
    assert_eq!(count(architectures::spam_bilstm), 1_304_897);
    assert_eq!(count(architectures::spam_conv), 2_806_273);
    assert_eq!(count(architectures::weather_lstm), 4_769);
}

#[test]
fn every_model_file_round_trips_byte_identical() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = ModelConfig::read(&path).unwrap().to_json() + "\n";
            assert_eq!(json, text, "{}", path.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 7);
}
