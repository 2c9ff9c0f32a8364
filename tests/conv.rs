//! Convolutional layers: shapes and counts worked out by hand, forward passes on small
//! hand-computed examples, batch normalization's two modes, channels-last semantics.

mod common;

use common::uniform;
use kiln::layers::{
    AveragePooling2D, BatchNormalization, Conv1D, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
    GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D, Padding,
};
use kiln::prelude::*;
use ndarray::{Array, ArrayD, IxDyn};

fn cpu() -> Device {
    Device::cpu().unwrap()
}

/// The output shape and parameter count of `layer` on `input`, from the summary.
fn shape_and_params(input: &[usize], layer: impl Into<kiln::Layer>) -> (String, usize) {
    let s = Sequential::new()
        .input(input.to_vec())
        .add(layer)
        .summary()
        .unwrap();
    (s.rows[0].output_shape.clone(), s.rows[0].params)
}

#[test]
fn shapes_and_counts_by_hand() {
    let cases: Vec<(&[usize], kiln::Layer, &str, usize)> = vec![
        // 3x3 kernel, valid: 28 - 3 + 1 = 26; 3·3·1·8 + 8
        (
            &[28, 28, 1],
            Conv2D::new(8, 3).into(),
            "(None, 26, 26, 8)",
            80,
        ),
        // strides 2, same: ceil(7/2) = 4, ceil(9/2) = 5; 3·5·3·4 + 4
        (
            &[7, 9, 3],
            Conv2D::new(4, [3, 5])
                .strides(2)
                .padding(Padding::Same)
                .into(),
            "(None, 4, 5, 4)",
            184,
        ),
        // dilation 2 spans 5: 10 - 5 + 1 = 6; 3·3·2·6 + 6
        (
            &[10, 10, 2],
            Conv2D::new(6, 3).dilation_rate(2).into(),
            "(None, 6, 6, 6)",
            114,
        ),
        // odd sizes, stride 3: (11 - 2) / 3 + 1 = 4, (8 - 2) / 3 + 1 = 3; no bias: 2·2·1·5
        (
            &[11, 8, 1],
            Conv2D::new(5, 2).strides(3).use_bias(false).into(),
            "(None, 4, 3, 5)",
            20,
        ),
        (
            &[13, 13, 32],
            MaxPooling2D::new(2).into(),
            "(None, 6, 6, 32)",
            0,
        ),
        (
            &[7, 7, 4],
            MaxPooling2D::new(3)
                .strides(2)
                .padding(Padding::Same)
                .into(),
            "(None, 4, 4, 4)",
            0,
        ),
        (
            &[7, 7, 4],
            MaxPooling2D::new(3).strides(2).into(),
            "(None, 3, 3, 4)",
            0,
        ),
        (
            &[6, 7, 2],
            AveragePooling2D::new([2, 3]).into(),
            "(None, 3, 2, 2)",
            0,
        ),
        (
            &[5, 5, 64],
            GlobalAveragePooling2D::new().into(),
            "(None, 64)",
            0,
        ),
        (&[3, 4, 7], GlobalMaxPooling2D::new().into(), "(None, 7)", 0),
        // gamma, beta, moving mean, moving variance: 4 · 16
        (
            &[5, 5, 16],
            BatchNormalization::new().into(),
            "(None, 5, 5, 16)",
            64,
        ),
        (&[10], BatchNormalization::new().into(), "(None, 10)", 40),
        // 20 - 5 + 1 = 16; 5·3·8 + 8
        (&[20, 3], Conv1D::new(8, 5).into(), "(None, 16, 8)", 128),
        (
            &[20, 3],
            Conv1D::new(8, 5).strides(2).padding(Padding::Same).into(),
            "(None, 10, 8)",
            128,
        ),
        (&[16, 8], MaxPooling1D::new(2).into(), "(None, 8, 8)", 0),
        (
            &[15, 8],
            MaxPooling1D::new(3).strides(2).into(),
            "(None, 7, 8)",
            0,
        ),
    ];
    for (input, layer, shape, params) in cases {
        let what = format!("{layer:?} on {input:?}");
        assert_eq!(
            shape_and_params(input, layer),
            (shape.to_string(), params),
            "{what}"
        );
    }
}

#[test]
fn the_keras_convnet_summary() {
    // the example's model, as its file (tests/models.rs checks the two are the same)
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mnist_cnn.json");
    let s = kiln::io::ModelConfig::read(path)
        .unwrap()
        .build(Device::cpu().unwrap())
        .unwrap()
        .summary();
    let rows: Vec<(&str, &str, usize)> = s
        .rows
        .iter()
        .map(|r| (r.name.as_str(), r.output_shape.as_str(), r.params))
        .collect();
    assert_eq!(
        rows,
        [
            ("conv2d", "(None, 26, 26, 32)", 320),
            ("max_pooling2d", "(None, 13, 13, 32)", 0),
            ("conv2d_1", "(None, 11, 11, 64)", 18_496),
            ("max_pooling2d_1", "(None, 5, 5, 64)", 0),
            ("flatten", "(None, 1600)", 0),
            ("dropout", "(None, 1600)", 0),
            ("dense", "(None, 10)", 16_010),
        ]
    );
    assert_eq!(s.total_params, 34_826);
    assert!(s.to_string().contains(" Total params: 34,826 (136.04 KB)"));
}

#[test]
fn a_too_small_input_is_a_build_error_naming_the_layer() {
    let e = Sequential::new()
        .input([4, 4, 1])
        .add(Conv2D::new(8, 3))
        .add(Conv2D::new(8, 3))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv2d_1") && e.contains("(None, 2, 2, 8)"),
        "{e}"
    );
    let e = Sequential::new()
        .input([28, 28])
        .add(Conv2D::new(8, 3))
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv2d") && e.contains("channels"), "{e}");
    let e = Sequential::new()
        .input([1, 5, 2])
        .add(MaxPooling2D::new(2))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_pooling2d") && e.contains("(None, 1, 5, 2)"),
        "{e}"
    );
    let e = Sequential::new()
        .input([8, 8, 1])
        .add(Conv2D::new(0, 3))
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("filters"), "{e}");
}

fn array(shape: &[usize], values: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

fn one_layer(input: &[usize], layer: impl Into<kiln::Layer>) -> Model {
    Sequential::new()
        .input(input.to_vec())
        .add(layer)
        .device(cpu())
        .build()
        .unwrap()
}

#[test]
fn conv2d_forward_by_hand() {
    // x: one 3x3 image, channel 0 = 1..9, channel 1 = ones
    let mut xs = Vec::new();
    for v in 1..=9 {
        xs.extend([v as f32, 1.0]);
    }
    let x = array(&[1, 3, 3, 2], xs);
    let mut m = one_layer(&[3, 3, 2], Conv2D::new(1, 2));
    // Keras layout [kh, kw, in, out]: channel 0 taps [[1, 2], [3, 4]], channel 1 taps all 10
    let kernel = array(
        &[2, 2, 2, 1],
        vec![1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 4.0, 10.0],
    );
    m.set_weights(&[
        ("conv2d/kernel".into(), kernel),
        ("conv2d/bias".into(), array(&[1], vec![0.5])),
    ])
    .unwrap();
    // out[i][j] = x[i][j] + 2 x[i][j+1] + 3 x[i+1][j] + 4 x[i+1][j+1] + 40 + 0.5
    let y = m.predict(&x).unwrap();
    assert_eq!(y.shape(), &[1, 2, 2, 1]);
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![77.5, 87.5, 107.5, 117.5]
    );
    // get_weights gives back Keras' layout
    assert_eq!(
        m.get_weights()[0].1,
        array(
            &[2, 2, 2, 1],
            vec![1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 4.0, 10.0]
        )
    );
}

#[test]
fn conv2d_same_padding_by_hand() {
    let x = array(&[1, 3, 3, 1], (1..=9).map(|v| v as f32).collect());
    let mut m = one_layer(&[3, 3, 1], Conv2D::new(1, 2).padding(Padding::Same));
    m.set_weights(&[(
        "conv2d/kernel".into(),
        array(&[2, 2, 1, 1], vec![1.0, 2.0, 3.0, 4.0]),
    )])
    .unwrap();
    // TensorFlow pads the odd zero after: the last row and column see zeros below and right
    let y: Vec<f32> = m.predict(&x).unwrap().iter().copied().collect();
    assert_eq!(y, vec![37.0, 47.0, 21.0, 67.0, 77.0, 33.0, 23.0, 26.0, 9.0]);
}

#[test]
fn pooling_with_same_padding_ignores_the_padding() {
    let neg = array(&[1, 3, 3, 1], (1..=9).map(|v| -(v as f32)).collect());
    let max = one_layer(&[3, 3, 1], MaxPooling2D::new(2).padding(Padding::Same));
    assert_eq!(
        max.predict(&neg)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![-1.0, -3.0, -7.0, -9.0]
    );
    let pos = array(&[1, 3, 3, 1], (1..=9).map(|v| v as f32).collect());
    let avg = one_layer(&[3, 3, 1], AveragePooling2D::new(2).padding(Padding::Same));
    assert_eq!(
        avg.predict(&pos)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![3.0, 4.5, 7.5, 9.0]
    );
    let valid = one_layer(&[3, 3, 1], MaxPooling2D::new(2).strides(1));
    assert_eq!(
        valid
            .predict(&pos)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![5.0, 6.0, 8.0, 9.0]
    );
}

#[test]
fn global_poolings_reduce_each_channel() {
    // 2x2 image, channel c of pixel p = 10 p + c
    let x = array(
        &[1, 2, 2, 3],
        (0..4)
            .flat_map(|p| (0..3).map(move |c| (10 * p + c) as f32))
            .collect(),
    );
    let avg = one_layer(&[2, 2, 3], GlobalAveragePooling2D::new());
    assert_eq!(
        avg.predict(&x).unwrap().iter().copied().collect::<Vec<_>>(),
        vec![15.0, 16.0, 17.0]
    );
    let max = one_layer(&[2, 2, 3], GlobalMaxPooling2D::new());
    assert_eq!(
        max.predict(&x).unwrap().iter().copied().collect::<Vec<_>>(),
        vec![30.0, 31.0, 32.0]
    );
}

#[test]
fn conv1d_and_pooling1d_by_hand() {
    let x = array(&[1, 5, 1], vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    let mut m = Sequential::new()
        .input([5, 1])
        .add(Conv1D::new(1, 2).use_bias(false))
        .add(MaxPooling1D::new(2))
        .device(cpu())
        .build()
        .unwrap();
    m.set_weights(&[("conv1d/kernel".into(), array(&[2, 1, 1], vec![1.0, -1.0]))])
        .unwrap();
    // conv: x[i] - x[i+1] = [-1, -1, -1, -1]; pool 2: [-1, -1]
    let y = m.predict(&x).unwrap();
    assert_eq!(y.shape(), &[1, 2, 1]);
    assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![-1.0, -1.0]);
}

#[test]
fn flatten_after_a_convolution_keeps_keras_order() {
    // a 1x1 convolution with two filters: channel 0 = x, channel 1 = 10 x
    let x = array(&[1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]);
    let mut m = Sequential::new()
        .input([2, 2, 1])
        .add(Conv2D::new(2, 1).use_bias(false))
        .add(Flatten::new())
        .device(cpu())
        .build()
        .unwrap();
    m.set_weights(&[(
        "conv2d/kernel".into(),
        array(&[1, 1, 1, 2], vec![1.0, 10.0]),
    )])
    .unwrap();
    // (h, w, c) order: pixel by pixel, channels innermost
    let y: Vec<f32> = m.predict(&x).unwrap().iter().copied().collect();
    assert_eq!(y, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]);
}

#[test]
fn batch_normalization_trains_with_batch_statistics_and_infers_with_moving_ones() {
    let mut m = Sequential::new()
        .input([2])
        .add(BatchNormalization::new())
        .device(cpu())
        .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])
        .unwrap();
    let s = m.summary();
    assert_eq!((s.trainable_params, s.non_trainable_params), (4, 4));
    // feature 0: 1, 2, 3, 6 (mean 3, biased variance 3.5); feature 1: 10, 10, 10, 10 (mean 10, var 0)
    let x =
        Array::from_shape_vec((4, 2), vec![1.0f32, 10.0, 2.0, 10.0, 3.0, 10.0, 6.0, 10.0]).unwrap();
    let y = Array::<f32, _>::zeros((4, 2));
    let moving = |m: &Model| {
        let w = m.get_weights();
        let get = |n: &str| {
            w.iter()
                .find(|(k, _)| k == n)
                .unwrap()
                .1
                .iter()
                .copied()
                .collect::<Vec<f32>>()
        };
        (
            get("batch_normalization/moving_mean"),
            get("batch_normalization/moving_variance"),
        )
    };
    assert_eq!(moving(&m), (vec![0.0, 0.0], vec![1.0, 1.0]));

    // inference uses the moving statistics (0, 1): y = x / sqrt(1 + 1e-3)
    let before = m.test_on_batch(&x, &y).unwrap().get("loss").unwrap();
    let expected: f64 = [1.0, 100.0, 4.0, 100.0, 9.0, 100.0, 36.0, 100.0]
        .iter()
        .sum::<f64>()
        / 8.0
        / 1.001;
    assert!((before - expected).abs() < 1e-3, "{before} vs {expected}");
    m.predict(&x).unwrap();
    assert_eq!(
        moving(&m),
        (vec![0.0, 0.0], vec![1.0, 1.0]),
        "predict and evaluate leave them"
    );

    // training uses the batch's statistics: feature 0 normalized has mean square 3.5 / 3.501,
    // feature 1 is all zeros
    let during = m.train_on_batch(&x, &y).unwrap().get("loss").unwrap();
    let expected = (3.5 / 3.501) / 2.0;
    assert!((during - expected).abs() < 1e-5, "{during} vs {expected}");
    // moving = 0.99 moving + 0.01 batch
    let (mean, var) = moving(&m);
    for (got, want) in mean
        .iter()
        .zip([0.03f32, 0.1])
        .chain(var.iter().zip([0.99 + 0.035f32, 0.99]))
    {
        assert!(
            (got - want).abs() < 1e-6,
            "moving statistics {mean:?} {var:?}"
        );
    }
}

#[test]
fn a_small_cnn_with_batch_norm_learns() {
    // 8x8 images: class 1 has a bright vertical bar, class 0 a horizontal one
    let n = 64;
    let mut xs = Vec::with_capacity(n * 64);
    let mut ys = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 2;
        let at = 1 + (i / 2) % 6;
        for r in 0..8 {
            for c in 0..8 {
                let on = if class == 1 { c == at } else { r == at };
                xs.push(if on {
                    1.0f32
                } else {
                    0.1 * ((r * c + i) % 3) as f32
                });
            }
        }
        ys.push(class as u8);
    }
    let x = array(&[n, 8, 8, 1], xs);
    let y = ndarray::Array1::from(ys);
    let mut m = Sequential::new()
        .input([8, 8, 1])
        .add(Conv2D::new(4, 3).padding(Padding::Same))
        .add(BatchNormalization::new())
        .add(kiln::layers::ActivationLayer::new(Relu))
        .add(MaxPooling2D::new(2))
        .add(GlobalMaxPooling2D::new())
        .add(Dense::new(2).activation(Softmax))
        .device(cpu())
        .compile(
            Optimizer::adam(0.05),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let h = m
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(40)
                .batch_size(16)
                .verbose(0)
                .seed(2),
        )
        .unwrap();
    assert!(
        h.last("accuracy").unwrap() >= 0.95,
        "{:?}",
        h.get("accuracy")
    );
    let s = m
        .evaluate_with(&x, &y, EvalOptions::default().verbose(0))
        .unwrap();
    assert!(s.get("accuracy").unwrap() >= 0.9, "{s}");
}

#[test]
fn conv_gradients_match_finite_differences() {
    // gradients read from one SGD step (lr 1: w_after = w - grad) against central differences
    // of the loss, for every weight of a conv → batch norm → pool → dense model
    let x = array(
        &[2, 5, 5, 2],
        (0..100)
            .map(|i| ((i * 37) % 17) as f32 / 17.0 - 0.4)
            .collect(),
    );
    let y = ndarray::Array1::from(vec![2u8, 0]);
    let build = || {
        Sequential::new()
            .input([5, 5, 2])
            .add(Conv2D::new(3, 2).activation(Tanh))
            .add(BatchNormalization::new())
            .add(AveragePooling2D::new(2))
            .add(Flatten::new())
            .add(Dense::new(3).activation(Softmax))
            .device(cpu())
            .compile(
                Optimizer::sgd(1.0),
                Loss::SparseCategoricalCrossentropy,
                &[],
            )
            .unwrap()
    };
    let mut model = build();
    let start = model.get_weights();
    model.train_on_batch(&x, &y).unwrap();
    let after = model.get_weights();
    // the training-mode loss, with batch statistics, as a function of one weight
    let loss_at = |name: &str, index: usize, delta: f32| {
        let mut m = build();
        let mut w = start.clone();
        let slot = w.iter_mut().find(|(n, _)| n == name).unwrap();
        slot.1.as_slice_mut().unwrap()[index] += delta;
        m.set_weights(&w).unwrap();
        m.train_on_batch(&x, &y).unwrap().get("loss").unwrap()
    };
    let h = 1e-2f32;
    let mut checked = 0;
    for ((name, before), (_, later)) in start.iter().zip(&after) {
        if name.contains("moving") {
            continue;
        }
        let (b, a) = (before.as_slice().unwrap(), later.as_slice().unwrap());
        for index in (0..b.len()).step_by(5) {
            let grad = (b[index] - a[index]) as f64;
            let numeric = (loss_at(name, index, h) - loss_at(name, index, -h)) / (2.0 * h as f64);
            assert!(
                (grad - numeric).abs() < 2e-3 + 2e-2 * numeric.abs(),
                "{name}[{index}]: autodiff {grad} vs finite difference {numeric}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");
}

/// Max pooling of channels-last images `[n, h, w, c]` by `k × k` windows `k` apart, by hand.
fn max_pool_by_hand(x: &ArrayD<f32>, k: usize) -> ArrayD<f32> {
    let s = x.shape();
    let (n, oh, ow, c) = (s[0], s[1] / k, s[2] / k, s[3]);
    ArrayD::from_shape_fn(IxDyn(&[n, oh, ow, c]), |i| {
        let mut max = f32::NEG_INFINITY;
        for dy in 0..k {
            for dx in 0..k {
                max = max.max(x[[i[0], i[1] * k + dy, i[2] * k + dx, i[3]]]);
            }
        }
        max
    })
}

/// `predict` runs a Conv2D and the MaxPooling2D that alone reads it as one operation; its
/// output must be the pooling, by hand, of the convolution's own output (a model that also
/// returns the convolution runs them apart).
#[test]
fn a_convolution_pooled_in_one_pass_gives_the_pooling_of_its_output() {
    // thin patches (one channel) and im2col ones (3 channels); ReLU and linear; 9×9 outputs
    // pooled by 2 drop a row and a column; a batch of 1 runs apart, larger ones fused
    for (channels, activation, pool) in [(1, Relu, 2), (3, Activation::Linear, 2), (3, Relu, 3)] {
        let x = Input::new([11, 11, channels]);
        let conv = Conv2D::new(6, 3).activation(activation).name("conv");
        let c = conv.apply(&x).unwrap();
        let p = MaxPooling2D::new(pool).apply(&c).unwrap();
        let pooled = Functional::new([&x], [&p])
            .unwrap()
            .device(cpu())
            .build()
            .unwrap();
        let mut both = Functional::new([&x], [&p, &c])
            .unwrap()
            .device(cpu())
            .build()
            .unwrap();
        both.set_weights(&pooled.get_weights()).unwrap();
        for batch in [1, 2, 5] {
            let data = uniform(&[batch, 11, 11, channels], batch as u64);
            let got = pooled.predict(&data).unwrap();
            let apart = both.predict_outputs(&data).unwrap();
            let want = max_pool_by_hand(&apart[1], pool);
            assert_eq!(got.shape(), want.shape());
            assert_eq!(got, want, "{channels} channels, pool {pool}, batch {batch}");
            assert_eq!(apart[0], want);
        }
    }
}
