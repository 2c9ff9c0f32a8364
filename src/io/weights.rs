//! Matching the tensors of a file to a model's weights, reporting every mismatch at once.

use crate::error::{Error, Result};
use crate::io::tensors::TensorFile;
use ndarray::ArrayD;
use safetensors::Dtype;
use std::path::Path;

/// Named weights, in Keras' layouts.
pub(crate) type Weights = Vec<(String, ArrayD<f32>)>;

/// The tensors of `file` that replace `expected` (the model's weights, by name), and the names
/// skipped.
///
/// Every weight must be in the file as an `f32` tensor of the model's shape, and every tensor of
/// the file must be a weight of the model. Each mismatch is listed in one error, unless
/// `skip_mismatch`: then mismatched and unknown tensors are skipped (and named in the second
/// list) and missing weights keep their values.
pub(crate) fn match_weights(
    path: &Path,
    file: TensorFile,
    expected: &[(String, ArrayD<f32>)],
    skip_mismatch: bool,
) -> Result<(Weights, Vec<String>)> {
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let mut found = Vec::new();
    let mut entries = file.tensors;
    for (name, current) in expected {
        let Some(i) = entries.iter().position(|(n, _)| n == name) else {
            problems.push(format!("`{name}` is missing"));
            continue;
        };
        let (_, entry) = entries.swap_remove(i);
        let problem = if entry.dtype != Dtype::F32 {
            Some(format!("`{name}` is {:?}, not F32", entry.dtype))
        } else if entry.shape != current.shape() {
            Some(format!(
                "`{name}` has shape {:?} in the file but {:?} in the model",
                entry.shape,
                current.shape()
            ))
        } else {
            None
        };
        match (problem, entry.values) {
            (None, Some(values)) => found.push((name.clone(), values)),
            (Some(p), _) => {
                skipped.push(name.clone());
                problems.push(p);
            }
            // the reader gives values to every F32 entry, and other dtypes are a problem above
            (None, None) => unreachable!("f32 entries carry their values"),
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, _) in entries {
        problems.push(format!("`{name}` is not a weight of this model"));
        skipped.push(name);
    }
    if !problems.is_empty() && !skip_mismatch {
        let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::format(
            path,
            format!(
                "its weights do not fit this model ({}): {}. The model's weights are {names:?}; \
                 load the file into the architecture it was saved from",
                plural(problems.len(), "problem"),
                problems.join("; ")
            ),
        ));
    }
    Ok((found, skipped))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::tensors::Entry;
    use ndarray::IxDyn;

    fn f32_entry(shape: &[usize]) -> Entry {
        Entry {
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            values: Some(ArrayD::zeros(IxDyn(shape))),
            bytes: None,
        }
    }

    fn model() -> Vec<(String, ArrayD<f32>)> {
        vec![
            ("d/kernel".into(), ArrayD::zeros(IxDyn(&[2, 3]))),
            ("d/bias".into(), ArrayD::zeros(IxDyn(&[3]))),
            ("e/kernel".into(), ArrayD::zeros(IxDyn(&[3, 1]))),
        ]
    }

    fn file() -> TensorFile {
        TensorFile {
            tensors: vec![
                ("d/kernel".into(), f32_entry(&[2, 4])),
                (
                    "d/bias".into(),
                    Entry {
                        dtype: Dtype::F64,
                        shape: vec![3],
                        values: None,
                        bytes: None,
                    },
                ),
                ("extra".into(), f32_entry(&[1])),
            ],
            metadata: Default::default(),
        }
    }

    #[test]
    fn every_mismatch_is_reported_in_one_error() {
        let e = match_weights(Path::new("w.safetensors"), file(), &model(), false)
            .unwrap_err()
            .to_string();
        for part in [
            "w.safetensors",
            "4 problems",
            "`d/kernel` has shape [2, 4] in the file but [2, 3]",
            "`d/bias` is F64",
            "`e/kernel` is missing",
            "`extra` is not a weight",
        ] {
            assert!(e.contains(part), "{part} not in {e}");
        }
    }

    #[test]
    fn skip_mismatch_loads_what_fits_and_names_the_rest() {
        let mut f = file();
        f.tensors.push(("e/kernel".into(), f32_entry(&[3, 1])));
        let (found, skipped) = match_weights(Path::new("w"), f, &model(), true).unwrap();
        let names: Vec<_> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["e/kernel"]);
        assert_eq!(skipped, ["d/kernel", "d/bias", "extra"]);
    }
}
