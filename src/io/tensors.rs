//! Safetensors files: named tensors and a string-to-string metadata map, read and written with
//! the `safetensors` crate (the reference implementation of the format).
//!
//! kiln writes a SHA-256 digest of the tensors (each one's name, dtype, shape and bytes, in
//! name order) into the metadata (`kiln.sha256`) and checks it on reading, so that a damaged
//! file is an error rather than weights silently wrong. Files from other tools, without the
//! digest, are read as they are.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// A tensor to write: `f32` weights, an `i64` counter (PyTorch's `num_batches_tracked`), or
/// raw bytes (a `u8` vector).
#[derive(Debug)]
pub(crate) enum Out {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
    U8(Vec<u8>),
}

/// A tensor read back: its dtype and shape, its values when they are `f32`, its bytes when
/// they are `u8`.
#[derive(Debug)]
pub(crate) struct Entry {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub values: Option<ArrayD<f32>>,
    pub bytes: Option<Vec<u8>>,
}

/// A whole file read back.
#[derive(Debug)]
pub(crate) struct TensorFile {
    /// The tensors in the file's order (sorted by name).
    pub tensors: Vec<(String, Entry)>,
    /// The `__metadata__` map (empty when the file has none).
    pub metadata: HashMap<String, String>,
}

/// The metadata key of the tensors' digest.
pub(crate) const DIGEST_KEY: &str = "kiln.sha256";

/// The SHA-256 of `tensors` (name, dtype, shape, bytes), taken in name order, in hex.
fn digest<'a>(
    tensors: impl IntoIterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    let mut sorted: Vec<_> = tensors.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hash = Sha256::new();
    for (name, dtype, shape, data) in sorted {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update(format!("{dtype:?}").as_bytes());
        hash.update((shape.len() as u64).to_le_bytes());
        for d in shape {
            hash.update((*d as u64).to_le_bytes());
        }
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(data);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `tensors` and `metadata` to `path` atomically.
pub(crate) fn write(
    path: &Path,
    tensors: Vec<(String, Out)>,
    mut metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, t)| match t {
            Out::F32(a) => {
                let data = a.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name, Dtype::F32, a.shape().to_vec(), data)
            }
            Out::I64(a) => {
                let data = a.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name, Dtype::I64, a.shape().to_vec(), data)
            }
            Out::U8(bytes) => (name, Dtype::U8, vec![bytes.len()], bytes),
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data).map(|v| (name.as_str(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::format(path, format!("cannot encode a tensor: {e}")))?;
    let sum = digest(bytes.iter().map(|(name, dtype, shape, data)| {
        (name.as_str(), *dtype, shape.as_slice(), data.as_slice())
    }));
    metadata.insert(DIGEST_KEY.to_string(), sum);
    let metadata = Some(metadata);
    let encoded = safetensors::serialize(views, metadata)
        .map_err(|e| Error::format(path, format!("cannot encode the file: {e}")))?;
    write_atomic(path, &encoded)
}

/// Reads a safetensors file, checking its header against its size.
pub(crate) fn read(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let parsed = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::format(
            path,
            format!(
                "not a readable safetensors file ({e}); it may be truncated, damaged or of \
                 another format: save it again"
            ),
        )
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("unreadable safetensors header: {e}")))?;
    if let Some(expected) = header.metadata().as_ref().and_then(|m| m.get(DIGEST_KEY)) {
        let views = parsed.tensors();
        let found = digest(
            views
                .iter()
                .map(|(name, view)| (name.as_str(), view.dtype(), view.shape(), view.data())),
        );
        if &found != expected {
            return Err(Error::format(
                path,
                "its tensors do not match the SHA-256 digest written with them (`kiln.sha256`): \
                 the file is damaged; save it again or use another copy",
            ));
        }
    }
    let mut tensors: Vec<(String, Entry)> = parsed
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let shape = view.shape().to_vec();
            let values = if view.dtype() == Dtype::F32 {
                let v: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                // safetensors checked the sizes; ndarray also refuses a shape spanning more
                // than isize::MAX elements, which a 0 beside huge dimensions can claim
                let array = ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| {
                    Error::format(path, format!("tensor `{name}` of shape {shape:?}: {e}"))
                })?;
                Some(array)
            } else {
                None
            };
            let bytes = (view.dtype() == Dtype::U8).then(|| view.data().to_vec());
            let entry = Entry {
                dtype: view.dtype(),
                shape,
                values,
                bytes,
            };
            Ok((name, entry))
        })
        .collect::<Result<_>>()?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(TensorFile {
        tensors,
        metadata: header.metadata().clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("kiln-tensors-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trip_keeps_values_shapes_dtypes_and_metadata() {
        let path = temp("rt.safetensors");
        let a =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.5, 3.0, 0.0, 1e-8, 7.0]).unwrap();
        let n = ArrayD::from_elem(IxDyn(&[]), 42i64);
        let meta = HashMap::from([("k".to_string(), "v".to_string())]);
        write(
            &path,
            vec![("w".into(), Out::F32(a.clone())), ("n".into(), Out::I64(n))],
            meta,
        )
        .unwrap();
        let file = read(&path).unwrap();
        assert_eq!(file.metadata["k"], "v");
        let names: Vec<_> = file.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["n", "w"]);
        assert_eq!(file.tensors[0].1.dtype, Dtype::I64);
        assert!(file.tensors[0].1.values.is_none());
        assert_eq!(file.tensors[1].1.values.as_ref().unwrap(), &a);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn the_bytes_follow_the_published_layout() {
        // 8-byte little-endian header length, JSON header, then raw little-endian data
        let path = temp("layout.safetensors");
        let a = ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.0f32, 2.0]).unwrap();
        write(&path, vec![("x".into(), Out::F32(a))], HashMap::new()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["x"]["dtype"], "F32");
        assert_eq!(header["x"]["shape"], serde_json::json!([2]));
        assert_eq!(header["x"]["data_offsets"], serde_json::json!([0, 8]));
        assert_eq!(
            &bytes[8 + n..],
            [1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat()
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn garbage_and_truncation_are_errors_naming_the_file() {
        let path = temp("bad.safetensors");
        std::fs::write(&path, b"definitely not tensors").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("bad.safetensors") && e.contains("safetensors"),
            "{e}"
        );
        let a = ArrayD::from_shape_vec(IxDyn(&[4]), vec![1.0f32; 4]).unwrap();
        write(&path, vec![("x".into(), Out::F32(a))], HashMap::new()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
