//! Every ONNX file kiln's ONNX test exported (`target/tmp/onnx-cases`: the dense, CNN and
//! residual MNIST models, the two-input model, the layer zoo and the sequence models) runs in
//! tract and computes what kiln's `predict` did within 1e-5, on the same 100 MNIST test images.
//!
//! Run kiln's test first: `cargo test --release --test onnx`, then
//! `cargo test --release -p kiln-tract-check`.

use kiln_tract_check::{read_safetensors, run};
use std::path::Path;

#[test]
fn tract_computes_what_kiln_predicts() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx-cases");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run kiln's ONNX test first (cargo test --release --test onnx)",
                dir.display()
            )
        })
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".onnx").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 7, "only {names:?} in {}", dir.display());
    for name in &names {
        let inputs = read_safetensors(&dir.join(format!("{name}.inputs.safetensors"))).unwrap();
        let kiln = read_safetensors(&dir.join(format!("{name}.kiln.safetensors"))).unwrap();
        let outputs = run(&dir.join(format!("{name}.onnx")), &inputs)
            .unwrap_or_else(|e| panic!("{name}: tract: {e:?}"));
        assert_eq!(outputs.len(), kiln.len(), "{name}: outputs");
        for ours in &kiln {
            let theirs = outputs
                .iter()
                .find(|o| o.name == ours.name)
                .unwrap_or_else(|| panic!("{name}: tract has no output `{}`", ours.name));
            assert_eq!(theirs.shape, ours.shape, "{name} `{}`", ours.name);
            let gap = theirs
                .values
                .iter()
                .zip(&ours.values)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            println!("{name} `{}`: tract within {gap:.1e} of kiln", ours.name);
            assert!(gap < 1e-5, "{name} `{}`: tract differs by {gap}", ours.name);
        }
    }
}
