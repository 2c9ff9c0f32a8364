//! Saving and loading: round trips, bad files, atomic writes.

mod common;

use kiln::graph::{Graph, InputSpec, Node, Source};
use kiln::io::ModelConfig;
use kiln::prelude::*;
use kiln::{Error, Layer, Shape, WeightLayout, load_model_on};
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-saving-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn cpu() -> Device {
    Device::cpu().unwrap()
}

fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    common::uniform(shape, seed).mapv(|v| v * 0.5)
}

fn bits(a: &ArrayD<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn small_dense() -> Model {
    Sequential::new()
        .input([4])
        .add(Dense::new(3).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(cpu())
        .compile(
            Optimizer::adam(1e-2),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

fn cnn_with_batch_norm() -> Model {
    Sequential::new()
        .input([8, 8, 2])
        .add(Conv2D::new(4, 3).padding(Padding::Same))
        .add(BatchNormalization::new().momentum(0.5))
        .add(ActivationLayer::new(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.3))
        .add(Dense::new(3).activation(Softmax))
        .device(cpu())
        .compile(
            Optimizer::rmsprop(1e-2),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap()
}

/// A graph that applies one Dense layer twice: two nodes, one set of weights.
fn shared_layer_graph() -> Model {
    let layers: Vec<Layer> = vec![
        Dense::new(4).activation(Tanh).into(),
        Dense::new(2).name("head").into(),
    ];
    let nodes = vec![
        Node {
            layer: 0,
            inputs: vec![Source::Input(0)],
        },
        Node {
            layer: 0,
            inputs: vec![Source::Node(0, 0)],
        },
        Node {
            layer: 1,
            inputs: vec![Source::Node(1, 0)],
        },
    ];
    let input = InputSpec {
        name: "x".into(),
        shape: Shape::new([4]),
    };
    let graph = Graph::new(vec![input], layers, nodes, vec![Source::Node(2, 0)]).unwrap();
    Model::build("shared", Arc::new(graph), cpu()).unwrap()
}

#[test]
fn whole_model_round_trips_give_bitwise_identical_predictions() {
    kiln::set_random_seed(3);
    let mut dense = small_dense();
    let (x, y) = (
        random(&[16, 4], 1),
        kiln::to_categorical(&[0u8, 1].repeat(8), 2).unwrap(),
    );
    dense
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(2).batch_size(4).verbose(0),
        )
        .unwrap();
    let mut cnn = cnn_with_batch_norm();
    let xc = random(&[12, 8, 8, 2], 2);
    let yc =
        ArrayD::from_shape_vec(IxDyn(&[12]), (0..12).map(|i| (i % 3) as f32).collect()).unwrap();
    cnn.fit(
        &xc,
        &yc,
        FitOptions::default().epochs(2).batch_size(4).verbose(0),
    )
    .unwrap();
    let graph = shared_layer_graph();
    for (name, model, input) in [
        ("dense", &dense, &x),
        ("cnn", &cnn, &xc),
        ("graph", &graph, &x),
    ] {
        let path = temp(&format!("{name}.safetensors"));
        model.save(&path).unwrap();
        let back = load_model_on(&path, cpu()).unwrap();
        assert_eq!(back.to_json(), model.to_json(), "{name}");
        assert_eq!(back.name(), model.name());
        assert_eq!(
            bits(&back.predict(input).unwrap()),
            bits(&model.predict(input).unwrap()),
            "{name}"
        );
        for ((n1, w1), (n2, w2)) in back.get_weights().iter().zip(model.get_weights()) {
            assert_eq!((n1, bits(w1)), (&n2, bits(&w2)));
        }
    }
    // the batch-norm statistics moved during fit, and came back
    let stats = cnn.get_weights();
    let mean = &stats
        .iter()
        .find(|(n, _)| n == "batch_normalization/moving_mean")
        .unwrap()
        .1;
    assert!(mean.iter().any(|v| *v != 0.0));
}

#[test]
fn a_shared_layer_is_saved_once() {
    let path = temp("shared-weights.safetensors");
    shared_layer_graph().save_weights(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        ["dense/bias", "dense/kernel", "head/bias", "head/kernel"]
    );
}

#[test]
fn weights_load_into_a_freshly_built_model() {
    let trained = cnn_with_batch_norm();
    let path = temp("weights.safetensors");
    trained.save_weights(&path).unwrap();
    let mut fresh = cnn_with_batch_norm();
    assert_ne!(
        bits(&fresh.get_weights()[0].1),
        bits(&trained.get_weights()[0].1)
    );
    fresh.load_weights(&path).unwrap();
    let x = random(&[3, 8, 8, 2], 9);
    assert_eq!(
        bits(&fresh.predict(&x).unwrap()),
        bits(&trained.predict(&x).unwrap())
    );
}

#[test]
fn the_file_holds_keras_names_layouts_and_f32() {
    let path = temp("layout.safetensors");
    cnn_with_batch_norm().save_weights(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let shape = |n: &str| file.tensor(n).unwrap().shape().to_vec();
    assert_eq!(shape("conv2d/kernel"), [3, 3, 2, 4]);
    assert_eq!(shape("conv2d/bias"), [4]);
    assert_eq!(shape("dense/kernel"), [64, 3]);
    for n in ["gamma", "beta", "moving_mean", "moving_variance"] {
        assert_eq!(shape(&format!("batch_normalization/{n}")), [4]);
    }
    assert!(file.iter().all(|(_, t)| t.dtype() == Dtype::F32));
}

#[test]
fn torch_layout_names_modules_by_position_and_transposes() {
    let model = cnn_with_batch_norm();
    let path = temp("torch.safetensors");
    model.save_weights_as(&path, WeightLayout::Torch).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    // Conv2d 0, BatchNorm2d 1, ReLU 2, MaxPool2d 3, Flatten 4, Dropout 5, Linear 6, Softmax 7
    assert_eq!(
        names,
        [
            "0.bias",
            "0.weight",
            "1.bias",
            "1.num_batches_tracked",
            "1.running_mean",
            "1.running_var",
            "1.weight",
            "6.bias",
            "6.weight"
        ]
    );
    assert_eq!(file.tensor("0.weight").unwrap().shape(), [4, 2, 3, 3]);
    assert_eq!(file.tensor("6.weight").unwrap().shape(), [3, 64]);
    assert_eq!(
        file.tensor("1.num_batches_tracked").unwrap().dtype(),
        Dtype::I64
    );
    // kiln loads only its own layout
    let e = cnn_with_batch_norm()
        .load_weights(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("torch layout"), "{e}");
    let e = shared_layer_graph().save_weights_as(temp("g.safetensors"), WeightLayout::Torch);
    assert!(e.unwrap_err().to_string().contains("Sequential"));
}

#[test]
fn a_model_trained_on_one_cpu_backend_loads_on_the_other() {
    kiln::set_random_seed(5);
    let mut model = cnn_with_batch_norm();
    let x = random(&[6, 8, 8, 2], 4);
    let y = ArrayD::from_shape_vec(IxDyn(&[6]), vec![0., 1., 2., 0., 1., 2.]).unwrap();
    model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(1).batch_size(3).verbose(0),
        )
        .unwrap();
    let path = temp("cross.safetensors");
    model.save(&path).unwrap();
    let other = load_model_on(&path, Device::cpu_ndarray().unwrap()).unwrap();
    let (a, b) = (model.predict(&x).unwrap(), other.predict(&x).unwrap());
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "flex and ndarray differ by {diff}");
}

#[test]
fn json_round_trip_is_exact_and_builds_the_same_model() {
    for model in [small_dense(), cnn_with_batch_norm(), shared_layer_graph()] {
        let json = model.to_json();
        let back = ModelConfig::from_json(&json).unwrap().build(cpu()).unwrap();
        assert_eq!(back.to_json(), json);
        assert_eq!(back.summary().to_string(), model.summary().to_string());
        assert_eq!(back.compile_config(), model.compile_config());
    }
}

// ---- bad files -----------------------------------------------------------------------------

fn load_error(path: &Path) -> String {
    let e = load_model_on(path, cpu()).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. } | Error::Io { .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "the error names the file: {text}"
    );
    text
}

/// A tensor taken apart: name, dtype, shape, bytes.
type Raw = (String, Dtype, Vec<usize>, Vec<u8>);

/// The tensors and metadata of a saved file, to tamper with: without kiln's digest of the
/// tensors, as another tool would write them.
fn parts(path: &Path) -> (Vec<Raw>, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = file
        .iter()
        .map(|(n, t)| {
            (
                n.to_string(),
                t.dtype(),
                t.shape().to_vec(),
                t.data().to_vec(),
            )
        })
        .collect();
    let mut meta = meta.metadata().clone().unwrap();
    meta.remove("kiln.sha256");
    (tensors, meta)
}

fn write_parts(path: &Path, tensors: &[Raw], meta: HashMap<String, String>) {
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, Some(meta), path).unwrap();
}

fn saved(name: &str) -> PathBuf {
    let path = temp(name);
    small_dense().save(&path).unwrap();
    path
}

#[test]
fn truncated_garbage_and_lying_files_are_errors() {
    let path = saved("truncated.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert!(load_error(&path).contains("truncated"));
    std::fs::write(&path, &bytes[..5]).unwrap();
    load_error(&path);

    let path = temp("garbage.safetensors");
    std::fs::write(
        &path,
        b"\x00\x10\x00\x00\x00\x00\x00\x00{not json at all, just garbage",
    )
    .unwrap();
    load_error(&path);
    std::fs::write(&path, vec![0xffu8; 64]).unwrap();
    load_error(&path);

    // a header whose shape promises more bytes than its offsets hold
    let path = saved("lying.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["dense/kernel"]["shape"] = serde_json::json!([4, 30]);
    let header = serde_json::to_vec(&header).unwrap();
    let mut lying = (header.len() as u64).to_le_bytes().to_vec();
    lying.extend(&header);
    lying.extend(&bytes[8 + n..]);
    std::fs::write(&path, lying).unwrap();
    load_error(&path);

    let e = load_model_on(temp("absent.safetensors"), cpu()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

#[test]
fn missing_misshapen_and_mistyped_tensors_are_each_reported() {
    let path = saved("tampered.safetensors");
    let (mut tensors, meta) = parts(&path);
    tensors.retain(|t| t.0 != "dense/bias");
    for t in tensors.iter_mut() {
        if t.0 == "dense/kernel" {
            *t = (t.0.clone(), Dtype::F32, vec![4, 2], vec![0; 32]);
        }
        if t.0 == "dense_1/bias" {
            *t = (t.0.clone(), Dtype::F64, vec![2], vec![0; 16]);
        }
    }
    write_parts(&path, &tensors, meta);
    let e = load_error(&path);
    for part in [
        "3 problems",
        "`dense/bias` is missing",
        "`dense/kernel` has shape [4, 2] in the file but [4, 3]",
        "`dense_1/bias` is F64",
    ] {
        assert!(e.contains(part), "{part} not in: {e}");
    }
}

#[test]
fn damaged_tensor_bytes_are_caught_by_the_digest() {
    // every tensor byte flipped (the loss was 9.4e9, without a word), then a single bit
    let path = saved("flipped.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut all = bytes.clone();
    for b in &mut all[8 + n..] {
        *b = !*b;
    }
    std::fs::write(&path, &all).unwrap();
    let e = load_error(&path);
    assert!(e.contains("SHA-256") && e.contains("damaged"), "{e}");
    let mut one = bytes.clone();
    *one.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &one).unwrap();
    assert!(load_error(&path).contains("digest"));
    let e = small_dense().load_weights(&path).unwrap_err().to_string();
    assert!(
        e.contains("digest") && e.contains("flipped.safetensors"),
        "{e}"
    );

    // the same tensors written by another tool, without the digest, load
    let original = small_dense();
    let path = temp("no-digest.safetensors");
    original.save(&path).unwrap();
    let (tensors, meta) = parts(&path);
    write_parts(&path, &tensors, meta);
    let model = load_model_on(&path, cpu()).unwrap();
    assert_eq!(model.get_weights(), original.get_weights());
}

#[test]
fn an_architecture_claiming_huge_sizes_is_refused_before_allocating() {
    let path = saved("huge.safetensors");
    let (tensors, mut meta) = parts(&path);
    let original = meta["kiln.model"].clone();
    for units in ["1000000000000", "4611686018427387904"] {
        let json = original.replacen("\"units\": 3", &format!("\"units\": {units}"), 1);
        assert_ne!(json, original);
        meta.insert("kiln.model".into(), json.clone());
        write_parts(&path, &tensors, meta.clone());
        let e = load_error(&path);
        assert!(
            e.contains("architecture has") && e.contains("do not belong together"),
            "{e}"
        );

        // the architecture alone: more than the machine's memory
        let e = Model::from_json(&json).unwrap_err().to_string();
        assert!(
            e.contains("layer `dense` (Dense)") && e.contains("machine's memory"),
            "{e}"
        );
    }
}

#[test]
fn unknown_layers_and_newer_versions_in_the_metadata_are_errors() {
    let path = saved("unknown.safetensors");
    let (tensors, mut meta) = parts(&path);
    let json = meta["kiln.model"].replace("\"Dense\"", "\"Teleport\"");
    meta.insert("kiln.model".into(), json);
    write_parts(&path, &tensors, meta.clone());
    assert!(load_error(&path).contains("Teleport"));

    let json = small_dense()
        .to_json()
        .replace("\"format_version\": 1", "\"format_version\": 2");
    meta.insert("kiln.model".into(), json);
    write_parts(&path, &tensors, meta);
    let e = load_error(&path);
    assert!(e.contains("version 2") && e.contains("upgrade"), "{e}");

    let path = temp("weights-only.safetensors");
    small_dense().save_weights(&path).unwrap();
    assert!(load_error(&path).contains("load_weights"));
}

#[test]
fn a_failed_load_leaves_the_model_unchanged() {
    let path = temp("other-arch.safetensors");
    Sequential::new()
        .input([4])
        .add(Dense::new(5))
        .add(Dense::new(2))
        .device(cpu())
        .build()
        .unwrap()
        .save_weights(&path)
        .unwrap();
    let mut model = small_dense();
    let before = model.get_weights();
    let e = model.load_weights(&path).unwrap_err().to_string();
    assert!(
        e.contains("`dense/kernel` has shape [4, 5] in the file but [4, 3]"),
        "{e}"
    );
    assert_eq!(model.get_weights(), before);
    // skip_mismatch loads what fits: nothing here but dense_1/bias
    let skipped = model.load_weights_skip_mismatch(&path).unwrap();
    assert_eq!(skipped, ["dense/kernel", "dense/bias", "dense_1/kernel"]);
}

#[test]
fn a_failed_save_keeps_the_old_file() {
    let path = temp("kept.safetensors");
    small_dense().save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = shared_layer_graph().save_weights_as(&path, WeightLayout::Torch);
    assert!(e.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Run as a child by `a_killed_save_never_leaves_a_broken_file`: saves a large model to
/// `KILN_SAVE_LOOP` over and over until killed.
#[test]
fn save_loop_child() {
    let Ok(path) = std::env::var("KILN_SAVE_LOOP") else {
        return;
    };
    let model = Sequential::new()
        .input([784])
        .add(Dense::new(2048))
        .add(Dense::new(10))
        .device(cpu())
        .build()
        .unwrap();
    loop {
        model.save(&path).unwrap();
    }
}

#[test]
fn a_killed_save_never_leaves_a_broken_file() {
    let path = temp("killed.safetensors");
    for delay_ms in [150, 230, 310, 390, 470] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "save_loop_child", "--nocapture"])
            .env("KILN_SAVE_LOOP", &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if path.exists() {
            let model = load_model_on(&path, cpu()).unwrap();
            assert_eq!(
                model.summary().total_params,
                784 * 2048 + 2048 + 2048 * 10 + 10
            );
        }
    }
    assert!(path.exists(), "the child saved at least once in 1.5 s");
    let json = load_model_on(&path, cpu()).unwrap().to_json();
    assert!(ModelConfig::from_json(&json).is_ok());
}

#[test]
fn training_resumes_from_a_file_with_the_optimizer_state() {
    use kiln::io::SaveOptions;
    let (x, y) = (
        random(&[32, 4], 21),
        kiln::to_categorical(&[0u8, 1].repeat(16), 2).unwrap(),
    );
    let epoch = |seed| {
        FitOptions::default()
            .epochs(1)
            .batch_size(8)
            .seed(seed)
            .verbose(0)
    };
    kiln::set_random_seed(8);
    let mut straight = small_dense();
    straight.fit(&x, &y, epoch(1)).unwrap();
    let path = temp("resume.safetensors");
    let plain = temp("resume-plain.safetensors");
    straight
        .save_with(&path, SaveOptions::default().include_optimizer(true))
        .unwrap();
    straight.save(&plain).unwrap();
    straight.fit(&x, &y, epoch(2)).unwrap();

    let mut resumed = load_model_on(&path, cpu()).unwrap();
    assert_eq!(resumed.iterations(), 4);
    resumed.fit(&x, &y, epoch(2)).unwrap();
    assert_eq!(resumed.iterations(), 8);
    for ((name, a), (_, b)) in straight.get_weights().iter().zip(resumed.get_weights()) {
        let diff = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-6, "{name} differs by {diff} after resuming");
    }

    // without the state, Adam starts over and the weights go elsewhere
    let mut restarted = load_model_on(&plain, cpu()).unwrap();
    assert_eq!(restarted.iterations(), 0);
    restarted.fit(&x, &y, epoch(2)).unwrap();
    let (a, b) = (&straight.get_weights()[0].1, &restarted.get_weights()[0].1);
    let diff = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff > 1e-4,
        "a fresh optimizer should train differently ({diff})"
    );

    // the weights are still read by load_weights, which skips the optimizer state
    let mut fresh = small_dense();
    fresh.load_weights(&path).unwrap();
}

/// A file saved by kiln before the layer trait (commit 65ebc04; `tests/fixtures/
/// save_legacy_v1.rs` wrote it) loads, with Conv2D, BatchNormalization, both 2D poolings,
/// Concatenate, a global pooling, a nested Sequential, Add, Reshape, Conv1D, Flatten, Dropout
/// and Dense, and predicts what that kiln predicted (within 1e-6: another CPU may pick other
/// gemm kernels).
#[test]
fn a_file_saved_before_the_layer_trait_loads_and_predicts_the_same() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model =
        kiln::load_model_on(dir.join("legacy_v1.safetensors"), Device::cpu().unwrap()).unwrap();
    assert_eq!(model.summary().total_params, 159);
    let n = 8;
    let xi: Vec<f32> = (0..n * 72)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let xs: Vec<f32> = (0..n * 3)
        .map(|i| ((i * 13 % 17) as f32 / 8.0) - 1.0)
        .collect();
    let xi = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n, 6, 6, 2]), xi).unwrap();
    let xs = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n, 3]), xs).unwrap();
    let got = model.predict_on_batch(&[xi, xs]).unwrap();
    let expected: Vec<f32> = std::fs::read_to_string(dir.join("legacy_v1_predictions.txt"))
        .unwrap()
        .lines()
        .map(|l| f32::from_bits(l.parse().unwrap()))
        .collect();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-6, "{g} vs {e}");
    }
}
