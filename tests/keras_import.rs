//! Keras 3 `.keras` files, written by Keras itself, load in kiln and predict what Keras
//! predicts.
//!
//! `tests/interop/keras_files.py` builds each model in Keras (the three MNIST reference models
//! and one per layer family: convolutions and pooling, merges with two inputs and two outputs,
//! nested models, sequence layers, text with Bidirectional, an adapted Normalization whose
//! statistics are Keras variables, a TextVectorization whose vocabulary is an archive asset,
//! reading strings), trains it briefly on MNIST samples kiln writes (and on sentences naming
//! their digits), and saves it with `model.save`. kiln loads each file with
//! `kiln::io::load_keras` and predicts within 1e-5 of Keras on 200 test images; the CNN scores
//! Keras' test accuracy, and its `.weights.h5` loads into kiln's own `models/mnist_cnn.json`.
//!
//! The interpreter is `KILN_KERAS_PYTHON` (default `python3`); without keras the test says so
//! and passes, unless `KILN_REQUIRE_KERAS=1` (as in `.ci/run`).

use kiln::datasets::mnist;
use kiln::prelude::*;
use ndarray::ArrayD;
use std::collections::HashMap;
use std::path::Path;

mod python;

const TRAIN: usize = 512;
const TEST: usize = 200;

fn read(path: &Path) -> HashMap<String, ArrayD<f32>> {
    python::read_tensors(path).into_iter().collect()
}

fn gap(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    (a - b).mapv(f32::abs).fold(0.0, |m, v| m.max(*v))
}

#[test]
fn keras_files_load_and_predict_as_in_keras() {
    let Some(python) = python::interpreter("KILN_KERAS_PYTHON", "keras", "KILN_REQUIRE_KERAS")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kiln-keras-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = mnist::subset().unwrap();
    python::write_tensors(
        &dir.join("data.safetensors"),
        &[
            ("x_train", &python::images(&m.x_train, TRAIN, &[28, 28, 1])),
            ("y_train", &python::one_hot(&m.y_train, TRAIN)),
            ("x_test", &python::images(&m.x_test, TEST, &[28, 28, 1])),
            ("y_test", &python::one_hot(&m.y_test, TEST)),
        ],
    );
    let text = python::run(
        &python,
        "tests/interop/keras_files.py",
        &[dir.to_str().unwrap()],
    );
    let cases = [
        "mnist_dense",
        "mnist_cnn",
        "mnist_resnet",
        "convolutions",
        "merges",
        "nested",
        "sequences",
        "text",
        "preprocessing",
        "vectorized",
    ];
    assert_eq!(text.matches(" saved").count(), cases.len(), "{text}");
    for name in cases {
        let model = kiln::io::load_keras(dir.join(format!("{name}.keras")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let io = read(&dir.join(format!("{name}.io.safetensors")));
        let inputs: Vec<ArrayD<f32>> = (0..)
            .map_while(|i| io.get(&format!("x{i}")).cloned())
            .collect();
        let ours = if name == "vectorized" {
            let texts = std::fs::read_to_string(dir.join("vectorized.json")).unwrap();
            let texts: Vec<String> = serde_json::from_str(&texts).unwrap();
            vec![model.predict_text(&texts).unwrap()]
        } else {
            model.predict_outputs(&inputs).unwrap()
        };
        assert!(!ours.is_empty());
        for (i, ours) in ours.iter().enumerate() {
            let keras = &io[&format!("p{i}")];
            let gap = gap(ours, keras);
            println!("{name} output {i}: kiln within {gap:.1e} of Keras");
            assert!(gap < 1e-5, "{name} output {i}: {gap} from Keras");
        }
        if name == "mnist_cnn" {
            let labels = m.y_test.slice(ndarray::s![..TEST]);
            let right = ours[0]
                .rows()
                .into_iter()
                .zip(labels)
                .filter(|(row, label)| {
                    let best = row.iter().enumerate().fold((0, f32::MIN), |b, (i, v)| {
                        if *v > b.1 { (i, *v) } else { b }
                    });
                    best.0 == **label as usize
                })
                .count();
            let accuracy = right as f32 / TEST as f32;
            let keras = io["accuracy"][0];
            println!("mnist_cnn: test accuracy {accuracy} in kiln, {keras} in Keras");
            assert!((accuracy - keras).abs() < 0.5 / TEST as f32);

            // the weights alone, into kiln's own model of the same architecture
            let json = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist_cnn.json"),
            )
            .unwrap();
            let mut own = Model::from_json(&json).unwrap();
            own.load_keras_weights(dir.join("mnist_cnn.weights.h5"))
                .unwrap();
            let again = own.predict(&inputs[0]).unwrap();
            assert!(gap(&again, &io["p0"]) < 1e-5);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tests/fixtures/keras/tiny.keras`, made with Keras 3.15:
///
/// ```python
/// keras.utils.set_random_seed(1)
/// m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
///                       keras.layers.Dense(2, activation="softmax")], name="tiny")
/// m.save("tiny.keras")
/// m.predict(np.array([[0.1, -0.2, 0.3, 0.4], [1.0, 0.5, -0.5, 0.0]], np.float32))
/// # [[0.49915496, 0.500845], [0.5736266, 0.42637342]]
/// ```
fn tiny() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/tiny.keras")
}

/// The entries of a `.keras` archive.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().to_string(), bytes)
        })
        .collect()
}

/// Writes an archive of `entries` as `name` in the temporary directory.
fn archive(name: &str, entries: &[(String, Vec<u8>)]) -> std::path::PathBuf {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("kiln-{}-{name}.keras", std::process::id()));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (entry, bytes) in entries {
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(entry.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// tiny.keras with its `config.json` edited by `edit`.
fn with_config(name: &str, edit: impl Fn(&mut serde_json::Value)) -> std::path::PathBuf {
    let mut all = entries(&tiny());
    for (entry, bytes) in &mut all {
        if entry == "config.json" {
            let mut config: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            edit(&mut config);
            *bytes = serde_json::to_vec(&config).unwrap();
        }
    }
    archive(name, &all)
}

fn error_of(path: &Path) -> String {
    let e = kiln::io::load_keras(path).expect_err("an error");
    let text = e.to_string();
    assert!(
        text.contains(&*path.to_string_lossy()),
        "names the file: {text}"
    );
    std::fs::remove_file(path).ok();
    text
}

#[test]
fn a_small_keras_file_predicts_what_keras_printed() {
    let model = kiln::io::load_keras(tiny()).unwrap();
    let x = ndarray::arr2(&[[0.1f32, -0.2, 0.3, 0.4], [1.0, 0.5, -0.5, 0.0]]);
    let p = model.predict(&x).unwrap();
    let keras = ndarray::arr2(&[[0.49915496f32, 0.500845], [0.5736266, 0.42637342]]).into_dyn();
    assert!(gap(&p, &keras) < 1e-6, "{p}");
    assert_eq!(model.name(), "tiny");
    assert_eq!(model.summary().total_params, 4 * 3 + 3 + 3 * 2 + 2);
}

/// `tests/fixtures/keras/preprocessing.keras` (33 kB), made with Keras 3.15: state Keras
/// keeps outside the weights, in a Functional model with an input of strings.
///
/// ```python
/// keras.utils.set_random_seed(1)
/// tv = L.TextVectorization(max_tokens=8, output_sequence_length=4, name="words")
/// tv.adapt(["the cat sat", "the dog ran", "a cat ran far"])   # vocabulary: an asset
/// norm = L.Normalization(name="scale")
/// norm.adapt(np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]]))  # mean, variance: variables
/// text = keras.Input((1,), dtype="string", name="text")
/// numbers = keras.Input((2,), name="numbers")
/// t = L.GlobalAveragePooling1D()(L.Embedding(8, 3)(tv(text)))
/// out = L.Dense(2, activation="softmax", name="out")(L.Concatenate()([t, norm(numbers)]))
/// m = keras.Model([text, numbers], out, name="preprocessing")
/// m.save("preprocessing.keras")
/// m.predict([tf.constant([["The cat ran!"], ["a DOG, far"]]),
///            np.array([[2.0, 15.0], [4.0, 25.0]], np.float32)])
/// # [[0.68016344, 0.31983662], [0.31737798, 0.682622]]
/// ```
fn preprocessing() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/preprocessing.keras")
}

#[test]
fn adapted_preprocessing_layers_keep_their_vocabulary_and_statistics() {
    let model = kiln::io::load_keras(preprocessing()).unwrap();
    let tv = model
        .text_vectorization()
        .expect("the text input's TextVectorization");
    assert_eq!(
        tv.vocabulary,
        ["", "[UNK]", "the", "ran", "cat", "sat", "far", "dog"]
    );
    let norm = model
        .graph()
        .layers()
        .iter()
        .find_map(|l| l.downcast_ref::<kiln::layers::Normalization>())
        .unwrap();
    assert_eq!(norm.mean, Some(vec![3.0, 20.0]));
    let variance = norm.variance.clone().unwrap();
    assert!((variance[0] - 8.0 / 3.0).abs() < 1e-5 && (variance[1] - 200.0 / 3.0).abs() < 1e-4);
    assert_eq!(model.input_names(), ["text", "numbers"]);

    let ids = model
        .vectorize_text(&["The cat ran!", "a DOG, far"])
        .unwrap();
    assert_eq!(
        ids,
        ndarray::arr2(&[[2.0f32, 4.0, 3.0, 0.0], [1.0, 7.0, 6.0, 0.0]]).into_dyn()
    );
    let numbers = ndarray::arr2(&[[2.0f32, 15.0], [4.0, 25.0]]).into_dyn();
    let p = model.predict(&vec![ids, numbers]).unwrap();
    let keras = ndarray::arr2(&[[0.68016344f32, 0.31983662], [0.31737798, 0.682622]]).into_dyn();
    assert!(gap(&p, &keras) < 1e-6, "{p}");
}

#[test]
fn missing_state_is_an_error_naming_the_layer() {
    let mut all = entries(&preprocessing());
    all.retain(|(name, _)| name != "assets/layers/text_vectorization/vocabulary.txt");
    let text = error_of(&archive("no-vocabulary", &all));
    assert!(text.contains("layer `words` (TextVectorization)"), "{text}");
    assert!(text.contains("no vocabulary.txt"), "{text}");

    // the text input read by something else than a TextVectorization
    let mut all = entries(&preprocessing());
    for (entry, bytes) in &mut all {
        if entry == "config.json" {
            let config = String::from_utf8(bytes.clone()).unwrap();
            *bytes = config
                .replace(
                    "\"dtype\": \"float32\", \"sparse\"",
                    "\"dtype\": \"string\", \"sparse\"",
                )
                .into_bytes();
        }
    }
    let text = error_of(&archive("strings", &all));
    assert!(text.contains("input `numbers`: strings"), "{text}");
}

#[test]
fn damaged_or_unsupported_keras_files_are_errors_naming_the_problem() {
    let bytes = std::fs::read(tiny()).unwrap();
    let cut = std::env::temp_dir().join(format!("kiln-{}-cut.keras", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let text = error_of(&cut);
    assert!(text.contains("not a .keras archive"), "{text}");

    let layer = |config: &mut serde_json::Value, i: usize| config["config"]["layers"][i].clone();
    let text = error_of(&with_config("unknown", |c| {
        c["config"]["layers"][1]["class_name"] = "Frobnicate".into();
        let mut second = layer(c, 2);
        second["config"]["kernel_regularizer"] = serde_json::json!({"class_name": "L2"});
        c["config"]["layers"][2] = second;
    }));
    assert!(text.contains("kiln has no layer `Frobnicate`"), "{text}");
    assert!(
        text.contains("option `kernel_regularizer`"),
        "both problems at once: {text}"
    );

    let text = error_of(&with_config("shape", |c| {
        c["config"]["layers"][1]["config"]["units"] = 5.into();
    }));
    assert!(
        text.contains("weight `dense/kernel` has shape [4, 5] in kiln but [4, 3] in the file"),
        "{text}"
    );

    let text = error_of(&with_config("count", |c| {
        c["config"]["layers"][1]["config"]["use_bias"] = false.into();
    }));
    assert!(text.contains("has 1 weights in kiln"), "{text}");
    assert!(text.contains("but 2 in the file"), "{text}");

    let text = error_of(&with_config("renamed", |c| {
        c["config"]["layers"][1]["config"]["name"] = "hidden".into();
    }));
    assert!(
        text.contains("the file names this layer `dense`, the configuration `hidden`"),
        "{text}"
    );

    let text = error_of(&with_config("extra", |c| {
        let mut extra = layer(c, 2);
        extra["config"]["name"] = "dense_2".into();
        c["config"]["layers"].as_array_mut().unwrap().push(extra);
    }));
    assert!(text.contains("layers/dense_2"), "{text}");
    assert!(text.contains("no such group"), "{text}");

    let no_weights: Vec<_> = entries(&tiny())
        .into_iter()
        .filter(|(name, _)| name != "model.weights.h5")
        .collect();
    let text = error_of(&archive("no-weights", &no_weights));
    assert!(text.contains("no `model.weights.h5`"), "{text}");

    let mut not_json = entries(&tiny());
    not_json
        .iter_mut()
        .find(|(n, _)| n == "config.json")
        .unwrap()
        .1 = b"{\"class_name\": ".to_vec();
    let text = error_of(&archive("not-json", &not_json));
    assert!(text.contains("config.json is not JSON"), "{text}");

    // 20 MB of spaces deflate to about 20 kB: more than 100 times its size is refused unread
    let mut bomb = entries(&tiny());
    bomb.iter_mut().find(|(n, _)| n == "config.json").unwrap().1 = vec![b' '; 20 << 20];
    let text = error_of(&archive("bomb", &bomb));
    assert!(text.contains("zip bomb"), "{text}");
}

#[test]
fn an_hdf5_file_that_lies_about_a_shape_is_refused_before_allocating() {
    let mut all = entries(&tiny());
    let (_, h5) = all
        .iter_mut()
        .find(|(n, _)| n == "model.weights.h5")
        .unwrap();
    // the first kernel's dataspace: dimensions 4 and 3 as 8-byte little-endian numbers
    let dims: Vec<u8> = [4u64, 3].iter().flat_map(|d| d.to_le_bytes()).collect();
    let at = h5
        .windows(16)
        .position(|w| w == dims.as_slice())
        .expect("the kernel's dimensions");
    h5[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let text = error_of(&archive("lying", &all));
    assert!(text.contains("needs more bytes than the file"), "{text}");
}

/// `tests/fixtures/keras/tiny_missing_bias.keras`: tiny.keras with the first layer's bias
/// deleted from its weights file by h5py (`del f["layers/dense/vars/1"]`).
#[test]
fn a_missing_hdf5_dataset_is_an_error_naming_the_layer() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/tiny_missing_bias.keras");
    let e = kiln::io::load_keras(&path)
        .expect_err("a missing dataset")
        .to_string();
    assert!(e.contains("layers/dense"), "{e}");
    assert!(
        e.contains("has 2 weights in kiln") && e.contains("but 1 in the file"),
        "{e}"
    );
}
