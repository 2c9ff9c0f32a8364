//! Running the Python scripts of `tests/interop/`: finding an interpreter that has what a script
//! imports, preparing the MNIST samples and writing the tensors it reads, and running it.
// each test binary that includes this module uses a part of it
#![allow(dead_code)]

use ndarray::{Array1, Array3, ArrayD, Axis, IxDyn};
use safetensors::tensor::TensorView;
use std::path::Path;
use std::process::{Command, Stdio};

/// The interpreter named by the environment variable `var` (default `python3`) when it can
/// import `modules` (a comma-separated list, as `import` takes it).
///
/// When it cannot, the test is skipped (`None`, with a `SKIPPED` line), unless the environment
/// sets `require` (`.ci/run` does): then it fails.
pub fn interpreter(var: &str, modules: &str, require: &str) -> Option<String> {
    let python = std::env::var(var).unwrap_or_else(|_| "python3".into());
    let ready = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ready {
        return Some(python);
    }
    assert!(
        std::env::var(require).is_err(),
        "{python} (${var}) cannot import {modules}, and ${require} is set"
    );
    eprintln!("SKIPPED: {python} (${var}) cannot import {modules}");
    None
}

/// The first `n` images of `x` in [0, 1], shaped `[n, ..sample]` (a model's input).
pub fn images(x: &Array3<u8>, n: usize, sample: &[usize]) -> ArrayD<f32> {
    let dims: Vec<usize> = [n].iter().chain(sample).copied().collect();
    x.slice_axis(Axis(0), (0..n).into())
        .mapv(|v| v as f32 / 255.0)
        .into_shape_with_order(IxDyn(&dims))
        .unwrap()
}

/// The first `n` labels of `y`, one-hot over the 10 digits.
pub fn one_hot(y: &Array1<u8>, n: usize) -> ArrayD<f32> {
    let labels = y.slice_axis(Axis(0), (0..n).into()).to_owned();
    kiln::to_categorical(labels.as_slice().unwrap(), 10)
        .unwrap()
        .into_dyn()
}

/// The `f32` entries of a safetensors file, by name.
pub fn read_tensors(path: &Path) -> Vec<(String, ArrayD<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let array = ArrayD::from_shape_vec(IxDyn(view.shape()), values).unwrap();
            (name, array)
        })
        .collect()
}

/// Writes `tensors` as `f32` entries of a safetensors file.
pub fn write_tensors(path: &Path, tensors: &[(&str, &ArrayD<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, a)| a.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, a), b)| {
        let view = TensorView::new(safetensors::Dtype::F32, a.shape().to_vec(), b).unwrap();
        (*name, view)
    });
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Runs `script` (a path below the crate's root) with `args`, and returns what it printed,
/// failing the test with that text when it exits with an error.
pub fn run(python: &str, script: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{} failed:\n{text}", script.display());
    text
}
