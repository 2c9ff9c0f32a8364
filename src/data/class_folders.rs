//! Keras' `index_directory`: a folder of class sub-folders listed as files and labels, in
//! Keras' order, shuffled with NumPy's `RandomState(seed)` and split as Keras splits them, for
//! [`ImageFolder`](crate::data::ImageFolder) and [`TextFolder`](crate::data::TextFolder).

use crate::data::numpy_shuffle::numpy_shuffle;
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};

/// How a class becomes a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelMode {
    /// The class index, for sparse losses (the default).
    Int,
    /// One-hot over the classes, for `CategoricalCrossentropy`.
    Categorical,
    /// 0 or 1 as `[1]`, for `BinaryCrossentropy` with exactly two classes.
    Binary,
    /// No targets: samples only, for `predict`.
    None,
}

/// Which part of a split folder to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subset {
    /// All files but the last `validation_split` of them (after the shuffle).
    Training,
    /// The last `validation_split` of the files.
    Validation,
}

impl LabelMode {
    /// The targets of a sample of class `label` of `classes`.
    pub(crate) fn target(self, label: usize, classes: usize) -> Vec<ArrayD<f32>> {
        match self {
            LabelMode::Int => vec![ArrayD::from_elem(IxDyn(&[]), label as f32)],
            LabelMode::Categorical => {
                let mut onehot = ArrayD::zeros(IxDyn(&[classes]));
                onehot[[label]] = 1.0;
                vec![onehot]
            }
            LabelMode::Binary => vec![ArrayD::from_elem(IxDyn(&[1]), label as f32)],
            LabelMode::None => Vec::new(),
        }
    }
}

/// The files of a folder, their classes, and the seed their shuffles use.
pub(crate) struct Listing {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) labels: Vec<usize>,
    pub(crate) class_names: Vec<String>,
    pub(crate) seed: u32,
}

impl Listing {
    /// Lists `dir` as Keras does: its class folders (`class_names`, or the visible
    /// sub-folders sorted), the files ending in `formats` in each, shuffled with `seed` when
    /// `shuffle` (a seed is drawn when none is given, unless a split needs one), then the
    /// `split` subset. `what` names the caller in errors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read(
        dir: &Path,
        class_names: Option<Vec<String>>,
        formats: &[&str],
        label_mode: LabelMode,
        shuffle: bool,
        seed: Option<u32>,
        split: Option<(f64, Subset)>,
        what: &str,
    ) -> Result<Listing> {
        let class_names = match class_names {
            Some(names) => names,
            None => sub_folders(dir)?,
        };
        let (mut files, mut labels) = (Vec::new(), Vec::new());
        for (label, class) in class_names.iter().enumerate() {
            let class_dir = dir.join(class);
            if !class_dir.is_dir() {
                return Err(Error::format(
                    dir,
                    format!("no sub-folder `{class}` for the class of that name"),
                ));
            }
            for file in files_of(&class_dir, formats)? {
                files.push(file);
                labels.push(label);
            }
        }
        if files.is_empty() {
            return Err(Error::format(
                dir,
                format!(
                    "no files ({}) in the class folders {class_names:?}",
                    formats.join(", ")
                ),
            ));
        }
        if label_mode == LabelMode::Binary && class_names.len() != 2 {
            return Err(Error::config(
                format!("{what}: label_mode"),
                format!(
                    "Binary needs exactly 2 classes, but {dir:?} has {}",
                    class_names.len()
                ),
            ));
        }
        let seed = match (seed, shuffle, split) {
            (Some(seed), _, _) => seed,
            (None, true, Some(_)) => {
                return Err(Error::config(
                    format!("{what}: seed"),
                    "a validation split of shuffled files needs a seed, so that training and \
                     validation take complementary files",
                ));
            }
            (None, _, _) => (crate::random::next_seed() % 1_000_000) as u32,
        };
        if shuffle {
            numpy_shuffle(&mut files, seed);
            numpy_shuffle(&mut labels, seed);
        }
        if let Some((fraction, subset)) = split {
            let n = files.len();
            let held = (fraction * n as f64) as usize;
            if !(fraction > 0.0 && fraction < 1.0) || held == 0 || held == n {
                return Err(Error::config(
                    format!("{what}: validation_split"),
                    format!(
                        "{fraction} of {n} files holds out {held}; give a fraction in (0, 1) \
                         that leaves files on both sides"
                    ),
                ));
            }
            let range = match subset {
                Subset::Training => 0..n - held,
                Subset::Validation => n - held..n,
            };
            files = files[range.clone()].to_vec();
            labels = labels[range].to_vec();
        }
        Ok(Listing {
            files,
            labels,
            class_names,
            seed,
        })
    }
}

/// The class folders of `dir`: its visible sub-folders, sorted.
fn sub_folders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(Error::format(
            dir,
            "no class sub-folders; put each class's images in a folder named after it",
        ));
    }
    Ok(names)
}

/// The files under `dir` ending in one of `formats` (any case), in Keras' order: folders by
/// path, files by name within each.
fn files_of(dir: &Path, formats: &[&str]) -> Result<Vec<PathBuf>> {
    let mut folders = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < folders.len() {
        let mut subs = Vec::new();
        for entry in std::fs::read_dir(&folders[i]).map_err(|e| Error::io(&folders[i], e))? {
            let entry = entry.map_err(|e| Error::io(&folders[i], e))?;
            let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if kind.is_dir() {
                subs.push(entry.path());
            }
        }
        folders.extend(subs);
        i += 1;
    }
    folders.sort_by(|a, b| a.to_string_lossy().cmp(&b.to_string_lossy()));
    let mut files = Vec::new();
    for folder in &folders {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))? {
            let entry = entry.map_err(|e| Error::io(folder, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let lower = name.to_lowercase();
            let is_file = entry.file_type().is_ok_and(|t| !t.is_dir());
            if is_file && formats.iter().any(|f| lower.ends_with(f)) {
                names.push(name);
            }
        }
        names.sort();
        files.extend(names.into_iter().map(|n| folder.join(n)));
    }
    Ok(files)
}
