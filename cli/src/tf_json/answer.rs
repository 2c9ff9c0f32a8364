//! Outputs into TensorFlow Serving's answers.

use crate::tf_json::request::Format;
use crate::tf_json::signature::Signature;
use crate::tf_json::tree::write_values;
use ndarray::{ArrayD, ArrayViewD, Axis};

/// The answer to a request: `{"predictions": [...]}` (one entry per sample: the output's
/// tensor, or an object naming each output) or `{"outputs": ...}` (each output's batch, or an
/// object of them), as JSON text. Floats are written in their shortest exact form; a
/// non-finite output is `null`, as JSON has no NaN.
pub fn answer(format: Format, outputs: &[ArrayD<f32>], sig: &Signature) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + outputs.iter().map(|o| o.len() * 12).sum::<usize>());
    match format {
        Format::Row => {
            out.extend_from_slice(b"{\"predictions\":[");
            let rows = outputs.first().map_or(0, |o| o.len_of(Axis(0)));
            for row in 0..rows {
                if row > 0 {
                    out.push(b',');
                }
                write_row(&mut out, outputs, sig, row);
            }
            out.extend_from_slice(b"]}");
        }
        Format::Columnar => {
            out.extend_from_slice(b"{\"outputs\":");
            if let [single] = outputs {
                write_tensor(&mut out, single.view());
            } else {
                write_named(&mut out, sig, |out, k| write_tensor(out, outputs[k].view()));
            }
            out.push(b'}');
        }
    }
    out
}

/// Sample `row` of the outputs: the tensor of a model with one output, or an object.
pub fn write_row(out: &mut Vec<u8>, outputs: &[ArrayD<f32>], sig: &Signature, row: usize) {
    if let [single] = outputs {
        write_tensor(out, single.index_axis(Axis(0), row));
    } else {
        write_named(out, sig, |out, k| {
            write_tensor(out, outputs[k].index_axis(Axis(0), row))
        });
    }
}

fn write_named(out: &mut Vec<u8>, sig: &Signature, mut each: impl FnMut(&mut Vec<u8>, usize)) {
    out.push(b'{');
    for (k, spec) in sig.outputs.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        super::tree::put(out, &spec.name);
        out.push(b':');
        each(out, k);
    }
    out.push(b'}');
}

fn write_tensor(out: &mut Vec<u8>, view: ArrayViewD<f32>) {
    match view.as_slice() {
        Some(values) => write_values(out, view.shape(), values),
        None => write_values(out, view.shape(), &view.iter().copied().collect::<Vec<_>>()),
    }
}
