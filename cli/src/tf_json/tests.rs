//! TensorFlow Serving's formats, read and written.

use crate::tf_json::request::Format;
use crate::tf_json::*;
use base64::Engine;
use serde_json::{Value, json};

fn sig(inputs: &[(&str, &[usize])], outputs: &[(&str, &[usize])]) -> Signature {
    let specs = |list: &[(&str, &[usize])]| {
        list.iter()
            .map(|(n, s)| TensorSpec {
                name: n.to_string(),
                shape: s.to_vec(),
            })
            .collect()
    };
    Signature {
        inputs: specs(inputs),
        outputs: specs(outputs),
        text: None,
    }
}

fn req(body: Value, s: &Signature) -> Result<(Format, Batch), String> {
    parse_request(body.to_string().as_bytes(), s)
}

#[test]
fn row_and_columnar_formats_give_the_same_batch() {
    let s = sig(&[("x", &[2, 2])], &[("y", &[1])]);
    let (f, rows) = req(
        json!({"instances": [[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]]}),
        &s,
    )
    .unwrap();
    assert_eq!(f, Format::Row);
    let (f, cols) = req(
        json!({"inputs": [[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]]}),
        &s,
    )
    .unwrap();
    assert_eq!(f, Format::Columnar);
    assert_eq!(rows.rows, 2);
    assert_eq!(rows.arrays, cols.arrays);
    assert_eq!(rows.arrays[0].shape(), &[2, 2, 2]);
    assert_eq!(rows.arrays[0][[1, 1, 1]], 8.5);
    // a single input may be named too
    let (_, named) = req(json!({"instances": [{"x": [[1, 2], [3, 4]]}]}), &s).unwrap();
    assert_eq!(named.arrays[0].as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn named_inputs_in_both_formats() {
    let s = sig(&[("a", &[2]), ("b", &[1])], &[("p", &[1]), ("q", &[2])]);
    let (_, rows) = req(
        json!({"instances": [{"b": [9], "a": [1, 2]}, {"a": [3, 4], "b": [8]}]}),
        &s,
    )
    .unwrap();
    let (_, cols) = req(
        json!({"inputs": {"a": [[1, 2], [3, 4]], "b": [[9], [8]]}}),
        &s,
    )
    .unwrap();
    assert_eq!(rows.arrays, cols.arrays);
    assert_eq!(rows.arrays[1].as_slice().unwrap(), &[9.0, 8.0]);
}

#[test]
fn refusals_name_the_sample_and_the_shapes() {
    let s = sig(&[("x", &[3])], &[("y", &[1])]);
    let err = |body: Value| req(body, &s).unwrap_err();
    let e = err(json!({"instances": [[1, 2, 3], [1, 2]]}));
    assert!(
        e.contains("instance 1 has shape [2]") && e.contains("takes [3]"),
        "{e}"
    );
    let e = err(json!({"instances": [[1, "a", 3]]}));
    assert!(e.contains("hold other values"), "{e}");
    let e = err(json!({"instances": []}));
    assert!(e.contains("empty"), "{e}");
    let e = err(json!({"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}));
    assert!(e.contains("not both"), "{e}");
    let e = err(json!({"instance": [[1, 2, 3]]}));
    assert!(e.contains("unknown key \"instance\""), "{e}");
    let e = err(json!([1, 2]));
    assert!(e.contains("JSON object"), "{e}");
    let e = err(json!({"instances": [[1e300, 2, 3]]}));
    assert!(e.contains("not a finite 32-bit float"), "{e}");
    let e = err(json!({"instances": [{"z": [1, 2, 3]}]}));
    assert!(e.contains("`z` is not an input"), "{e}");
    let e = err(json!({"instances": [[1, 2, 3]], "signature_name": "other"}));
    assert!(e.contains("serving_default"), "{e}");
    let two = sig(&[("a", &[1]), ("b", &[1])], &[("y", &[1])]);
    let e = req(json!({"instances": [[1]]}), &two).unwrap_err();
    assert!(e.contains("2 inputs (a, b)"), "{e}");
    let e = req(json!({"inputs": {"a": [[1], [2]], "b": [[1]]}}), &two).unwrap_err();
    assert!(e.contains("same batch size"), "{e}");
    let e = req(json!({"instances": [{"a": [1]}]}), &two).unwrap_err();
    assert!(e.contains("input `b` is missing"), "{e}");
}

#[test]
fn a_ragged_tensor_is_refused() {
    let s = sig(&[("x", &[2, 2])], &[("y", &[1])]);
    let e = req(json!({"instances": [[[1, 2], [3]]]}), &s).unwrap_err();
    assert!(e.contains("differ in length"), "{e}");
}

#[test]
fn a_b64_png_is_decoded_resized_and_scaled() {
    // a 2x2 grayscale PNG: 0, 255 / 255, 0
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(
        image::GrayImage::from_raw(2, 2, vec![0, 255, 255, 0]).unwrap(),
    )
    .write_to(
        &mut std::io::Cursor::new(&mut png),
        image::ImageOutputFormat::Png,
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let s = sig(&[("x", &[2, 2, 1])], &[("y", &[1])]);
    let (_, b) = req(json!({"instances": [{"b64": b64}]}), &s).unwrap();
    assert_eq!(b.arrays[0].as_slice().unwrap(), &[0.0, 1.0, 1.0, 0.0]);
    let flat = sig(&[("x", &[4])], &[("y", &[1])]);
    let (_, b) = req(json!({"inputs": [{"b64": b64}]}), &flat).unwrap();
    assert_eq!(b.arrays[0].shape(), &[1, 4]);
    let e = req(json!({"instances": [{"b64": "bm90IGEgcG5n"}]}), &s).unwrap_err();
    assert!(e.contains("not a PNG"), "{e}");
    let e = req(json!({"instances": [{"b64": "@@"}]}), &s).unwrap_err();
    assert!(e.contains("not base64"), "{e}");
}

#[test]
fn answers_in_both_formats() {
    let s = sig(&[("x", &[1])], &[("p", &[2]), ("q", &[])]);
    let p = ndarray::array![[0.1f32, 0.9], [0.5, f32::NAN]].into_dyn();
    let q = ndarray::array![1.0f32, 2.0].into_dyn();
    let outputs = [p, q];
    let rows: Value = serde_json::from_slice(&answer(Format::Row, &outputs, &s)).unwrap();
    assert_eq!(
        rows,
        json!({"predictions": [{"p": [0.1, 0.9], "q": 1.0}, {"p": [0.5, null], "q": 2.0}]})
    );
    let cols: Value = serde_json::from_slice(&answer(Format::Columnar, &outputs, &s)).unwrap();
    assert_eq!(
        cols,
        json!({"outputs": {"p": [[0.1, 0.9], [0.5, null]], "q": [1.0, 2.0]}})
    );
    let one = sig(&[("x", &[1])], &[("p", &[2])]);
    let text = answer(Format::Row, &outputs[..1], &one);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        r#"{"predictions":[[0.1,0.9],[0.5,null]]}"#
    );
}

#[test]
fn batches_concatenate_in_order() {
    let a = Batch {
        rows: 1,
        arrays: vec![ndarray::array![[1.0f32, 2.0]].into_dyn()],
    };
    let b = Batch {
        rows: 2,
        arrays: vec![ndarray::array![[3.0f32, 4.0], [5.0, 6.0]].into_dyn()],
    };
    let c = Batch::concat(&[&a, &b]);
    assert_eq!(c.rows, 3);
    assert_eq!(
        c.arrays[0].as_slice().unwrap(),
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
}
