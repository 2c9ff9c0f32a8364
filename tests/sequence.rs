//! Sequence models end to end: text in, saved and reloaded with their vocabulary; bad token
//! ids and unsupported settings refused with errors naming the layer; recurrent models saved
//! and reloaded predicting the same; the layers learning what a recurrent model must learn.

use kiln::prelude::*;
use ndarray::{Array2, Array3, ArrayD};

#[allow(dead_code)]
mod common;

fn max_gap(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn texts() -> ([&'static str; 6], Array2<f32>) {
    (
        [
            "free money now",
            "win a free prize today",
            "cheap pills, free!",
            "lunch at noon?",
            "see you at the meeting",
            "notes from the meeting",
        ],
        ndarray::array![[1.0], [1.0], [1.0], [0.0], [0.0], [0.0]],
    )
}

#[test]
fn a_saved_text_model_takes_raw_strings() {
    let (texts, y) = texts();
    for device in common::devices() {
        kiln::set_random_seed(3);
        let mut tv = TextVectorization::new()
            .max_tokens(40)
            .output_sequence_length(5);
        tv.adapt(texts);
        let mut model = Sequential::new()
            .input([5])
            .add(tv)
            .add(Embedding::new(40, 8).mask_zero(true))
            .add(LSTM::new(6))
            .add(Dense::new(1).activation(Sigmoid))
            .device(device.clone())
            .compile(
                Optimizer::adam(3e-2),
                Loss::BinaryCrossentropy,
                &[Metric::Accuracy],
            )
            .unwrap();
        let x = model.vectorize_text(&texts).unwrap();
        let history = model
            .fit(
                &x,
                &y,
                FitOptions::default().epochs(40).batch_size(6).verbose(0),
            )
            .unwrap();
        assert_eq!(history.last("accuracy"), Some(1.0), "{device:?}");
        let path =
            std::env::temp_dir().join(format!("kiln-text-{}.safetensors", std::process::id()));
        model.save(&path).unwrap();
        let back = kiln::load_model_on(&path, device.clone()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let probe = ["free pills", "the meeting at noon", "words it never saw"];
        let gap = max_gap(
            &back.predict_text(&probe).unwrap(),
            &model.predict_text(&probe).unwrap(),
        );
        assert!(gap < 1e-6, "{device:?}: the reloaded model is {gap} away");
        let p = back.predict_text(&["free money"]).unwrap();
        assert!(p[[0, 0]] > 0.5, "{device:?}: spam scored {}", p[[0, 0]]);
    }
}

#[test]
fn token_ids_outside_the_vocabulary_are_errors() {
    let model = Sequential::new()
        .input([3])
        .add(Embedding::new(10, 4).name("words"))
        .add(GlobalAveragePooling1D::new())
        .build()
        .unwrap();
    for bad in [10.0, -1.0, 2.5] {
        let x = ndarray::array![[1.0f32, bad, 3.0]];
        let err = model.predict(&x).unwrap_err().to_string();
        assert!(err.contains("words") && err.contains("position 1"), "{err}");
    }
}

#[test]
fn unsupported_recurrent_settings_are_refused_at_build() {
    let mut lstm = LSTM::new(4);
    lstm.options.return_state = true;
    let err = Sequential::new()
        .input([5, 3])
        .add(lstm)
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("return_state"), "{err}");
    let err = Sequential::new()
        .input([5, 3])
        .add(GRU::new(4).dropout(1.5))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("dropout"), "{err}");
    let err = Sequential::new()
        .input([5, 3])
        .add(Bidirectional::new(Dense::new(3)))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("recurrent layer"), "{err}");
    let err = Sequential::new()
        .input([5])
        .add(LSTM::new(4))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("(None, time, features)"), "{err}");
}

/// The sum of a sequence of ±1 needs memory: each recurrent layer learns it, and the saved
/// model predicts the same after loading.
#[test]
fn recurrent_layers_learn_a_running_sum_and_reload() {
    let (n, time) = (256, 8);
    let mut rng = 12345u64;
    let mut next = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if (rng >> 33) & 1 == 1 { 1.0f32 } else { -1.0 }
    };
    let x = Array3::from_shape_simple_fn((n, time, 1), &mut next);
    let y = x.sum_axis(ndarray::Axis(1)).mapv(|s| s / time as f32);
    let layers: [(&str, kiln::Layer); 4] = [
        ("simple_rnn", SimpleRNN::new(8).into()),
        ("lstm", LSTM::new(8).into()),
        ("gru", GRU::new(8).into()),
        (
            "bidirectional",
            Bidirectional::new(GRU::new(8).reset_after(false)).into(),
        ),
    ];
    for (name, layer) in layers {
        kiln::set_random_seed(5);
        let mut model = Sequential::new()
            .input([time, 1])
            .add(layer)
            .add(Dense::new(1))
            .compile(Optimizer::adam(1e-2), Loss::MeanSquaredError, &[])
            .unwrap();
        let history = model
            .fit(
                &x,
                &y,
                FitOptions::default().epochs(60).batch_size(32).verbose(0),
            )
            .unwrap();
        let loss = history.last("loss").unwrap();
        // predicting 0 scores the variance of the mean, 1/8
        assert!(loss < 0.01, "{name}: loss {loss} after 60 epochs");
        let path =
            std::env::temp_dir().join(format!("kiln-{name}-{}.safetensors", std::process::id()));
        model.save(&path).unwrap();
        let back = kiln::load_model(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let gap = max_gap(&back.predict(&x).unwrap(), &model.predict(&x).unwrap());
        assert!(gap < 1e-6, "{name}: the reloaded model is {gap} away");
    }
}
