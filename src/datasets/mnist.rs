//! MNIST, read from the four standard IDX files, like Keras' `keras.datasets.mnist`.
//!
//! [`load_data`] reads them from `KILN_DATA_DIR` when it is set; otherwise from
//! `~/.kiln/datasets/mnist`, downloading them there first when they are missing. Every file is
//! checked against the SHA-256 of the standard release (of its uncompressed content, so any
//! gzip of it will do). [`subset`] is a small real part of MNIST shipped inside the crate.

use crate::datasets::download::fetch;
use crate::datasets::idx::{self, Idx};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use ndarray::{Array1, Array3};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The environment variable naming a directory that holds the MNIST files.
pub const DATA_DIR_ENV: &str = "KILN_DATA_DIR";

/// The environment variable naming a base address to download from instead of the built-in
/// mirrors (a local copy, say).
pub const MIRROR_ENV: &str = "KILN_MNIST_MIRROR";

const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// The four files, and the SHA-256 of each one's uncompressed content.
const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// MNIST's train and test splits: 28×28 grey images (0–255) and their digits (0–9).
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// Training images, `[60000, 28, 28]`.
    pub x_train: Array3<u8>,
    /// Training labels, `[60000]`.
    pub y_train: Array1<u8>,
    /// Test images, `[10000, 28, 28]`.
    pub x_test: Array3<u8>,
    /// Test labels, `[10000]`.
    pub y_test: Array1<u8>,
}

/// Loads MNIST from `KILN_DATA_DIR`, or from the cache directory, downloading it when needed.
pub fn load_data() -> Result<Mnist> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => load_data_from(PathBuf::from(dir)),
        _ => {
            let dir = cache_dir()?;
            download_missing(&dir)?;
            load_data_from(dir)
        }
    }
}

/// Loads MNIST from `dir`, which holds the four files, gzipped (`.gz`) or not. Never downloads.
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<Mnist> {
    let dir = dir.as_ref();
    let [xtr, ytr, xte, yte] = FILES.map(|(name, sha)| read(dir, name, Some(sha)));
    assemble(xtr?, ytr?, xte?, yte?, dir)
}

/// The four MNIST-named IDX files of `dir` (gzipped or not), without checking that they are
/// the official ones: Fashion-MNIST, a subset, or any data laid out the same way.
pub fn load_idx_dir(dir: impl AsRef<Path>) -> Result<Mnist> {
    let dir = dir.as_ref();
    let [xtr, ytr, xte, yte] = FILES.map(|(name, _)| read(dir, name, None));
    assemble(xtr?, ytr?, xte?, yte?, dir)
}

/// A small real part of MNIST shipped inside the crate: the first 2,000 training and the
/// first 500 test images, for tests and for running examples offline.
pub fn subset() -> Result<Mnist> {
    let here = Path::new("<kiln mnist subset>");
    let parse = |bytes: &[u8]| idx::parse(&idx::decompress(bytes, here)?, here);
    assemble(
        parse(include_bytes!("mnist_subset/train-images-idx3-ubyte.gz"))?,
        parse(include_bytes!("mnist_subset/train-labels-idx1-ubyte.gz"))?,
        parse(include_bytes!("mnist_subset/t10k-images-idx3-ubyte.gz"))?,
        parse(include_bytes!("mnist_subset/t10k-labels-idx1-ubyte.gz"))?,
        here,
    )
}

/// Where [`load_data`] keeps downloaded files: `$KILN_HOME/datasets/mnist`, else
/// `~/.kiln/datasets/mnist`.
pub fn cache_dir() -> Result<PathBuf> {
    let base = match (std::env::var_os("KILN_HOME"), std::env::var_os("HOME")) {
        (Some(k), _) if !k.is_empty() => PathBuf::from(k),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".kiln"),
        _ => {
            return Err(Error::config(
                "MNIST cache",
                format!(
                    "neither KILN_HOME nor HOME is set; set {DATA_DIR_ENV} to a directory holding the MNIST files"
                ),
            ));
        }
    };
    Ok(base.join("datasets").join("mnist"))
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn missing_error(dir: &Path, why: &str) -> Error {
    let names: Vec<String> = FILES.iter().map(|(n, _)| format!("{n}.gz")).collect();
    Error::format(
        dir,
        format!(
            "MNIST is not here ({why}); put the four files {} in this directory, or set \
             {DATA_DIR_ENV} to a directory that holds them",
            names.join(", ")
        ),
    )
}

/// Reads and checks one file: its hash when `sha` is given, its IDX structure always.
fn read(dir: &Path, name: &str, sha: Option<&str>) -> Result<Idx> {
    let path = find(dir, name).ok_or_else(|| missing_error(dir, &format!("{name} is missing")))?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let raw = idx::decompress(&bytes, &path)?;
    if let Some(expected) = sha {
        let got = hex(&Sha256::digest(&raw));
        if got != expected {
            return Err(Error::format(
                &path,
                format!("its content has SHA-256 {got}, not MNIST's {expected}; replace the file"),
            ));
        }
    }
    idx::parse(&raw, &path)
}

fn assemble(xtr: Idx, ytr: Idx, xte: Idx, yte: Idx, dir: &Path) -> Result<Mnist> {
    let images = |i: Idx, what: &str| {
        let (n, h, w) = match i.dims[..] {
            [n, h, w] => (n, h, w),
            _ => return Err(Error::format(dir, format!("{what} are not [n, 28, 28]"))),
        };
        Array3::from_shape_vec((n, h, w), i.data).map_err(|e| Error::format(dir, e.to_string()))
    };
    let labels = |i: Idx, what: &str| match i.dims[..] {
        [n] => Array1::from_shape_vec(n, i.data).map_err(|e| Error::format(dir, e.to_string())),
        _ => Err(Error::format(
            dir,
            format!("{what} are not one-dimensional"),
        )),
    };
    let m = Mnist {
        x_train: images(xtr, "training images")?,
        y_train: labels(ytr, "training labels")?,
        x_test: images(xte, "test images")?,
        y_test: labels(yte, "test labels")?,
    };
    if m.x_train.shape()[0] != m.y_train.len() || m.x_test.shape()[0] != m.y_test.len() {
        return Err(Error::format(dir, "images and labels differ in number"));
    }
    Ok(m)
}

/// Downloads into `dir` every file not there yet, from `KILN_MNIST_MIRROR` or the mirrors.
fn download_missing(dir: &Path) -> Result<()> {
    let mirrors: Vec<String> = match std::env::var(MIRROR_ENV) {
        Ok(m) if !m.is_empty() => vec![if m.ends_with('/') { m } else { format!("{m}/") }],
        _ => MIRRORS.iter().map(|m| m.to_string()).collect(),
    };
    for (name, sha) in FILES {
        if find(dir, name).is_some() {
            continue;
        }
        let mut failures = Vec::new();
        let mut done = false;
        for mirror in &mirrors {
            let url = format!("{mirror}{name}.gz");
            match fetch(&url).and_then(|bytes| verify(&bytes, sha, &url).map(|_| bytes)) {
                Ok(bytes) => {
                    write_atomic(&dir.join(format!("{name}.gz")), &bytes)?;
                    done = true;
                    break;
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        if !done {
            return Err(missing_error(
                dir,
                &format!("{name}.gz could not be downloaded: {}", failures.join("; ")),
            ));
        }
    }
    Ok(())
}

fn verify(bytes: &[u8], sha: &str, url: &str) -> Result<()> {
    let raw = idx::decompress(bytes, Path::new(url))?;
    let got = hex(&Sha256::digest(&raw));
    if got == sha {
        Ok(())
    } else {
        Err(Error::Download {
            url: url.to_string(),
            message: format!("content has SHA-256 {got}, expected {sha}"),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_is_real_mnist() {
        let m = subset().unwrap();
        assert_eq!(m.x_train.shape(), &[2000, 28, 28]);
        assert_eq!(m.y_test.len(), 500);
        // the first training digit of MNIST is a 5, the first test digit a 7
        assert_eq!(m.y_train[0], 5);
        assert_eq!(m.y_test[0], 7);
        assert!(m.y_train.iter().all(|y| *y < 10));
    }

    #[test]
    fn a_missing_directory_says_where_to_put_the_files() {
        let e = load_data_from("/nonexistent/mnist")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/mnist"), "{e}");
        assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
        assert!(e.contains(DATA_DIR_ENV), "{e}");
    }

    #[test]
    fn a_corrupt_file_is_refused_by_its_hash() {
        let dir = std::env::temp_dir().join(format!("kiln-mnist-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, _) in FILES {
            std::fs::write(dir.join(name), [0u8, 0, 8, 1, 0, 0, 0, 1, 7]).unwrap();
        }
        let e = load_data_from(&dir).unwrap_err().to_string();
        assert!(e.contains("SHA-256"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
