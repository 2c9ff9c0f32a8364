//! Where training and test data come from, and how they are shaped for a model.

use crate::npy::{read_npy, read_npz};
use kiln::training::PerOutput;
use kiln::{Loss, Model};
use ndarray::{ArrayD, Axis, IxDyn};
use std::path::Path;

/// Samples (first axis) and their labels.
pub struct Split {
    pub x: ArrayD<f32>,
    /// Class labels `[n]` or targets `[n, ...]`.
    pub y: ArrayD<f32>,
}

/// A data set: training samples, test samples when the source has them, and whether the
/// samples are bytes (scaled to [0, 1] before use, as images are).
pub struct Dataset {
    pub train: Split,
    pub test: Option<Split>,
    pub bytes: bool,
}

/// Reads `source`: `mnist` (kiln's loader), a directory of the four MNIST-named IDX files, a
/// `.npz` (`x_train`, `y_train`, and optionally `x_test`, `y_test`; or `x`, `y`), a pair
/// `X.npy,Y.npy`, or a `.csv` with a header and a label column.
pub fn load(source: &str, label_column: &str) -> Result<Dataset, String> {
    if source == "mnist" {
        let m = kiln::datasets::mnist::load_data().map_err(|e| e.to_string())?;
        return Ok(from_mnist(m));
    }
    if let Some((x, y)) = source.split_once(',') {
        let (x, y) = (read_npy(Path::new(x))?, read_npy(Path::new(y))?);
        return Ok(Dataset {
            bytes: x.bytes,
            train: Split {
                x: x.array,
                y: y.array,
            },
            test: None,
        });
    }
    let path = Path::new(source);
    if path.is_dir() {
        let m = kiln::datasets::mnist::load_idx_dir(path).map_err(|e| e.to_string())?;
        return Ok(from_mnist(m));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => npz(path),
        Some("csv") => csv(path, label_column),
        _ => Err(format!(
            "`{source}` is not a data source: use mnist, a directory of IDX files, a .npz, \
             X.npy,Y.npy or a .csv"
        )),
    }
}

fn from_mnist(m: kiln::datasets::mnist::Mnist) -> Dataset {
    let f = |a: ArrayD<u8>| a.mapv(|v| v as f32);
    Dataset {
        train: Split {
            x: f(m.x_train.into_dyn()),
            y: f(m.y_train.into_dyn()),
        },
        test: Some(Split {
            x: f(m.x_test.into_dyn()),
            y: f(m.y_test.into_dyn()),
        }),
        bytes: true,
    }
}

fn npz(path: &Path) -> Result<Dataset, String> {
    let mut arrays = read_npz(path)?;
    let mut take = |name: &str| {
        arrays
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| arrays.remove(i).1)
    };
    let (x, y) = match (take("x_train"), take("y_train")) {
        (Some(x), Some(y)) => (x, y),
        _ => match (take("x"), take("y")) {
            (Some(x), Some(y)) => (x, y),
            _ => {
                return Err(format!(
                    "{}: the archive needs x_train and y_train (or x and y)",
                    path.display()
                ));
            }
        },
    };
    let test = match (take("x_test"), take("y_test")) {
        (Some(x), Some(y)) => Some(Split {
            x: x.array,
            y: y.array,
        }),
        _ => None,
    };
    Ok(Dataset {
        bytes: x.bytes,
        train: Split {
            x: x.array,
            y: y.array,
        },
        test,
    })
}

fn csv(path: &Path, label_column: &str) -> Result<Dataset, String> {
    let at = |line: usize, e: String| format!("{}:{line}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| format!("{}: the file is empty", path.display()))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let label = names
        .iter()
        .position(|n| *n == label_column)
        .ok_or_else(|| {
            format!(
                "{}: no column `{label_column}` in the header ({}); name the label column with \
             --label-column",
                path.display(),
                names.join(", ")
            )
        })?;
    let (mut xs, mut ys, mut rows) = (Vec::new(), Vec::new(), 0);
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(at(
                i + 1,
                format!("{} values for {} columns", cells.len(), names.len()),
            ));
        }
        for (j, cell) in cells.iter().enumerate() {
            let v: f32 = cell.parse().map_err(|_| {
                at(
                    i + 1,
                    format!("`{cell}` in column `{}` is not a number", names[j]),
                )
            })?;
            if j == label {
                ys.push(v);
            } else {
                xs.push(v);
            }
        }
        rows += 1;
    }
    let features = names.len() - 1;
    Ok(Dataset {
        train: Split {
            x: ArrayD::from_shape_vec(IxDyn(&[rows, features]), xs)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            y: ArrayD::from_shape_vec(IxDyn(&[rows]), ys)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        },
        test: None,
        bytes: false,
    })
}

/// `x` shaped for the model's input (`[n, ...input]`), scaled to [0, 1] when it holds bytes.
pub fn inputs(model: &Model, x: &ArrayD<f32>, bytes: bool) -> Result<ArrayD<f32>, String> {
    let input = model.graph().inputs()[0].shape.dims().to_vec();
    let n = x.shape()[0];
    let per_sample: usize = x.shape()[1..].iter().product();
    let wanted: usize = input.iter().product();
    if per_sample != wanted {
        return Err(format!(
            "the data's samples have shape {:?} ({per_sample} values) but the model's input is \
             {:?} ({wanted} values)",
            &x.shape()[1..],
            input
        ));
    }
    let mut dims = vec![n];
    dims.extend(input);
    let x = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&dims))
        .map_err(|e| e.to_string())?;
    Ok(if bytes { x.mapv(|v| v / 255.0) } else { x })
}

/// The loss of a compiled model with one output.
pub fn loss(model: &Model) -> Result<Loss, String> {
    let compile = model
        .compile_config()
        .ok_or("the model is not compiled; give --optimizer and --loss")?;
    Ok(match &compile.loss {
        PerOutput::All(l) => l.loss,
        PerOutput::List(l) if l.len() == 1 => l[0].loss,
        PerOutput::Named(l) if l.len() == 1 => match l.values().next() {
            Some(one) => one.loss,
            None => return Err("the model's loss names no output".into()),
        },
        _ => return Err("the kiln command takes models with one output".into()),
    })
}

/// Targets for the model's loss: class labels one-hot for categorical crossentropy, as they
/// are for the sparse one, and shaped like the output otherwise.
pub fn targets(model: &Model, y: &ArrayD<f32>) -> Result<ArrayD<f32>, String> {
    let outputs = model.graph().output_shapes()[0].dims().to_vec();
    match loss(model)? {
        Loss::CategoricalCrossentropy if y.ndim() == 1 => {
            let classes = *outputs.last().unwrap_or(&1);
            if let Some(bad) = y
                .iter()
                .find(|v| !(v.fract() == 0.0 && **v >= 0.0 && (**v as usize) < classes))
            {
                return Err(format!(
                    "label {bad} is not a class of the model's {classes} outputs (0 to {})",
                    classes.saturating_sub(1)
                ));
            }
            // each label is a whole number in 0..classes, checked above
            let labels: Vec<usize> = y.iter().map(|v| *v as usize).collect();
            let mut one_hot = ArrayD::zeros(IxDyn(&[labels.len(), classes]));
            for (i, l) in labels.iter().enumerate() {
                one_hot[[i, *l]] = 1.0;
            }
            Ok(one_hot)
        }
        _ => Ok(y.clone()),
    }
}

/// The last `fraction` of `split`, split off (Keras' validation_split takes the last samples).
pub fn split_off(split: &Split, fraction: f64) -> (Split, Split) {
    let n = split.x.shape()[0];
    let cut = n - ((n as f64 * fraction) as usize);
    let part =
        |a: &ArrayD<f32>, r: std::ops::Range<usize>| a.slice_axis(Axis(0), r.into()).to_owned();
    (
        Split {
            x: part(&split.x, 0..cut),
            y: part(&split.y, 0..cut),
        },
        Split {
            x: part(&split.x, cut..n),
            y: part(&split.y, cut..n),
        },
    )
}
