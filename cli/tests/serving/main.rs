//! `kiln serve` and `kiln predict --input FILE.jsonl`: TensorFlow Serving's REST API answers as
//! `predict` does (row and columnar formats, named inputs and outputs, PNG images), a Python
//! client that knows only TF Serving's documented API gets the same numbers, a new version is
//! swapped in under load with no failed request, bad requests get TF Serving's status codes
//! and messages while the server keeps serving, overload is refused rather than queued,
//! SIGTERM drains; batch prediction streams a file and counts its bad lines.

mod server;

use kiln::io::ModelConfig;
use kiln::{Device, Model};
use ndarray::{ArrayD, Axis, IxDyn};
use serde_json::{Value, json};
use server::{Server, add_version, raw_request, read_response, request};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[path = "../../../examples/common/architectures.rs"]
#[allow(dead_code)] // the other examples' models
mod architectures;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("kiln-serving-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A reference model file with fresh weights (seeded), saved to `path` and loaded back.
fn saved(architecture: &str, seed: u64, path: &Path) -> Model {
    kiln::set_random_seed(seed);
    let model = ModelConfig::read(Path::new(ROOT).join("models").join(architecture))
        .and_then(|c| c.build(Device::cpu().unwrap()))
        .unwrap();
    model.save(path).unwrap();
    kiln::load_model_on(path, Device::cpu().unwrap()).unwrap()
}

fn two_inputs(path: &Path) -> Model {
    kiln::set_random_seed(3);
    let model = architectures::two_halves().unwrap().build().unwrap();
    model.save(path).unwrap();
    kiln::load_model_on(path, Device::cpu().unwrap()).unwrap()
}

/// The first `n` training images of the shipped MNIST subset (2,000), in [0, 1], shaped `[n, ...shape]`.
fn images(n: usize, shape: &[usize]) -> ArrayD<f32> {
    let x = kiln::datasets::mnist::subset().unwrap().x_train;
    let dims: Vec<usize> = [n].iter().chain(shape).copied().collect();
    x.slice_axis(Axis(0), (0..n).into())
        .mapv(|v| v as f32 / 255.0)
        .into_shape_with_order(IxDyn(&dims))
        .unwrap()
}

/// Nested JSON lists of an array's samples.
fn rows(x: &ArrayD<f32>) -> Vec<Value> {
    x.axis_iter(Axis(0))
        .map(|s| tensor(&s.to_owned()))
        .collect()
}

fn tensor(x: &ArrayD<f32>) -> Value {
    if x.ndim() == 0 {
        return json!(x.first().copied().unwrap());
    }
    Value::Array(
        x.axis_iter(Axis(0))
            .map(|s| tensor(&s.to_owned()))
            .collect(),
    )
}

fn flat(value: &Value, out: &mut Vec<f64>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flat(v, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("not a number: {other}"),
    }
}

/// The largest difference between a JSON tensor and an array.
fn gap(value: &Value, expected: &ArrayD<f32>) -> f64 {
    let mut got = Vec::new();
    flat(value, &mut got);
    assert_eq!(got.len(), expected.len(), "{value}");
    got.iter()
        .zip(expected.iter())
        .map(|(a, b)| (a - f64::from(*b)).abs())
        .fold(0.0, f64::max)
}

fn split_halves(x: &ArrayD<f32>) -> (ArrayD<f32>, ArrayD<f32>) {
    let flat = x.to_shape(IxDyn(&[x.shape()[0], 784])).unwrap().to_owned();
    (
        flat.slice_axis(Axis(1), (0..392).into())
            .to_owned()
            .into_dyn(),
        flat.slice_axis(Axis(1), (392..784).into())
            .to_owned()
            .into_dyn(),
    )
}

#[test]
fn the_rest_api_answers_as_predict_does() {
    let d = dir("api");
    let base = d.join("mnist");
    std::fs::create_dir_all(&base).unwrap();
    let model = saved("mnist_cnn.json", 1, &d.join("cnn.safetensors"));
    add_version(&base, 1, &d.join("cnn.safetensors"));
    let server = Server::start(&[
        "--model-name",
        "mnist",
        "--model_base_path",
        base.to_str().unwrap(),
    ]);

    let (code, status) = server.get_json("/v1/models/mnist");
    assert_eq!(code, 200);
    assert_eq!(
        status,
        json!({"model_version_status": [{"version": "1", "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]})
    );
    let (code, _) = server.get_json("/v1/models/mnist/versions/1");
    assert_eq!(code, 200);

    let (code, meta) = server.get_json("/v1/models/mnist/metadata");
    assert_eq!(code, 200, "{meta}");
    let sig = &meta["metadata"]["signature_def"]["signature_def"]["serving_default"];
    let input = &sig["inputs"][&model.input_names()[0]];
    assert_eq!(input["dtype"], "DT_FLOAT");
    let dims: Vec<&str> = input["tensor_shape"]["dim"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["size"].as_str().unwrap())
        .collect();
    assert_eq!(dims, ["-1", "28", "28", "1"]);
    assert_eq!(
        sig["outputs"][&model.output_names()[0]]["tensor_shape"]["dim"][1]["size"],
        "10"
    );
    assert_eq!(meta["model_spec"]["version"], "1");

    // the row and columnar formats, by version and without: the same numbers as predict
    let x = images(8, &[28, 28, 1]);
    let expected = model.predict(&x).unwrap();
    let (code, answer) = server.post("/v1/models/mnist:predict", &json!({"instances": rows(&x)}));
    assert_eq!(code, 200, "{answer}");
    assert!(gap(&answer["predictions"], &expected) < 1e-6);
    let (code, answer) = server.post(
        "/v1/models/mnist/versions/1:predict",
        &json!({"signature_name": "serving_default", "inputs": rows(&x)}),
    );
    assert_eq!(code, 200, "{answer}");
    assert!(gap(&answer["outputs"], &expected) < 1e-6);
    let name = model.input_names()[0].clone();
    let (code, answer) = server.post(
        "/v1/models/mnist:predict",
        &json!({"instances": [{name.clone(): rows(&x)[0]}]}),
    );
    assert_eq!(code, 200, "{answer}");
    assert!(
        gap(
            &answer["predictions"][0],
            &expected.index_axis(Axis(0), 0).to_owned()
        ) < 1e-6
    );

    // a PNG as {"b64": ...}: decoded and scaled as `kiln predict --input digit.png`
    let png = d.join("digit.png");
    let pixels = kiln::datasets::mnist::subset().unwrap().x_train;
    image::GrayImage::from_raw(
        28,
        28,
        pixels.index_axis(Axis(0), 0).iter().copied().collect(),
    )
    .unwrap()
    .save(&png)
    .unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&png).unwrap());
    let (code, answer) = server.post(
        "/v1/models/mnist:predict",
        &json!({"instances": [{"b64": b64}]}),
    );
    assert_eq!(code, 200, "{answer}");
    assert!(
        gap(
            &answer["predictions"][0],
            &expected.index_axis(Axis(0), 0).to_owned()
        ) < 1e-6
    );

    // unknown model and version: 404
    let (code, answer) = server.post("/v1/models/other:predict", &json!({"instances": rows(&x)}));
    assert_eq!(code, 404);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("Servable not found"),
        "{answer}"
    );
    let (code, _) = server.post(
        "/v1/models/mnist/versions/2:predict",
        &json!({"instances": rows(&x)}),
    );
    assert_eq!(code, 404);
    let (code, _) = server.get_json("/v1/models/mnist/versions/2");
    assert_eq!(code, 404);

    // health, and the metrics of what was asked
    let (code, health) = server.get_json("/healthz");
    assert_eq!((code, health["version"].as_str()), (200, Some("1")));
    let (code, metrics) = server.get("/monitoring/prometheus/metrics");
    assert_eq!(code, 200);
    for line in [
        "kiln_requests_total{route=\"predict\",code=\"200\"} 4",
        "kiln_requests_total{route=\"predict\",code=\"404\"} 2",
        "kiln_model_versions_loaded{model=\"mnist\"} 1",
        "kiln_model_version_served{model=\"mnist\"} 1",
        "kiln_batch_size_count 4",
        "kiln_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(line), "{line} is not in\n{metrics}");
    }
}

#[test]
fn health_waits_for_a_first_version() {
    let d = dir("health");
    let base = d.join("mnist");
    std::fs::create_dir_all(&base).unwrap();
    // --device auto, as a container would run it: the GPU probe writes nothing to the log
    let server = Server::start(&[
        "--model-name",
        "mnist",
        "--model-base-path",
        base.to_str().unwrap(),
        "--file-system-poll-wait-seconds",
        "0.05",
        "--device",
        "auto",
    ]);
    let (code, health) = server.get_json("/healthz");
    assert_eq!(code, 503, "{health}");
    assert!(
        health["error"].as_str().unwrap().contains("no version"),
        "{health}"
    );
    assert_eq!(server.get_json("/v1/models/mnist").0, 404);
    saved("mnist_dense.json", 61, &d.join("v1.safetensors"));
    add_version(&base, 1, &d.join("v1.safetensors"));
    assert!(
        server.wait_for_log("loaded version 1", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    assert_eq!(server.get_json("/healthz").0, 200);

    // a large batch (1,000 samples, 3 MB) runs in passes of --max-batch-size
    let model = kiln::load_model_on(d.join("v1.safetensors"), Device::cpu().unwrap()).unwrap();
    let x = images(1000, &[784]);
    let (code, answer) = server.post("/v1/models/mnist:predict", &json!({"instances": rows(&x)}));
    assert_eq!(code, 200);
    assert!(gap(&answer["predictions"], &model.predict(&x).unwrap()) < 1e-6);
    let log = server.log().to_lowercase();
    for noise in ["error", "warn", "xdg_runtime_dir", "mesa"] {
        assert!(!log.contains(noise), "{noise} in the log:\n{log}");
    }
}

#[test]
fn a_text_model_takes_strings() {
    use kiln::layers::{Embedding, GlobalAveragePooling1D, TextVectorization};
    use kiln::prelude::*;
    let d = dir("text");
    let file = d.join("text.safetensors");
    let mut tv = TextVectorization::new().output_sequence_length(6);
    tv.adapt(["free money now", "meeting at noon", "win money"]);
    kiln::set_random_seed(7);
    let model = Sequential::new()
        .input([6])
        .add(tv)
        .add(Embedding::new(16, 4))
        .add(GlobalAveragePooling1D::new())
        .add(Dense::new(2).activation(Softmax))
        .build()
        .unwrap();
    model.save(&file).unwrap();
    let server = Server::start(&["--model-name", "spam", "--model", file.to_str().unwrap()]);
    let texts = ["free money", "see you at noon", "WIN!"];
    let expected = model.predict_text(&texts).unwrap();
    let (code, answer) = server.post("/v1/models/spam:predict", &json!({"instances": texts}));
    assert_eq!(code, 200, "{answer}");
    assert!(gap(&answer["predictions"], &expected) < 1e-6);
    let (_, meta) = server.get_json("/v1/models/spam/metadata");
    let input = &meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
        [&model.input_names()[0]];
    assert_eq!(input["dtype"], "DT_STRING", "{meta}");
    let (code, answer) = server.post("/v1/models/spam:predict", &json!({"instances": [7]}));
    assert_eq!(code, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("the model reads text"),
        "{answer}"
    );
}

#[test]
fn several_inputs_and_outputs_by_name() {
    let d = dir("two");
    let file = d.join("two.safetensors");
    let model = two_inputs(&file);
    let server = Server::start(&["--model-name", "halves", "--model", file.to_str().unwrap()]);
    let (top, bottom) = split_halves(&images(5, &[784]));
    let expected = model.predict_outputs(&[&top, &bottom]).unwrap();
    let names = model.output_names();
    let instances: Vec<Value> = rows(&top)
        .into_iter()
        .zip(rows(&bottom))
        .map(|(t, b)| json!({"bottom": b, "top": t}))
        .collect();
    let (code, answer) = server.post(
        "/v1/models/halves:predict",
        &json!({"instances": instances}),
    );
    assert_eq!(code, 200, "{answer}");
    for (i, p) in answer["predictions"].as_array().unwrap().iter().enumerate() {
        for (k, name) in names.iter().enumerate() {
            let row = expected[k].index_axis(Axis(0), i).to_owned();
            assert!(gap(&p[name], &row) < 1e-6, "{name}: {p}");
        }
    }
    let (code, answer) = server.post(
        "/v1/models/halves:predict",
        &json!({"inputs": {"top": rows(&top), "bottom": rows(&bottom)}}),
    );
    assert_eq!(code, 200, "{answer}");
    for (k, name) in names.iter().enumerate() {
        assert!(gap(&answer["outputs"][name], &expected[k]) < 1e-6);
    }
    let (code, answer) = server.post(
        "/v1/models/halves:predict",
        &json!({"instances": rows(&top)}),
    );
    assert_eq!(code, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("2 inputs (top, bottom)"),
        "{answer}"
    );
}

/// The Python client of `serving_client.py` (`requests`, TF Serving's documented API only)
/// against the dense, CNN and two-input models: the answers of `kiln predict` on the same
/// instances, within 1e-6.
#[test]
fn a_python_client_gets_what_kiln_predict_writes() {
    let Some(python) = python_with("requests") else {
        return;
    };
    let d = dir("python");
    let dense = d.join("dense.safetensors");
    saved("mnist_dense.json", 4, &dense);
    let cnn = d.join("cnn.safetensors");
    saved("mnist_cnn.json", 5, &cnn);
    let two = d.join("two.safetensors");
    two_inputs(&two);
    let (top, bottom) = split_halves(&images(12, &[784]));
    let cases: [(&str, &Path, Vec<Value>); 3] = [
        ("dense", &dense, rows(&images(12, &[784]))),
        ("cnn", &cnn, rows(&images(12, &[28, 28, 1]))),
        (
            "two",
            &two,
            rows(&top)
                .into_iter()
                .zip(rows(&bottom))
                .map(|(t, b)| json!({"top": t, "bottom": b}))
                .collect(),
        ),
    ];
    for (name, file, instances) in cases {
        let input = d.join(format!("{name}.jsonl"));
        let mut text = String::new();
        for instance in &instances {
            text.push_str(&instance.to_string());
            text.push('\n');
        }
        std::fs::write(&input, text).unwrap();
        let out = d.join(format!("{name}-predictions"));
        kiln_predict(file, &input, &out);
        let server = Server::start(&["--model-name", name, "--model", file.to_str().unwrap()]);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serving/serving_client.py");
        let run = Command::new(&python)
            .arg(script)
            .args([
                &server.port.to_string(),
                name,
                input.to_str().unwrap(),
                out.join("prediction.results-00000-of-00001")
                    .to_str()
                    .unwrap(),
            ])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&run.stdout);
        println!("{printed}{}", String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success(), "the Python client failed for {name}");
        assert!(printed.contains("checked"), "{printed}");
    }
}

fn kiln_predict(model: &Path, input: &Path, out: &Path) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "predict",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args([
            "--output",
            out.to_str().unwrap(),
            "--device",
            "cpu",
            "--batch-size",
            "7",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    text
}

/// The interpreter of `KILN_PYTHON` when it has `module`; else skip, unless
/// `KILN_REQUIRE_PYTHON` is set.
fn python_with(module: &str) -> Option<String> {
    let python = std::env::var("KILN_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return Some(python);
    }
    assert!(
        std::env::var("KILN_REQUIRE_PYTHON").is_err(),
        "{python} cannot import {module}, and KILN_REQUIRE_PYTHON is set"
    );
    eprintln!("SKIPPED: {python} cannot import {module}");
    None
}

#[test]
fn a_new_version_swaps_in_under_load_and_a_broken_one_is_reported() {
    let d = dir("reload");
    let base = d.join("mnist");
    std::fs::create_dir_all(&base).unwrap();
    let v1 = saved("mnist_dense.json", 11, &d.join("v1.safetensors"));
    let v2 = saved("mnist_dense.json", 12, &d.join("v2.safetensors"));
    add_version(&base, 1, &d.join("v1.safetensors"));
    let server = Server::start(&[
        "--model-name",
        "mnist",
        "--model-base-path",
        base.to_str().unwrap(),
        "--file-system-poll-wait-seconds",
        "0.05",
    ]);
    let x = images(2, &[784]);
    let (p1, p2) = (v1.predict(&x).unwrap(), v2.predict(&x).unwrap());
    let body = json!({"instances": rows(&x)}).to_string();
    let port = server.port;
    let (q1, q2) = (p1.clone(), p2.clone());
    // requests without pause until 200 answers after the switch (or 60 s, which fails below)
    let client = std::thread::spawn(move || {
        let start = Instant::now();
        let mut answers = Vec::new();
        let mut after_switch = 0;
        while after_switch < 200 && start.elapsed() < Duration::from_secs(60) {
            let (code, text) = request(port, "POST", "/v1/models/mnist:predict", body.as_bytes());
            let answer = serde_json::from_str::<Value>(&text).unwrap();
            let version = if gap(&answer["predictions"], &q1) < 1e-6 {
                1
            } else if gap(&answer["predictions"], &q2) < 1e-6 {
                after_switch += 1;
                2
            } else {
                panic!("an answer of neither version: {answer}");
            };
            answers.push((code, version));
        }
        answers
    });
    std::thread::sleep(Duration::from_millis(300));
    add_version(&base, 2, &d.join("v2.safetensors"));
    let answers = client.join().unwrap();
    let mut seen = Vec::new();
    for (code, version) in &answers {
        assert_eq!(*code, 200);
        if seen.last() != Some(version) {
            seen.push(*version);
        }
    }
    assert_eq!(seen, [1, 2], "answers switch once, from version 1 to 2");
    println!(
        "{} requests, the switch after {}",
        answers.len(),
        answers.iter().take_while(|(_, v)| *v == 1).count()
    );

    // a broken version 3 (a truncated file): reported, and version 2 keeps serving
    let bytes = std::fs::read(d.join("v2.safetensors")).unwrap();
    std::fs::write(d.join("broken.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    add_version(&base, 3, &d.join("broken.safetensors"));
    assert!(
        server.wait_for_log("version 3 of `mnist` did not load", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    assert!(
        server.log().contains("version 2 keeps serving"),
        "{}",
        server.log()
    );
    let (code, status) = server.get_json("/v1/models/mnist/versions/3");
    assert_eq!(code, 200);
    let v3 = &status["model_version_status"][0];
    assert_eq!(v3["state"], "END");
    assert!(
        !v3["status"]["error_message"].as_str().unwrap().is_empty(),
        "{status}"
    );
    let (_, all) = server.get_json("/v1/models/mnist");
    let states: Vec<(&str, &str)> = all["model_version_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["version"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("3", "END"), ("2", "AVAILABLE"), ("1", "END")]);
    let (code, answer) = server.post("/v1/models/mnist:predict", &json!({"instances": rows(&x)}));
    assert_eq!(code, 200);
    assert!(gap(&answer["predictions"], &p2) < 1e-6);
    let (_, metrics) = server.get("/monitoring/prometheus/metrics");
    assert!(
        metrics.contains("kiln_model_load_failures_total{model=\"mnist\"} 1"),
        "{metrics}"
    );

    // version 3 mended: served
    std::fs::remove_dir_all(base.join("3")).unwrap();
    add_version(&base, 3, &d.join("v1.safetensors"));
    assert!(
        server.wait_for_log("version 3 of `mnist` serves", Duration::from_secs(10)),
        "{}",
        server.log()
    );
}

#[test]
fn bad_requests_get_tf_serving_errors_and_good_ones_still_succeed() {
    let d = dir("bad");
    let file = d.join("dense.safetensors");
    let model = saved("mnist_dense.json", 21, &file);
    let mut server = Server::start(&[
        "--model-name",
        "mnist",
        "--model",
        file.to_str().unwrap(),
        "--max-body-bytes",
        "200000",
        "--request-timeout-secs",
        "1",
        "--header-timeout-secs",
        "1",
    ]);
    let port = server.port;
    let path = "/v1/models/mnist:predict";
    let x = images(1, &[784]);
    let good = json!({"instances": rows(&x)}).to_string();
    let expected = model.predict(&x).unwrap();
    let error_of = |(code, text): (u16, String)| -> (u16, String) {
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (
            code,
            v["error"]
                .as_str()
                .unwrap_or_else(|| panic!("no error in {v}"))
                .to_string(),
        )
    };
    let short = vec![0.5; 783];
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            b"{\"instances\": [[1, 2".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "NaN",
            b"{\"instances\": [[NaN]]}".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "wrong shape",
            json!({"instances": [short]}).to_string().into_bytes(),
            400,
            "has shape [783] but the model's input",
        ),
        (
            "wrong type",
            json!({"instances": [["a"]]}).to_string().into_bytes(),
            400,
            "hold other values",
        ),
        (
            "strings",
            json!({"instances": [vec!["0.5"; 784]]})
                .to_string()
                .into_bytes(),
            400,
            "hold other values",
        ),
        (
            "empty batch",
            json!({"instances": []}).to_string().into_bytes(),
            400,
            "empty",
        ),
        (
            "no instances",
            json!({"data": [1]}).to_string().into_bytes(),
            400,
            "unknown key",
        ),
        ("not an object", b"[1, 2, 3]".to_vec(), 400, "JSON object"),
        (
            "deep nesting",
            format!(
                "{{\"instances\": {}{}}}",
                "[".repeat(50_000),
                "]".repeat(50_000)
            )
            .into_bytes(),
            400,
            "not valid JSON",
        ),
        (
            "huge batch",
            json!({"instances": vec![vec![0.5; 784]; 100]})
                .to_string()
                .into_bytes(),
            413,
            "over the limit",
        ),
    ];
    for (what, body, code, message) in cases {
        let (got, error) = error_of(request(port, "POST", path, &body));
        assert_eq!(got, code, "{what}: {error}");
        assert!(error.contains(message), "{what}: {error}");
    }
    // a body over the limit sent in chunks, without a length
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..300 {
        let chunk = "[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]".repeat(20);
        raw.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let (code, error) = error_of(raw_request(port, &raw));
    assert_eq!(code, 413, "{error}");
    assert_eq!(error_of(request(port, "GET", path, b"")).0, 405);
    assert_eq!(error_of(request(port, "GET", "/v2/whatever", b"")).0, 404);
    assert_eq!(
        error_of(request(
            port,
            "POST",
            "/v1/models/mnist/versions/x:predict",
            good.as_bytes()
        ))
        .0,
        400
    );

    // a slow client: half the headers, then silence; another's request is answered meanwhile
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // a slow body: the headers promise 1000 bytes, 10 come
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{\"instances")
                .as_bytes(),
        )
        .unwrap();
    let started = Instant::now();
    let (code, text) = request(port, "POST", path, good.as_bytes());
    assert_eq!(code, 200, "{text}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (code, error) = error_of(read_response(&mut stalled));
    assert_eq!(code, 408, "{error}");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let ended = std::io::Read::read_to_end(&mut slow, &mut rest);
    let timed_out = ended.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(
        !timed_out,
        "the server kept the slow client's connection open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // and the good request still gets the right answer
    let (code, text) = request(port, "POST", path, good.as_bytes());
    assert_eq!(code, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert!(gap(&answer["predictions"], &expected) < 1e-6);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}

#[test]
fn overload_is_refused_with_503_or_429_never_queued_without_bound() {
    let d = dir("overload");
    let file = d.join("cnn.safetensors");
    saved("mnist_cnn.json", 31, &file);
    let server = Server::start(&[
        "--model-name",
        "mnist",
        "--model",
        file.to_str().unwrap(),
        "--max-enqueued",
        "1",
        "--max-batch-size",
        "64",
        "--max-in-flight",
        "6",
    ]);
    let body = json!({"instances": rows(&images(64, &[28, 28, 1]))}).to_string();
    let port = server.port;
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                request(port, "POST", "/v1/models/mnist:predict", body.as_bytes())
            })
        })
        .collect();
    let mut codes: Vec<u16> = Vec::new();
    for client in clients {
        let (code, text) = client.join().unwrap();
        if code != 200 {
            let v: Value = serde_json::from_str(&text).unwrap();
            let error = v["error"].as_str().unwrap();
            assert!(error.contains("retry later"), "{error}");
        }
        codes.push(code);
    }
    codes.sort();
    println!("codes: {codes:?}");
    assert!(
        codes.iter().all(|c| [200, 429, 503].contains(c)),
        "{codes:?}"
    );
    assert!(codes.contains(&200));
    assert!(
        codes.iter().any(|c| *c != 200),
        "twelve at once, a queue of one: some are refused"
    );
}

#[test]
fn sigterm_finishes_the_requests_in_flight_then_exits() {
    let d = dir("sigterm");
    let file = d.join("cnn.safetensors");
    let model = saved("mnist_cnn.json", 41, &file);
    let mut server = Server::start(&["--model-name", "mnist", "--model", file.to_str().unwrap()]);
    let x = images(50, &[28, 28, 1]);
    let body = json!({"instances": rows(&x)}).to_string();
    // a request in flight: its headers and half its body sent before SIGTERM, the rest after
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = format!(
        "POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        server.wait_for_log("stopping", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    // no new connections
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "it waits for the request in flight"
    );
    stream
        .write_all(&body.as_bytes()[body.len() / 2..])
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (code, text) = read_response(&mut stream);
    assert_eq!(code, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert!(gap(&answer["predictions"], &model.predict(&x).unwrap()) < 1e-6);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(
        server.wait_for_log("every request answered", Duration::from_secs(2)),
        "{}",
        server.log()
    );
}

#[test]
fn batch_prediction_streams_a_file_and_counts_bad_lines() {
    let d = dir("batch");
    let file = d.join("dense.safetensors");
    let model = saved("mnist_dense.json", 51, &file);
    let x = images(100, &[784]);
    let expected = model.predict(&x).unwrap();
    let input = d.join("instances.jsonl");
    let mut text = String::new();
    for (i, row) in rows(&x).into_iter().enumerate() {
        match i % 10 {
            0 => text.push_str(&json!({"key": format!("k{i}"), "instance": row}).to_string()),
            _ => text.push_str(&row.to_string()),
        }
        text.push('\n');
        match i {
            10 | 20 => text.push_str("[1, 2, 3\n"),
            30 => text.push_str("[1, 2, 3]\n"),
            40 => text.push('\n'),
            _ => {}
        }
    }
    std::fs::write(&input, text).unwrap();
    let out = d.join("out");
    let printed = kiln_predict(&file, &input, &out);
    assert!(printed.contains("predicted=100 errors=3"), "{printed}");
    let results = std::fs::read_to_string(out.join("prediction.results-00000-of-00001")).unwrap();
    let lines: Vec<Value> = results
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 100);
    for (i, line) in lines.iter().enumerate() {
        let row = expected.index_axis(Axis(0), i).to_owned();
        assert!(gap(&line["prediction"], &row) < 1e-6, "line {i}");
        if i % 10 == 0 {
            assert_eq!(line["key"], format!("k{i}"));
        } else {
            assert!(gap(&line["instance"], &x.index_axis(Axis(0), i).to_owned()) < 1e-6);
        }
    }
    let stats =
        std::fs::read_to_string(out.join("prediction.errors_stats-00000-of-00001")).unwrap();
    let stats: Vec<Value> = stats
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stats.len(), 2, "{stats:?}");
    let count_of = |needle: &str| {
        stats
            .iter()
            .find(|s| s["error"].as_str().unwrap().contains(needle))
            .map(|s| s["count"].as_u64().unwrap())
    };
    assert_eq!(count_of("not valid JSON"), Some(2), "{stats:?}");
    assert_eq!(
        count_of("has shape [3] but the model's input"),
        Some(1),
        "{stats:?}"
    );
    assert!(
        !out.join("prediction.results-00000-of-00001.partial")
            .exists()
    );

    // a .jsonl without --output is refused
    let run = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "predict",
            file.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--output"));
}
