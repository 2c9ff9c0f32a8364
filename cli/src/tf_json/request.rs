//! Request bodies (and batch prediction's lines) into a model's input arrays.
//!
//! The row format (`{"instances": [...]}`) gives one entry per sample: the sample's tensor
//! for a model with one input, or an object naming each input. The columnar format
//! (`{"inputs": ...}`) gives each input's whole batch, or an object of them. A tensor may be an
//! image as `{"b64": "<base64 PNG>"}` (resized to the input and scaled to [0, 1], as
//! `kiln predict --input image.png` does), or a string for a model whose first layer is a
//! `TextVectorization`. Every refusal says which sample and input, and the shapes expected and
//! received.

use crate::tf_json::signature::{Signature, TensorSpec};
use crate::tf_json::tree::{Doc, Node};
use base64::Engine;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

/// The format a request used; the answer uses the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"instances": ...}` in, `{"predictions": ...}` out.
    Row,
    /// `{"inputs": ...}` in, `{"outputs": ...}` out.
    Columnar,
}

/// Samples for a model: one array per input, each `[rows, ...input shape]`.
#[derive(Clone, Debug)]
pub struct Batch {
    pub rows: usize,
    pub arrays: Vec<ArrayD<f32>>,
}

impl Batch {
    /// The batches, one after the other.
    pub fn concat(parts: &[&Batch]) -> Batch {
        let rows = parts.iter().map(|b| b.rows).sum();
        let inputs = parts.first().map_or(0, |b| b.arrays.len());
        let arrays = (0..inputs)
            .map(|k| {
                let views: Vec<ArrayViewD<f32>> =
                    parts.iter().map(|b| b.arrays[k].view()).collect();
                // every batch was parsed against the one model's signature, so all share the
                // sample shape of input k and differ only in rows
                ndarray::concatenate(Axis(0), &views)
                    .expect("parsed batches share the input shapes")
            })
            .collect();
        Batch { rows, arrays }
    }
}

/// A predict request's body.
pub fn parse_request(body: &[u8], sig: &Signature) -> Result<(Format, Batch), String> {
    let doc = Doc::parse(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Node::Map(fields) = &doc.root else {
        return Err(format!(
            "the body must be a JSON object with \"instances\" or \"inputs\", not {}",
            doc.root.kind()
        ));
    };
    for (key, value) in fields {
        match key.as_str() {
            "instances" | "inputs" => {}
            "signature_name" => {
                if !matches!(value, Node::Str(s) if s == "serving_default") {
                    return Err("signature_name is not a signature of this model; it has \
                         \"serving_default\""
                        .into());
                }
            }
            other => {
                return Err(format!(
                    "unknown key \"{other}\": a request has \"instances\" (row format) or \
                     \"inputs\" (columnar format), and optionally \"signature_name\""
                ));
            }
        }
    }
    let reader = Reader { doc: &doc, sig };
    match (doc.root.get("instances"), doc.root.get("inputs")) {
        (Some(_), Some(_)) => {
            Err("give \"instances\" (row format) or \"inputs\" (columnar format), not both".into())
        }
        (Some(instances), None) => reader.rows(instances).map(|b| (Format::Row, b)),
        (None, Some(inputs)) => reader.columns(inputs).map(|b| (Format::Columnar, b)),
        (None, None) => Err(
            "the body has neither \"instances\" (row format) nor \"inputs\" (columnar format)"
                .into(),
        ),
    }
}

/// One sample, `node` of `doc` (what one entry of `instances` holds).
pub fn parse_instance(doc: &Doc, node: &Node, sig: &Signature) -> Result<Batch, String> {
    let reader = Reader { doc, sig };
    let mut data = vec![Vec::new(); sig.inputs.len()];
    reader.instance_into(node, &mut data, "the instance")?;
    Ok(batch(data, 1, sig))
}

struct Reader<'a> {
    doc: &'a Doc,
    sig: &'a Signature,
}

impl Reader<'_> {
    fn rows(&self, instances: &Node) -> Result<Batch, String> {
        let Some(list) = instances.items() else {
            return Err(format!(
                "\"instances\" must be a list of samples, not {}",
                instances.kind()
            ));
        };
        if list.is_empty() {
            return Err("\"instances\" is empty: give at least one sample".into());
        }
        let mut data: Vec<Vec<f32>> = self
            .sig
            .inputs
            .iter()
            .map(|i| Vec::with_capacity(list.len() * i.shape.iter().product::<usize>()))
            .collect();
        for (i, instance) in list.iter().enumerate() {
            self.instance_into(instance, &mut data, &format!("instance {i}"))?;
        }
        Ok(batch(data, list.len(), self.sig))
    }

    fn instance_into(
        &self,
        instance: &Node,
        data: &mut [Vec<f32>],
        what: &str,
    ) -> Result<(), String> {
        let sig = self.sig;
        match named(instance, sig) {
            Some(entries) => {
                check_names(entries, sig, what)?;
                for (k, spec) in sig.inputs.iter().enumerate() {
                    let value = instance
                        .get(&spec.name)
                        .ok_or_else(|| format!("{what}: no input `{}`", spec.name))?;
                    let at = format!("{what}, input `{}`", spec.name);
                    self.sample_into(value, k, &mut data[k], &at)?;
                }
                Ok(())
            }
            None if sig.inputs.len() == 1 => self.sample_into(instance, 0, &mut data[0], what),
            None => Err(format!(
                "{what}: the model has {} inputs ({}); give each sample as an object naming them",
                sig.inputs.len(),
                sig.names()
            )),
        }
    }

    fn columns(&self, inputs: &Node) -> Result<Batch, String> {
        let sig = self.sig;
        let per_input: Vec<(&Node, String)> = match named(inputs, sig) {
            Some(entries) => {
                check_names(entries, sig, "\"inputs\"")?;
                sig.inputs
                    .iter()
                    .map(|s| {
                        let value = inputs
                            .get(&s.name)
                            .ok_or_else(|| format!("\"inputs\": no input `{}`", s.name))?;
                        Ok((value, format!("\"inputs\" `{}`", s.name)))
                    })
                    .collect::<Result<_, String>>()?
            }
            None if sig.inputs.len() == 1 => vec![(inputs, "\"inputs\"".to_string())],
            None => {
                return Err(format!(
                    "\"inputs\": the model has {} inputs ({}); give an object naming them",
                    sig.inputs.len(),
                    sig.names()
                ));
            }
        };
        let mut data = vec![Vec::new(); sig.inputs.len()];
        let mut rows = None;
        for (k, (value, what)) in per_input.into_iter().enumerate() {
            let Some(samples) = value.items() else {
                return Err(format!(
                    "{what} must be a list of samples (the batch first), not {}",
                    value.kind()
                ));
            };
            match rows {
                None => rows = Some(samples.len()),
                Some(n) if n != samples.len() => {
                    return Err(format!(
                        "{what} has {} samples but the first input has {n}; every input needs \
                         the same batch size",
                        samples.len()
                    ));
                }
                Some(_) => {}
            }
            for (i, sample) in samples.iter().enumerate() {
                self.sample_into(sample, k, &mut data[k], &format!("{what}, sample {i}"))?;
            }
        }
        let rows = rows.unwrap_or(0);
        if rows == 0 {
            return Err("\"inputs\" holds no samples: give at least one".into());
        }
        Ok(batch(data, rows, sig))
    }

    /// Appends one sample of input `k` to `out`.
    fn sample_into(
        &self,
        value: &Node,
        k: usize,
        out: &mut Vec<f32>,
        what: &str,
    ) -> Result<(), String> {
        let spec = &self.sig.inputs[k];
        if let Some(b64) = b64_of(value) {
            return image_into(b64, spec, out, what);
        }
        if let (Some(tv), Node::Str(text)) = (self.sig.text.as_ref().filter(|_| k == 0), value) {
            let ids = tv
                .vectorize([text])
                .map_err(|e| format!("{what}: the text could not be read: {e}"))?;
            if ids.len() != spec.shape.iter().product::<usize>() {
                return Err(format!(
                    "{what}: the text gave {} ids but the model's input takes {:?}",
                    ids.len(),
                    spec.shape
                ));
            }
            out.extend(ids.iter());
            return Ok(());
        }
        let hint = if self.sig.is_text(k) {
            " (or a string: the model reads text)"
        } else {
            ""
        };
        let values = match value {
            Node::Tensor { dims, start } => {
                if dims.as_slice() != spec.shape {
                    return Err(format!(
                        "{what} has shape {dims:?} but the model's input `{}` takes {:?}{hint}",
                        spec.name, spec.shape
                    ));
                }
                self.doc.values(dims, *start)
            }
            Node::Number(_) => {
                return Err(format!(
                    "{what} is a number but the model's input `{}` takes {:?}{hint}",
                    spec.name, spec.shape
                ));
            }
            Node::List(_) => {
                return Err(format!(
                    "{what} is not a tensor of numbers shaped {:?}: its lists differ in length \
                     or hold other values{hint}",
                    spec.shape
                ));
            }
            other => {
                return Err(format!(
                    "{what} is {} where the model's input `{}` takes numbers shaped {:?}{hint}",
                    other.kind(),
                    spec.name,
                    spec.shape
                ));
            }
        };
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "{what}: value {bad} (in order) is not a finite 32-bit float"
            ));
        }
        out.extend_from_slice(values);
        Ok(())
    }
}

/// The entries of the object of named inputs `value` is, if it is one (not an image's
/// `{"b64": ...}`).
fn named<'a>(value: &'a Node, sig: &Signature) -> Option<&'a [(String, Node)]> {
    match value {
        Node::Map(entries)
            if b64_of(value).is_none() || sig.inputs.iter().any(|i| i.name == "b64") =>
        {
            Some(entries)
        }
        _ => None,
    }
}

fn b64_of(value: &Node) -> Option<&Node> {
    match value {
        Node::Map(entries) if entries.len() == 1 && entries[0].0 == "b64" => Some(&entries[0].1),
        _ => None,
    }
}

fn check_names(entries: &[(String, Node)], sig: &Signature, what: &str) -> Result<(), String> {
    if let Some((extra, _)) = entries
        .iter()
        .find(|(k, _)| !sig.inputs.iter().any(|i| &i.name == k))
    {
        return Err(format!(
            "{what}: `{extra}` is not an input of the model; its inputs are {}",
            sig.names()
        ));
    }
    if let Some(missing) = sig
        .inputs
        .iter()
        .find(|i| !entries.iter().any(|(k, _)| *k == i.name))
    {
        return Err(format!(
            "{what}: input `{}` is missing; the model's inputs are {}",
            missing.name,
            sig.names()
        ));
    }
    Ok(())
}

fn batch(data: Vec<Vec<f32>>, rows: usize, sig: &Signature) -> Batch {
    let arrays = data
        .into_iter()
        .zip(&sig.inputs)
        .map(|(values, spec)| {
            let mut dims = vec![rows];
            dims.extend(&spec.shape);
            // sample_into checked each sample against spec.shape and `rows` counts them
            ArrayD::from_shape_vec(IxDyn(&dims), values).expect("each sample was checked")
        })
        .collect();
    Batch { rows, arrays }
}

/// Appends a base64 PNG, resized to the input's `[h, w, c]` (or a flat square `[n]`) and
/// scaled to [0, 1].
fn image_into(b64: &Node, spec: &TensorSpec, out: &mut Vec<f32>, what: &str) -> Result<(), String> {
    let Node::Str(text) = b64 else {
        return Err(format!(
            "{what}: \"b64\" must be a base64 string, not {}",
            b64.kind()
        ));
    };
    let dims = crate::image::image_dims(&spec.shape)
        .map_err(|e| format!("{what}: the model's input `{}` takes {e}", spec.name))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{what}: \"b64\" is not base64 ({e})"))?;
    let image = crate::image::decode_png(std::io::Cursor::new(bytes))
        .map_err(|e| format!("{what}: \"b64\" is {e}"))?;
    let pixels = crate::image::pixels(&image, dims);
    out.extend(pixels.into_iter().map(|p| f32::from(p) / 255.0));
    Ok(())
}
