//! The weights file of a `.keras` archive (`model.weights.h5`), read with a pure-Rust HDF5
//! reader: each layer's variables sit in a group `<path>/vars` (datasets `0`, `1`, ...), whose
//! attribute `name` is the layer's name.

use crate::error::{Error, Result};
use hdf5_reader::Hdf5File;
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};

/// An opened weights file; `path` names it in errors.
pub(crate) struct WeightsFile {
    file: Hdf5File,
    path: PathBuf,
    bytes: u64,
}

/// One layer's variables: the `name` attribute of its `vars` group and its datasets in order.
pub(crate) struct Vars {
    pub name: Option<String>,
    pub arrays: Vec<ArrayD<f32>>,
}

impl WeightsFile {
    /// Opens the HDF5 bytes of `path` (a file, or an entry of an archive named so).
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let len = bytes.len() as u64;
        let file = Hdf5File::from_vec(bytes)
            .map_err(|e| Error::format(path, format!("not a readable HDF5 weights file: {e}")))?;
        Ok(WeightsFile {
            file,
            path: path.to_path_buf(),
            bytes: len,
        })
    }

    /// An error about the object at `at` in this file.
    pub fn error(&self, at: &str, message: impl std::fmt::Display) -> Error {
        Error::format(&self.path, format!("`{at}`: {message}"))
    }

    /// Whether the group `path` exists.
    pub fn has_group(&self, path: &str) -> bool {
        self.file.group(path).is_ok()
    }

    /// The variables of the layer saved at `path` (`layers/dense_1`), or `None` when the file
    /// has no `path/vars` group.
    pub fn vars(&self, path: &str) -> Result<Option<Vars>> {
        let at = format!("{path}/vars");
        let Ok(group) = self.file.group(&at) else {
            return Ok(None);
        };
        let name = match group.attribute("name") {
            Err(_) => None,
            Ok(attribute) => {
                let text = match attribute.read_string() {
                    Ok(text) => Ok(text),
                    Err(_) => group
                        .file_data()
                        .and_then(|data| attribute.read_vlen_string(&data, group.offset_size())),
                };
                Some(text.map_err(|e| self.error(&at, format!("its `name` attribute: {e}")))?)
            }
        };
        let datasets = group
            .datasets()
            .map_err(|e| self.error(&at, format!("cannot list its variables: {e}")))?;
        let mut numbered = Vec::with_capacity(datasets.len());
        for dataset in datasets {
            let index: usize = dataset.name().parse().map_err(|_| {
                self.error(
                    &at,
                    format!("variable `{}` is not numbered", dataset.name()),
                )
            })?;
            numbered.push((index, dataset));
        }
        numbered.sort_by_key(|(i, _)| *i);
        let mut arrays = Vec::with_capacity(numbered.len());
        for (expected, (index, dataset)) in numbered.into_iter().enumerate() {
            let at = format!("{at}/{index}");
            if index != expected {
                return Err(self.error(&at, format!("variable {expected} is missing")));
            }
            // a dataset cannot hold more data than the file: check before anything is allocated
            let shape: Vec<usize> = dataset.shape().iter().map(|&d| d as usize).collect();
            let elements = dataset
                .shape()
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .filter(|&n| n.saturating_mul(2) <= self.bytes)
                .ok_or_else(|| {
                    self.error(
                        &at,
                        format!(
                            "its shape {:?} needs more bytes than the file's {}; the file is \
                             damaged",
                            dataset.shape(),
                            self.bytes
                        ),
                    )
                })?;
            // float32 weights; float64 ones, and integer counters (an adapted Normalization's
            // `count`), as float32
            let array = dataset
                .read_array::<f32>()
                .or_else(|_| dataset.read_array::<f64>().map(|a| a.mapv(|v| v as f32)))
                .or_else(|_| dataset.read_array::<i64>().map(|a| a.mapv(|v| v as f32)))
                .map_err(|e| self.error(&at, format!("cannot read it as numbers: {e}")))?;
            if array.len() as u64 != elements {
                return Err(self.error(&at, "its data does not fill its shape"));
            }
            let array = array
                .into_shape_with_order(IxDyn(&shape))
                .map_err(|e| self.error(&at, e))?;
            arrays.push(array);
        }
        Ok(Some(Vars { name, arrays }))
    }
}
