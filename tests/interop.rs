//! Files kiln saves are read by other tools: a Python script with numpy and the `safetensors`
//! package recomputes kiln's predictions from the saved files alone, in Keras' layout (channels
//! last) and in PyTorch's (channels first).
//!
//! The script is `tests/interop/numpy_forward.py`; the interpreter is `KILN_PYTHON` (default
//! `python3`). When it lacks numpy or safetensors the test says so and passes, unless
//! `KILN_REQUIRE_PYTHON=1` (set by `.ci/run`, which installs both).

use kiln::WeightLayout;
use kiln::datasets::mnist;
use kiln::io::ModelConfig;
use kiln::prelude::*;
use ndarray::{ArrayD, Axis, IxDyn};
use safetensors::tensor::TensorView;
use std::path::Path;
use std::process::Command;

/// Trains `model` briefly on the subset, then writes its three files for case `name`.
fn write_case(dir: &Path, name: &str, mut model: Model, samples: usize) {
    let m = mnist::subset().unwrap();
    let sample = model.graph().inputs()[0].shape.dims().to_vec();
    let images = |x: &ndarray::Array3<u8>, n: usize| -> ArrayD<f32> {
        let mut dims = vec![n];
        dims.extend_from_slice(&sample);
        x.slice_axis(Axis(0), (0..n).into())
            .mapv(|v| v as f32 / 255.0)
            .into_shape_with_order(IxDyn(&dims))
            .unwrap()
    };
    let (x, y) = (
        images(&m.x_train, samples),
        m.y_train
            .slice_axis(Axis(0), (0..samples).into())
            .to_owned(),
    );
    let y = kiln::to_categorical(y.as_slice().unwrap(), 10).unwrap();
    model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(1).batch_size(32).verbose(0),
        )
        .unwrap();
    let x_test = images(&m.x_test, 100);
    let predictions = model.predict(&x_test).unwrap();
    model
        .save(dir.join(format!("{name}.model.safetensors")))
        .unwrap();
    model
        .save_weights_as(
            dir.join(format!("{name}.torch.safetensors")),
            WeightLayout::Torch,
        )
        .unwrap();
    let bytes = |a: &ArrayD<f32>| a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let (xb, pb) = (bytes(&x_test), bytes(&predictions));
    let views = [
        (
            "x",
            TensorView::new(safetensors::Dtype::F32, x_test.shape().to_vec(), &xb).unwrap(),
        ),
        (
            "predictions",
            TensorView::new(safetensors::Dtype::F32, predictions.shape().to_vec(), &pb).unwrap(),
        ),
    ];
    safetensors::serialize_to_file(views, None, &dir.join(format!("{name}.data.safetensors")))
        .unwrap();
}

fn python_ready(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import numpy, safetensors"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn numpy_reproduces_predictions_from_the_saved_files() {
    let python = std::env::var("KILN_PYTHON").unwrap_or_else(|_| "python3".into());
    if !python_ready(&python) {
        assert!(
            std::env::var("KILN_REQUIRE_PYTHON").is_err(),
            "{python} cannot import numpy and safetensors"
        );
        eprintln!("SKIPPED: {python} lacks numpy or safetensors (pip install numpy safetensors)");
        return;
    }
    kiln::set_random_seed(11);
    let dir = std::env::temp_dir().join(format!("kiln-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cpu = || Device::cpu().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let reference = |file: &str| {
        ModelConfig::read(models.join(file))
            .unwrap()
            .build(cpu())
            .unwrap()
    };
    write_case(&dir, "mnist_dense", reference("mnist_dense.json"), 2000);
    write_case(&dir, "mnist_cnn", reference("mnist_cnn.json"), 1000);
    let cnn_bn = Sequential::new()
        .input([28, 28, 1])
        .add(Conv2D::new(8, 3).strides(2).padding(Padding::Same))
        .add(BatchNormalization::new())
        .add(ActivationLayer::new(Relu))
        .add(AveragePooling2D::new(2).padding(Padding::Same))
        .add(Conv2D::new(16, 3).dilation_rate(2).activation(Gelu))
        .add(MaxPooling2D::new(2).strides(1))
        .add(Flatten::new())
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(Optimizer::adam(3e-3), Loss::CategoricalCrossentropy, &[])
        .unwrap();
    write_case(&dir, "cnn_batchnorm", cnn_bn, 1000);
    let sequence = Sequential::new()
        .input([28, 28])
        .add(Conv1D::new(8, 3).activation(Tanh))
        .add(MaxPooling1D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.2))
        .add(Dense::new(10).activation(Softmax))
        .device(cpu())
        .compile(Optimizer::rmsprop(1e-3), Loss::CategoricalCrossentropy, &[])
        .unwrap();
    write_case(&dir, "conv1d", sequence, 1000);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/numpy_forward.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&dir)
        .arg("1e-4")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "numpy disagrees with kiln:\n{text}");
    assert_eq!(
        text.matches(" ok ").count(),
        8,
        "every case in both layouts:\n{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
