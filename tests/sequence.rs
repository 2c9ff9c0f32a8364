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
    let err = Sequential::new()
        .input([5, 3])
        .add(LSTM::new(4).return_state(true))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`lstm`") && err.contains("3 outputs") && err.contains("apply_all"),
        "{err}"
    );
    let x = Input::new([5, 3]);
    let err = GRU::new(4)
        .return_state(true)
        .apply(&x)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 outputs") && err.contains("apply_all"),
        "{err}"
    );
    let h = Input::new([4]);
    let err = LSTM::new(4).apply([&x, &h]).unwrap_err().to_string();
    assert!(
        err.contains("1 initial state") && err.contains("`c`"),
        "{err}"
    );
    let small = Input::new([2]);
    let err = GRU::new(4).apply([&x, &small]).unwrap_err().to_string();
    assert!(
        err.contains("initial state 0") && err.contains("(None, 2)"),
        "{err}"
    );
    let err = TimeDistributed::new(GRU::new(4).return_state(true))
        .apply(Input::new([2, 5, 3]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 outputs"), "{err}");
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

/// `return_state`: the final states are outputs of their own (an LSTM's `h` is its last
/// output, its `c` is not; masked steps leave them as they were), they start another layer
/// (its initial states), a saved model keeps those connections, and the summary lists every
/// output.
#[test]
fn final_states_are_outputs_and_start_other_layers() {
    kiln::set_random_seed(4);
    let ids = Input::new([6]);
    let e = Embedding::new(5, 3).mask_zero(true).apply(&ids).unwrap();
    let outs = LSTM::new(4)
        .return_sequences(true)
        .return_state(true)
        .apply_all(&e)
        .unwrap();
    let [seq, h, c] = <[SymbolicTensor; 3]>::try_from(outs).unwrap();
    let decoded = GRU::new(4).apply([&seq, &h]).unwrap();
    let mut model = Functional::new([&ids], [&seq, &h, &c, &decoded])
        .unwrap()
        .compile(Optimizer::adam(1e-2), Loss::MeanSquaredError, &[])
        .unwrap();
    let summary = model.summary().to_string();
    assert!(
        summary.contains("[(None, 6, 4), (None, 4), (None, 4)]") && summary.contains("lstm[0][1]"),
        "{summary}"
    );
    // the second sample ends in padding: its states stop at step 3
    let x = ndarray::array![
        [1.0, 2.0, 3.0, 4.0, 1.0, 2.0],
        [3.0, 1.0, 4.0, 0.0, 0.0, 0.0]
    ];
    let outs = model.predict_outputs(&x).unwrap();
    let (seq, h, c) = (&outs[0], &outs[1], &outs[2]);
    assert_eq!(
        (seq.shape(), h.shape(), c.shape(), outs[3].shape()),
        (&[2, 6, 4][..], &[2, 4][..], &[2, 4][..], &[2, 4][..])
    );
    for (sample, last) in [(0, 5), (1, 2)] {
        for j in 0..4 {
            assert!((seq[[sample, last, j]] - h[[sample, j]]).abs() < 1e-6);
        }
    }
    assert!(max_gap(&h.clone(), &c.clone()) > 1e-3, "c is not h");
    // the same weights with the GRU started from zeros: another output
    let ids_b = Input::new([6]);
    let e_b = Embedding::new(5, 3).mask_zero(true).apply(&ids_b).unwrap();
    let seq_b = LSTM::new(4).return_sequences(true).apply(&e_b).unwrap();
    let decoded_b = GRU::new(4).apply(&seq_b).unwrap();
    let mut zero_start = Functional::new([&ids_b], [&decoded_b])
        .unwrap()
        .build()
        .unwrap();
    zero_start.set_weights(&model.get_weights()).unwrap();
    let gap = max_gap(&zero_start.predict(&x).unwrap(), &outs[3]);
    assert!(gap > 1e-3, "the initial state changed nothing ({gap})");

    let path = std::env::temp_dir().join(format!("kiln-states-{}.safetensors", std::process::id()));
    model.save(&path).unwrap();
    let json = std::fs::read(&path).unwrap();
    assert!(
        String::from_utf8_lossy(&json).contains("node:1:1"),
        "the file names the state output"
    );
    let back = kiln::load_model(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    for (a, b) in back.predict_outputs(&x).unwrap().iter().zip(&outs) {
        assert!(max_gap(a, b) < 1e-6);
    }
    // training through the states (four outputs, one loss each)
    let targets: Vec<ArrayD<f32>> = outs.iter().map(|o| o.mapv(|v| 0.5 - v)).collect();
    let history = model
        .fit(
            &x,
            &targets,
            FitOptions::default().epochs(20).batch_size(2).verbose(0),
        )
        .unwrap();
    let losses = history.get("loss").unwrap();
    assert!(
        losses[19] < 0.5 * losses[0],
        "the loss fell from {} to {}",
        losses[0],
        losses[19]
    );
}

/// A tagger's loss and accuracy count only the unmasked steps, as Keras': the loss of a batch
/// is the mean over its unmasked steps (batches weighed by their samples, as Keras' loss
/// tracker), the accuracy the share of unmasked steps right over the whole set (Keras' metrics
/// weigh by the mask). Checked against the predictions, by hand.
#[test]
fn a_masked_sequence_output_is_scored_on_its_unmasked_steps() {
    kiln::set_random_seed(8);
    let mut model = Sequential::new()
        .input([5])
        .add(Embedding::new(4, 3).mask_zero(true))
        .add(LSTM::new(4).return_sequences(true))
        .add(Dense::new(3).activation(Softmax))
        .compile(
            Optimizer::adam(1e-2),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    // padding of every length, so that batches hold different numbers of unmasked steps
    let x = ndarray::array![
        [1.0, 2.0, 3.0, 1.0, 2.0],
        [3.0, 0.0, 0.0, 0.0, 0.0],
        [2.0, 2.0, 0.0, 0.0, 0.0],
        [1.0, 3.0, 3.0, 2.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ];
    let y = x.mapv(|v| (v as usize % 3) as f32);
    model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(3).batch_size(2).verbose(0),
        )
        .unwrap();
    let p = model.predict(&x).unwrap();
    let (mut loss, mut right, mut valid) = (0.0f64, 0.0f64, 0.0f64);
    for batch in [0..2, 2..4, 4..5] {
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        for i in batch.clone() {
            for t in 0..5 {
                if x[[i, t]] == 0.0 {
                    continue;
                }
                let class = y[[i, t]] as usize;
                sum -= f64::from(p[[i, t, class]]).ln();
                count += 1.0;
                let best = (0..3)
                    .max_by(|&a, &b| p[[i, t, a]].total_cmp(&p[[i, t, b]]))
                    .unwrap();
                right += f64::from(best == class);
            }
        }
        valid += count;
        // an all-masked batch scores 0 (Keras divides without NaN)
        let mean = if count > 0.0 { sum / count } else { 0.0 };
        loss += mean * batch.len() as f64 / 5.0;
    }
    let logs = model
        .evaluate_with(&x, &y, EvalOptions::default().batch_size(2).verbose(0))
        .unwrap();
    let (got_loss, got_accuracy) = (logs.get("loss").unwrap(), logs.get("accuracy").unwrap());
    assert!(
        (got_loss - loss).abs() < 1e-5,
        "loss {got_loss}, by hand {loss}"
    );
    let accuracy = right / valid;
    assert!(
        (got_accuracy - accuracy).abs() < 1e-6,
        "accuracy {got_accuracy}, by hand {accuracy} ({right} of {valid})"
    );
}
