//! Hostile inputs to the `kiln` command's readers: `.npy` and `.npz` files, CSV tables,
//! TensorFlow Serving request bodies (with their base64 PNG images) and the lines of a batch
//! prediction file. Each campaign ([`kiln_fuzz::campaign`]) starts from valid inputs and the
//! regression corpus (`cli/tests/fuzz_corpus/<reader>/`), and fails on a panic, a case over one
//! second or an allocation over 1 GiB. `KILN_FUZZ_CASES` sets the cases per reader (300 by
//! default; the long run of BENCHMARKS.md takes a million), `KILN_FUZZ_READER` picks one.

use crate::npy::tests::npy;
use crate::tf_json::{Signature, TensorSpec, parse_request};
use base64::Engine;
use kiln_fuzz::{Target, mutate, mutate_bytes, mutate_zip, zip_of};
use std::path::Path;

#[global_allocator]
static ALLOCATOR: kiln_fuzz::Tracking = kiln_fuzz::Tracking;

fn npy_seeds() -> Vec<Vec<u8>> {
    let floats: Vec<u8> = [1.5f32, -2.0, 0.25, 8.0, 3.0, 1e-3]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let doubles: Vec<u8> = [1.5f64, -2.0, 7.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    vec![
        npy("<f4", &[2, 3], &floats),
        npy("|u1", &[2, 2, 1], &[0, 1, 2, 255]),
        npy("<f8", &[3], &doubles),
        npy("<i8", &[1], &7i64.to_le_bytes()),
    ]
}

fn npz_seeds() -> Vec<Vec<u8>> {
    let seeds = npy_seeds();
    vec![zip_of(&[
        ("x_train.npy".into(), seeds[1].clone()),
        ("y_train.npy".into(), npy("|u1", &[2], &[3, 1])),
    ])]
}

fn sig(inputs: &[(&str, &[usize])]) -> Signature {
    Signature {
        inputs: inputs
            .iter()
            .map(|(n, s)| TensorSpec {
                name: n.to_string(),
                shape: s.to_vec(),
            })
            .collect(),
        outputs: vec![TensorSpec {
            name: "y".into(),
            shape: vec![2],
        }],
        text: None,
    }
}

/// The signatures requests are read against: one input, two named inputs, an image.
fn signatures() -> [Signature; 3] {
    [
        sig(&[("x", &[4])]),
        sig(&[("a", &[2, 2]), ("b", &[1])]),
        sig(&[("image", &[2, 2, 1])]),
    ]
}

fn png() -> Vec<u8> {
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(2, 2, vec![0, 255, 9, 0]).unwrap())
        .write_to(
            &mut std::io::Cursor::new(&mut png),
            image::ImageOutputFormat::Png,
        )
        .unwrap();
    png
}

fn request_seeds() -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(png());
    [
        r#"{"instances": [[1, 2, 3, 4], [5, 6, 7, 8.5]]}"#.to_string(),
        r#"{"inputs": [[1, 2, 3, 4]], "signature_name": "serving_default"}"#.into(),
        r#"{"instances": [{"a": [[1, 2], [3, 4]], "b": [9]}, {"a": [[0, 0], [1, 1]], "b": [8]}]}"#
            .into(),
        r#"{"inputs": {"a": [[[1, 2], [3, 4]]], "b": [[7]]}}"#.into(),
        format!(r#"{{"instances": [{{"b64": "{b64}"}}]}}"#),
        r#"{"instances": [[[[0.5], [1]], [[0], [0.25]]]]}"#.into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

fn read_npy(_: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::npy::parse(bytes).map(|_| ())
}

fn read_npz(path: &Path, _: &[u8]) -> Result<(), String> {
    crate::npy::read_npz(path).map(|_| ())
}

fn read_request(_: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut last = Err(String::new());
    for s in signatures() {
        last = parse_request(bytes, &s).map(|_| ());
    }
    last
}

fn read_png(_: &Path, bytes: &[u8]) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let body = format!(r#"{{"instances": [{{"b64": "{b64}"}}]}}"#);
    parse_request(body.as_bytes(), &signatures()[2]).map(|_| ())
}

fn line_seeds() -> Vec<Vec<u8>> {
    vec![
        b"[1, 2, 3, 4]".to_vec(),
        br#"{"key": "a-1", "instance": [0.5, 0, 0, 1e3]}"#.to_vec(),
        br#"{"key": 7, "instance": {"x": [1, 2, 3, 4]}}"#.to_vec(),
    ]
}

fn read_line(_: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::jsonl::parse_line(bytes, &signatures()[0]).map(|_| ())
}

fn table_seeds() -> Vec<Vec<u8>> {
    vec![
        b"date,temp,text\n2012/01/01,12.8,\"a \"\"quoted\"\", long\ntext\"\n2012/01/02,10.6,b\n"
            .to_vec(),
    ]
}

fn read_table(path: &Path, _: &[u8]) -> Result<(), String> {
    let table = crate::table::Table::read(path.to_str().ok_or("not UTF-8")?)?;
    let column = table.column("temp", "--target")?;
    for row in 0..table.rows.len() {
        table.number(row, column)?;
        let _ = table.text(row, 2);
    }
    Ok(())
}

#[test]
fn every_reader_survives_mutated_inputs() {
    let targets = vec![
        Target::new("npy", npy_seeds(), &mutate, &read_npy),
        Target::new("npz", npz_seeds(), &mutate_zip, &read_npz),
        Target::new("request", request_seeds(), &mutate, &read_request),
        Target::new("png", vec![png()], &mutate_bytes, &read_png),
        Target::new("jsonl_line", line_seeds(), &mutate, &read_line),
        Target::new("csv_table", table_seeds(), &mutate, &read_table),
    ];
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let dir = std::env::temp_dir().join(format!("kiln-cli-fuzz-{}", std::process::id()));
    let failed = kiln_fuzz::run_targets(targets, &corpus, &dir, 300);
    assert!(
        failed.is_empty(),
        "readers with failures: {failed:?}; their inputs are in {}",
        dir.join("failures").display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
