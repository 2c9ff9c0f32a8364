//! The Functional API: symbolic inputs, shared layers, merges, nested models, several inputs
//! and outputs, and the errors of construction.

mod common;

use common::uniform;
use kiln::graph::{Graph, InputSpec, Node, Source};
use kiln::prelude::*;
use kiln::training::PerOutput;
use kiln::{Layer, Shape};
use ndarray::{Array2, ArrayD, Axis, IxDyn};

fn cpu() -> Device {
    Device::cpu().unwrap()
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_functional_stack_computes_what_the_same_sequential_stack_computes() {
    let sequential = Sequential::new()
        .input([8, 8, 1])
        .add(Conv2D::new(4, 3).activation(Relu))
        .add(BatchNormalization::new())
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dense::new(5).activation(Softmax))
        .device(cpu())
        .build()
        .unwrap();
    let x = Input::new([8, 8, 1]);
    let h = Conv2D::new(4, 3).activation(Relu).apply(&x).unwrap();
    let h = BatchNormalization::new().apply(&h).unwrap();
    let h = MaxPooling2D::new(2).apply(&h).unwrap();
    let h = Flatten::new().apply(&h).unwrap();
    let y = Dense::new(5).activation(Softmax).apply(&h).unwrap();
    let mut functional = Functional::new([&x], [&y])
        .unwrap()
        .device(cpu())
        .build()
        .unwrap();
    // the same layer names, so the weights transfer by name
    functional.set_weights(&sequential.get_weights()).unwrap();
    let data = uniform(&[6, 8, 8, 1], 3);
    let a = sequential.predict(&data).unwrap();
    let b = functional.predict(&data).unwrap();
    assert_eq!(a.shape(), &[6, 5]);
    assert!(max_diff(&a, &b) == 0.0, "{}", max_diff(&a, &b));
    assert_eq!(
        sequential.summary().total_params,
        functional.summary().total_params
    );
}

/// A shared Dense applied to two inputs, summed: `d(a) + d(b)`.
fn siamese_sum() -> (Model, Input, Input) {
    let (a, b) = (Input::new([3]).name("a"), Input::new([3]).name("b"));
    let shared = Dense::new(2).name("shared").shared();
    let sum = Add::new()
        .apply([&shared.apply(&a).unwrap(), &shared.apply(&b).unwrap()])
        .unwrap();
    let model = Functional::new([&a, &b], [&sum])
        .unwrap()
        .device(cpu())
        .build()
        .unwrap();
    (model, a, b)
}

#[test]
fn a_shared_layer_is_counted_once_and_its_gradient_sums_both_uses() {
    let (mut model, _, _) = siamese_sum();
    assert_eq!(model.summary().total_params, 3 * 2 + 2);
    assert_eq!(model.get_weights().len(), 2);
    let (xa, xb) = (uniform(&[4, 3], 1), uniform(&[4, 3], 2));
    let y = uniform(&[4, 2], 3);
    let before = model.get_weights();
    let lr = 0.1;
    model
        .compile(Optimizer::sgd(lr), Loss::MeanSquaredError, &[])
        .unwrap();
    model.train_on_batch(&[&xa, &xb], &y).unwrap();
    let after = model.get_weights();
    let kiln_grad = |i: usize| (&before[i].1 - &after[i].1) / lr as f32;

    // the same graph written out by hand in Burn: mean((a·W + c + b·W + c - y)²)
    use burn::tensor::{Tensor, TensorData};
    let device = cpu().as_burn().clone().autodiff();
    let tensor2 = |a: &ArrayD<f32>| {
        let s = a.shape();
        Tensor::<2>::from_data(
            TensorData::new(a.iter().copied().collect::<Vec<_>>(), [s[0], s[1]]),
            &device,
        )
    };
    let w = tensor2(&before[0].1).require_grad();
    let c = Tensor::<1>::from_data(
        TensorData::new(before[1].1.iter().copied().collect::<Vec<_>>(), [2]),
        &device,
    )
    .require_grad();
    let dense = |x: Tensor<2>| x.matmul(w.clone()) + c.clone().unsqueeze::<2>();
    let out = dense(tensor2(&xa)) + dense(tensor2(&xb));
    let loss = (out - tensor2(&y)).powf_scalar(2.0).mean();
    let grads = loss.backward();
    let burn_w: Vec<f32> = w.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    let burn_c: Vec<f32> = c.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    let burn_w = ArrayD::from_shape_vec(IxDyn(&[3, 2]), burn_w).unwrap();
    let burn_c = ArrayD::from_shape_vec(IxDyn(&[2]), burn_c).unwrap();
    assert!(
        max_diff(&kiln_grad(0), &burn_w) < 1e-5,
        "{}",
        max_diff(&kiln_grad(0), &burn_w)
    );
    assert!(
        max_diff(&kiln_grad(1), &burn_c) < 1e-5,
        "{}",
        max_diff(&kiln_grad(1), &burn_c)
    );
    // one use alone would give a different gradient: both contributions are in it
    let pa = dense(tensor2(&xa));
    let single = (pa.clone() + pa - tensor2(&y)).powf_scalar(2.0).mean();
    let g = single.backward();
    let single_w: Vec<f32> = w.grad(&g).unwrap().into_data().try_to_vec().unwrap();
    let single_w = ArrayD::from_shape_vec(IxDyn(&[3, 2]), single_w).unwrap();
    assert!(max_diff(&single_w, &kiln_grad(0)) > 1e-3);
}

#[test]
fn merge_layers_compute_what_they_name() {
    let (a, b) = (Input::new([2, 3]), Input::new([2, 3]));
    type Op = fn(f32, f32) -> f32;
    let merges: Vec<(Layer, Op)> = vec![
        (Add::new().into(), |x, y| x + y),
        (Subtract::new().into(), |x, y| x - y),
        (Multiply::new().into(), |x, y| x * y),
        (Average::new().into(), |x, y| (x + y) / 2.0),
        (Maximum::new().into(), f32::max),
        (Minimum::new().into(), f32::min),
    ];
    let (xa, xb) = (uniform(&[5, 2, 3], 7), uniform(&[5, 2, 3], 8));
    for (layer, f) in merges {
        let name = layer.class_name();
        let out = layer.apply([&a, &b]).unwrap();
        let model = Functional::new([&a, &b], [&out])
            .unwrap()
            .device(cpu())
            .build()
            .unwrap();
        let got = model.predict(&[&xa, &xb]).unwrap();
        let want = ndarray::Zip::from(&xa)
            .and(&xb)
            .map_collect(|x, y| f(*x, *y));
        assert!(max_diff(&got, &want) < 1e-6, "{name}");
    }
    let joined = Concatenate::new().axis(1).apply([&a, &b]).unwrap();
    let model = Functional::new([&a, &b], [&joined])
        .unwrap()
        .device(cpu())
        .build()
        .unwrap();
    let got = model.predict(&[&xa, &xb]).unwrap();
    let want = ndarray::concatenate(Axis(1), &[xa.view(), xb.view()]).unwrap();
    assert_eq!(got.shape(), &[5, 4, 3]);
    assert!(max_diff(&got, &want) == 0.0);
}

#[test]
fn merges_of_channels_first_values_join_the_channels() {
    // both branches end in convolutions, so their values are channels-first inside the model
    let x = Input::new([6, 6, 2]);
    let a = Conv2D::new(3, 3).padding(Padding::Same).apply(&x).unwrap();
    let b = Conv2D::new(4, 1).apply(&x).unwrap();
    let joined = Concatenate::new().apply([&a, &b]).unwrap();
    let model = Functional::new([&x], [&joined, &a, &b])
        .unwrap()
        .device(cpu())
        .build()
        .unwrap();
    let data = uniform(&[2, 6, 6, 2], 4);
    let outs = model.predict_outputs(&data).unwrap();
    assert_eq!(outs[0].shape(), &[2, 6, 6, 7]);
    let want = ndarray::concatenate(Axis(3), &[outs[1].view(), outs[2].view()]).unwrap();
    assert!(max_diff(&outs[0], &want) == 0.0);
}

/// Two inputs (`numbers`, `extra`) and two outputs: a regression `score` and a 3-class
/// `class`. The targets depend on both inputs.
fn two_by_two() -> (Functional, Vec<ArrayD<f32>>, Vec<ArrayD<f32>>) {
    let numbers = Input::new([4]).name("numbers");
    let extra = Input::new([2]).name("extra");
    let h = Concatenate::new()
        .apply([
            &Dense::new(16).activation(Relu).apply(&numbers).unwrap(),
            &Dense::new(8).activation(Relu).apply(&extra).unwrap(),
        ])
        .unwrap();
    let h = Dense::new(16).activation(Relu).apply(&h).unwrap();
    let score = Dense::new(1).name("score").apply(&h).unwrap();
    let class = Dense::new(3)
        .activation(Softmax)
        .name("class")
        .apply(&h)
        .unwrap();
    let model = Functional::new([&numbers, &extra], [&score, &class])
        .unwrap()
        .device(cpu());
    let n = 512;
    let xa = uniform(&[n, 4], 11);
    let xb = uniform(&[n, 2], 12);
    let mut score_y = ArrayD::zeros(IxDyn(&[n, 1]));
    let mut class_y = ArrayD::zeros(IxDyn(&[n]));
    for i in 0..n {
        let s = xa[[i, 0]] + xa[[i, 1]] - xb[[i, 0]];
        score_y[[i, 0]] = s;
        class_y[[i]] = if s < -0.4 {
            0.0
        } else if s < 0.4 {
            1.0
        } else {
            2.0
        };
    }
    (model, vec![xa, xb], vec![score_y, class_y])
}

#[test]
fn a_two_input_two_output_model_trains_and_reports_each_output() {
    kiln::set_random_seed(5);
    let (model, x, y) = two_by_two();
    let mut model = model
        .compile(
            Optimizer::adam(0.01),
            [Loss::MeanSquaredError, Loss::SparseCategoricalCrossentropy],
            Metrics::named([("class", vec![Metric::Accuracy])]),
        )
        .unwrap();
    assert_eq!(model.input_names(), ["numbers", "extra"]);
    assert_eq!(model.output_names(), ["score", "class"]);
    let history = model
        .fit(
            &[&x[0], &x[1]],
            &[&y[0], &y[1]],
            FitOptions::default()
                .epochs(25)
                .batch_size(32)
                .verbose(0)
                .validation_split(0.25),
        )
        .unwrap();
    for name in [
        "loss",
        "score_loss",
        "class_loss",
        "class_accuracy",
        "val_loss",
        "val_score_loss",
        "val_class_accuracy",
    ] {
        assert!(history.get(name).is_some(), "{name} missing");
    }
    let first = history.get("loss").unwrap()[0];
    let last = *history.get("loss").unwrap().last().unwrap();
    assert!(last < first * 0.3, "loss {first} -> {last}");
    // inputs and targets by name, in any order, give the same scores as lists in order
    let quiet = || EvalOptions::default().verbose(0);
    let by_order = model
        .evaluate_with(&[&x[0], &x[1]], &[&y[0], &y[1]], quiet())
        .unwrap();
    let by_name = model
        .evaluate_with(
            &[("extra", &x[1]), ("numbers", &x[0])],
            &[("class", &y[1]), ("score", &y[0])],
            quiet(),
        )
        .unwrap();
    assert_eq!(by_order, by_name);
    // the total is the sum of the per-output losses (weights 1)
    let total = by_order.get("score_loss").unwrap() + by_order.get("class_loss").unwrap();
    assert!((by_order.get("loss").unwrap() - total).abs() < 1e-5);
    assert!(by_order.get("class_accuracy").unwrap() > 0.8, "{by_order}");
    assert!(by_order.get("score_accuracy").is_none());
    let outs = model.predict_outputs(&[&x[0], &x[1]]).unwrap();
    assert_eq!(outs[0].shape(), &[512, 1]);
    assert_eq!(outs[1].shape(), &[512, 3]);
    assert!(model.predict(&[&x[0], &x[1]]).is_err());
}

#[test]
fn loss_weights_scale_each_output_in_the_total() {
    kiln::set_random_seed(6);
    let (model, x, y) = two_by_two();
    let model = model
        .compile(
            Optimizer::sgd(0.01),
            Losses::named([
                ("score", Loss::MeanSquaredError),
                ("class", Loss::SparseCategoricalCrossentropy),
            ])
            .loss_weights(PerOutput::named([("class", 0.25)])),
            &[],
        )
        .unwrap();
    let logs = model
        .evaluate_with(&x, &y, EvalOptions::default().verbose(0))
        .unwrap();
    let want = logs.get("score_loss").unwrap() + 0.25 * logs.get("class_loss").unwrap();
    assert!((logs.get("loss").unwrap() - want).abs() < 1e-5, "{logs}");
    let saved = model.compile_config().unwrap();
    let json = serde_json::to_string(&saved).unwrap();
    assert!(json.contains("\"loss_weights\":{\"class\":0.25}"), "{json}");
}

#[test]
fn wrong_arrays_for_several_inputs_or_outputs_are_refused_by_name() {
    let (model, x, y) = two_by_two();
    let e = model
        .clone()
        .compile(Optimizer::adam(0.01), [Loss::MeanSquaredError], &[])
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("1 values are given for 2 outputs (`score`, `class`)"),
        "{e}"
    );
    let mut m = model
        .compile(
            Optimizer::adam(0.01),
            [Loss::MeanSquaredError, Loss::SparseCategoricalCrossentropy],
            &[],
        )
        .unwrap();
    let e = m.fit(&x[0], &y, FitOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("2 inputs (`numbers`, `extra`)"),
        "{e}"
    );
    let e = m
        .fit(
            &[("numbers", &x[0]), ("nope", &x[1])],
            &y,
            FitOptions::default(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("`nope`"), "{e}");
    let e = m
        .fit(&[&x[1], &x[0]], &y, FitOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("input `numbers`"), "{e}");
    let e = m
        .fit(&x, &[&y[1], &y[0]], FitOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("output `class`"), "{e}");
}

#[test]
fn a_built_model_works_as_a_layer_and_keeps_its_weights() {
    let encoder = Sequential::new()
        .name("encoder")
        .input([6])
        .add(Dense::new(4).activation(Tanh))
        .add(Dense::new(3))
        .device(cpu())
        .build()
        .unwrap();
    let x = Input::new([6]);
    let z = encoder.apply(&x).unwrap();
    let y = Dense::new(2).name("head").apply(&z).unwrap();
    let model = Functional::new([&x], [&y])
        .unwrap()
        .device(cpu())
        .build()
        .unwrap();
    // a chain, so summarized like a Sequential model: no input rows
    let summary = model.summary();
    assert_eq!(summary.rows[0].name, "encoder");
    assert_eq!(summary.rows[0].class_name, "Sequential");
    assert_eq!(summary.rows[0].params, 6 * 4 + 4 + 4 * 3 + 3);
    let names: Vec<String> = model.get_weights().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "encoder/dense/kernel",
            "encoder/dense/bias",
            "encoder/dense_1/kernel",
            "encoder/dense_1/bias",
            "head/kernel",
            "head/bias"
        ]
    );
    // the nested layer starts from the encoder's weights: the outer model's output is the head
    // applied to the encoder's prediction
    let data = uniform(&[5, 6], 9);
    let code = encoder.predict(&data).unwrap();
    let head = model.get_layer("head").unwrap().weights();
    let kernel = head[0]
        .1
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let code2 = code.view().into_dimensionality::<ndarray::Ix2>().unwrap();
    let bias = head[1]
        .1
        .view()
        .into_dimensionality::<ndarray::Ix1>()
        .unwrap();
    let want = code2.dot(&kernel) + bias;
    let got = model.predict(&data).unwrap();
    assert!(max_diff(&got, &want.into_dyn()) < 1e-5);

    // saved and loaded, the nested graph and its weights come back
    let dir = std::env::temp_dir().join(format!("kiln-functional-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nested.safetensors");
    model.save(&path).unwrap();
    let back = kiln::load_model_on(&path, cpu()).unwrap();
    assert_eq!(back.graph(), model.graph());
    assert!(max_diff(&back.predict(&data).unwrap(), &got) == 0.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_applied_twice_shares_its_weights() {
    let tower = Sequential::new()
        .name("tower")
        .input([3])
        .add(Dense::new(2))
        .device(cpu())
        .build()
        .unwrap();
    let (a, b) = (Input::new([3]), Input::new([3]));
    let d = Subtract::new()
        .apply([&tower.apply(&a).unwrap(), &tower.apply(&b).unwrap()])
        .unwrap();
    let model = Model::new([&a, &b], [&d]).unwrap();
    assert_eq!(model.summary().total_params, 8);
    let x = uniform(&[4, 3], 1);
    let out = model.predict(&[&x, &x]).unwrap();
    assert!(out.iter().all(|v| v.abs() < 1e-6));
}

#[test]
fn the_summary_shows_what_each_layer_reads() {
    let (model, _, _) = siamese_sum();
    let s = model.summary();
    assert!(s.connected);
    assert_eq!(s.rows[0].class_name, "InputLayer");
    let shared = s.rows.iter().find(|r| r.name == "shared").unwrap();
    assert_eq!(shared.connected_to, ["a[0][0]", "b[0][0]"]);
    let add = s.rows.iter().find(|r| r.name == "add").unwrap();
    assert_eq!(add.connected_to, ["shared[0][0]", "shared[1][0]"]);
    let text = s.to_string();
    assert!(text.contains("Connected to"), "{text}");
    assert!(text.contains("shared[0][0], shared[1][0]"), "{text}");
    assert!(text.contains("│ a (InputLayer)"), "{text}");
    // a Sequential model keeps Keras' three columns
    let seq = Sequential::new()
        .input([3])
        .add(Dense::new(2))
        .summary()
        .unwrap();
    assert!(!seq.to_string().contains("Connected to"));
}

#[test]
fn get_layer_gives_the_configuration_shape_and_weights() {
    let (model, _, _) = siamese_sum();
    let layer = model.get_layer("shared").unwrap();
    assert_eq!(layer.output_shape(), &Shape::new([2]));
    assert_eq!(layer.params().total(), 8);
    assert!(
        layer
            .config()
            .downcast_ref::<Dense>()
            .is_some_and(|d| d.units == 2)
    );
    let e = model.get_layer("dense").unwrap_err().to_string();
    assert!(e.contains("`dense`") && e.contains("shared"), "{e}");
}

#[test]
fn a_functional_graph_round_trips_through_json() {
    let (model, _, _) = siamese_sum();
    let json = model.to_json();
    assert!(json.contains("\"Add\""), "{json}");
    let back = Model::from_json(&json).unwrap();
    assert_eq!(back.graph(), model.graph());
    assert_eq!(back.to_json(), json);
}

// ---- construction errors, each naming the layer ----

#[test]
fn an_output_not_connected_to_the_inputs_is_refused() {
    let (a, b) = (Input::new([3]).name("a"), Input::new([3]).name("b"));
    let y = Dense::new(2).name("from_b").apply(&b).unwrap();
    let e = Functional::new([&a], [&y]).unwrap_err().to_string();
    assert!(e.contains("`from_b`") && e.contains("input `b`"), "{e}");
}

#[test]
fn a_merge_of_incompatible_shapes_is_refused() {
    let (a, b) = (Input::new([3]), Input::new([4]));
    let e = Add::new()
        .name("sum")
        .apply([&a, &b])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`sum`") && e.contains("(None, 3), (None, 4)"),
        "{e}"
    );
    let e = Concatenate::new()
        .name("join")
        .apply([&Input::new([2, 3]), &Input::new([3, 3])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`join`"), "{e}");
    let e = Dense::new(2)
        .name("d")
        .apply([&a, &b])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`d`") && e.contains("one input"), "{e}");
}

#[test]
fn a_shared_layer_given_another_shape_is_refused() {
    let (a, b) = (Input::new([3]), Input::new([4]));
    let shared = Dense::new(2).name("twice").shared();
    let (ya, yb) = (shared.apply(&a).unwrap(), shared.apply(&b).unwrap());
    let e = Functional::new([&a, &b], [&ya, &yb])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`twice`") && e.contains("(None, 3)") && e.contains("(None, 4)"),
        "{e}"
    );
}

#[test]
fn a_cycle_is_refused() {
    let layers: Vec<Layer> = vec![
        Dense::new(3).name("first").into(),
        Add::new().name("loop").into(),
    ];
    let nodes = vec![
        Node {
            layer: 0,
            inputs: vec![Source::Node(1, 0)],
        },
        Node {
            layer: 1,
            inputs: vec![Source::Input(0), Source::Node(0, 0)],
        },
    ];
    let inputs = vec![InputSpec {
        name: "x".into(),
        shape: Shape::new([3]),
    }];
    let e = Graph::new(inputs, layers, nodes, vec![Source::Node(1, 0)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cycle") && e.contains("`first`") && e.contains("`loop`"),
        "{e}"
    );
}

#[test]
fn an_input_used_twice_under_one_name_is_refused() {
    let (a, b) = (Input::new([3]).name("x"), Input::new([3]).name("x"));
    let y = Add::new().apply([&a, &b]).unwrap();
    let e = Functional::new([&a, &b], [&y]).unwrap_err().to_string();
    assert!(
        e.contains("input `x`") && e.contains("share this name"),
        "{e}"
    );
    let c = Input::new([3]).name("c");
    let y = Dense::new(1).apply(&c).unwrap();
    let e = Functional::new([&c, &c], [&y]).unwrap_err().to_string();
    assert!(e.contains("input `c`") && e.contains("listed twice"), "{e}");
    // unnamed inputs are named like Keras, in order
    let (p, q) = (Input::new([3]), Input::new([3]));
    let y = Add::new().apply([&p, &q]).unwrap();
    let model = Functional::new([&p, &q], [&y]).unwrap();
    let names: Vec<&str> = model
        .graph()
        .inputs()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["input_layer", "input_layer_1"]);
}

#[test]
fn one_output_models_take_plain_arrays_as_before() {
    let x = Input::new([2]);
    let y = Dense::new(1).apply(&x).unwrap();
    let mut model = Functional::new([&x], [&y])
        .unwrap()
        .device(cpu())
        .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[Metric::Mae])
        .unwrap();
    let data = Array2::<f32>::ones((8, 2));
    let target = Array2::<f32>::ones((8, 1));
    let logs = model
        .fit(&data, &target, FitOptions::default().verbose(0).epochs(2))
        .unwrap();
    assert!(logs.get("mae").is_some());
}

#[test]
fn a_two_input_functional_model_nests_inside_another() {
    let (p, q) = (Input::new([3]), Input::new([3]));
    let diff = Subtract::new().apply([&p, &q]).unwrap();
    let inner = Functional::new([&p, &q], [&diff])
        .unwrap()
        .name("difference")
        .device(cpu())
        .build()
        .unwrap();
    let (a, b) = (Input::new([3]), Input::new([3]));
    let d = inner.apply([&a, &b]).unwrap();
    let doubled = Add::new().apply([&d, &d]).unwrap();
    let outer = Functional::new([&a, &b], [&doubled])
        .unwrap()
        .device(cpu())
        .build()
        .unwrap();
    let row = outer
        .summary()
        .rows
        .into_iter()
        .find(|r| r.name == "difference")
        .unwrap();
    assert_eq!(row.class_name, "Functional");
    assert_eq!(
        row.connected_to,
        ["input_layer[0][0]", "input_layer_1[0][0]"]
    );
    let (xa, xb) = (uniform(&[4, 3], 1), uniform(&[4, 3], 2));
    let got = outer.predict(&[&xa, &xb]).unwrap();
    let want = (&xa - &xb) * 2.0;
    assert!(max_diff(&got, &want) < 1e-6);
    assert!(inner.apply(&a).is_err(), "one input for a two-input model");
}
