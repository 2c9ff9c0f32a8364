//! Where Keras 3 keeps each layer's weights in `model.weights.h5`, matched with kiln's weights.
//!
//! Keras names a layer's group after its class, not its name: the layers of a model are
//! `layers/<class in snake case>`, numbered from the second of a class on (`layers/dense`,
//! `layers/dense_1`), in the order of `model.layers`; a nested model's layers are below its
//! own group (`layers/sequential/layers/dense`). A layer's own variables are in `vars`; a
//! recurrent layer keeps them in its cell (`cell/vars`), Bidirectional in its two copies
//! (`forward_layer/...`, `backward_layer/...`), TimeDistributed in its layer (`layer/vars`).
//! The `vars` group's `name` attribute is the layer's name, checked against the
//! configuration's. The variables are in Keras' order, which is kiln's order of the layer's
//! weights; each shape is checked. A layer that took its variables as state (an adapted
//! `Normalization`'s statistics, see [`KerasState`](crate::io::keras::KerasState)) has none
//! read here.

use crate::error::{Error, Result};
use crate::io::keras::config::Saved;
use crate::io::keras::h5::WeightsFile;
use ndarray::ArrayD;
use std::collections::HashMap;

/// Sub-objects whose variables belong to the layer, in kiln's order of its weights.
const CHILDREN: [&str; 4] = ["cell", "forward_layer", "backward_layer", "layer"];

/// Keras' `naming.to_snake_case`: `Conv2D` → `conv2d`, `MaxPooling2D` → `max_pooling2d`,
/// `LSTM` → `lstm`, `BatchNormalization` → `batch_normalization`.
pub(crate) fn snake_case(class: &str) -> String {
    let chars: Vec<char> = class
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // (.)([A-Z][a-z]+) → \1_\2
    let mut first = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let upper_then_lower = chars.get(i + 1).is_some_and(char::is_ascii_uppercase)
            && chars.get(i + 2).is_some_and(char::is_ascii_lowercase);
        if upper_then_lower {
            let mut end = i + 2;
            while chars.get(end).is_some_and(char::is_ascii_lowercase) {
                end += 1;
            }
            first.push(chars[i]);
            first.push('_');
            first.extend(&chars[i + 1..end]);
            i = end;
        } else {
            first.push(chars[i]);
            i += 1;
        }
    }
    // ([a-z])([A-Z]) → \1_\2
    let mut out = String::new();
    let mut i = 0;
    while i < first.len() {
        if first[i].is_ascii_lowercase() && first.get(i + 1).is_some_and(char::is_ascii_uppercase) {
            out.push(first[i]);
            out.push('_');
            out.push(first[i + 1]);
            i += 2;
        } else {
            out.push(first[i]);
            i += 1;
        }
    }
    out.to_lowercase()
}

/// Keras' names for the groups of a model's layers, in the order of `model.layers`
/// (`_get_unique_name`): `layers/dense`, then `layers/dense_1`, `layers/dense_2`...
#[derive(Default)]
pub(crate) struct GroupNames(HashMap<String, usize>);

impl GroupNames {
    /// The group of the next layer, of class `class`, below `prefix` (`""` or a nested
    /// model's group and `/`).
    pub fn next(&mut self, prefix: &str, class: &str) -> String {
        let base = snake_case(class);
        let count = self
            .0
            .entry(base.clone())
            .and_modify(|n| *n += 1)
            .or_insert(0);
        if *count == 0 {
            format!("{prefix}layers/{base}")
        } else {
            format!("{prefix}layers/{base}_{count}")
        }
    }
}

/// The weights of `saved` (a model's `model.layers`) found in `file` below `prefix`, named as
/// kiln names them: `expected` is every weight of the kiln model (names and shapes, in order),
/// those of a layer under `kiln_prefix` + its name (`encoder/` for a nested model's layers).
/// With `check_names`, each `vars` group's `name` attribute must be the layer's name.
pub(crate) fn collect(
    file: &WeightsFile,
    saved: &[Saved],
    (prefix, kiln_prefix): (&str, &str),
    expected: &[(String, Vec<usize>)],
    check_names: bool,
    out: &mut Vec<(String, ArrayD<f32>)>,
) -> Result<()> {
    let mut used = GroupNames::default();
    for layer in saved {
        let path = used.next(prefix, &layer.class);
        if !layer.has_layer {
            continue;
        }
        let own = format!("{kiln_prefix}{}/", layer.name);
        if let Some(inner) = &layer.nested {
            let at = format!("{path}/");
            collect(file, inner, (&at, &own), expected, check_names, out)?;
            continue;
        }
        let want: Vec<(String, Vec<usize>)> = expected
            .iter()
            .filter(|(name, _)| name.starts_with(&own))
            .cloned()
            .collect();
        let mut arrays = Vec::new();
        let name = check_names.then_some(layer.name.as_str());
        if !layer.state {
            gather(file, &path, name, &mut arrays)?;
        }
        if arrays.len() != want.len() {
            return Err(mismatch(
                file,
                &path,
                format!(
                    "layer `{}` ({}) has {} weights in kiln ({:?}) but {} in the file",
                    layer.name,
                    layer.class,
                    want.len(),
                    want.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                    arrays.len()
                ),
            ));
        }
        for ((name, shape), array) in want.into_iter().zip(arrays) {
            if array.shape() != shape.as_slice() {
                return Err(mismatch(
                    file,
                    &path,
                    format!(
                        "weight `{name}` has shape {shape:?} in kiln but {:?} in the file",
                        array.shape()
                    ),
                ));
            }
            out.push((name, array));
        }
    }
    Ok(())
}

/// The variables saved at `path` and below it, in kiln's order; `name`, when given, must be
/// the `vars` group's `name` attribute.
fn gather(
    file: &WeightsFile,
    path: &str,
    name: Option<&str>,
    out: &mut Vec<ArrayD<f32>>,
) -> Result<()> {
    if !file.has_group(path) {
        return Err(mismatch(file, path, "the file has no such group".into()));
    }
    if let Some(vars) = file.vars(path)? {
        if let (Some(expected), Some(found)) = (name, &vars.name)
            && expected != found
        {
            return Err(mismatch(
                file,
                path,
                format!(
                    "the file names this layer `{found}`, the configuration `{expected}`; the \
                     two parts of the archive do not belong together"
                ),
            ));
        }
        out.extend(vars.arrays);
    }
    for child in CHILDREN {
        let at = format!("{path}/{child}");
        if file.has_group(&at) {
            gather(file, &at, None, out)?;
        }
    }
    Ok(())
}

fn mismatch(file: &WeightsFile, path: &str, message: String) -> Error {
    file.error(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_in_snake_case_as_keras_writes_them() {
        for (class, snake) in [
            ("Dense", "dense"),
            ("Conv2D", "conv2d"),
            ("Conv1D", "conv1d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("GlobalAveragePooling1D", "global_average_pooling1d"),
            ("BatchNormalization", "batch_normalization"),
            ("LSTM", "lstm"),
            ("GRU", "gru"),
            ("SimpleRNN", "simple_rnn"),
            ("TimeDistributed", "time_distributed"),
            ("InputLayer", "input_layer"),
            ("Functional", "functional"),
        ] {
            assert_eq!(snake_case(class), snake, "{class}");
        }
    }
}
