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
use std::path::Path;

mod python;

/// Trains `model` briefly on the subset, then writes its three files for case `name`.
fn write_case(dir: &Path, name: &str, mut model: Model, samples: usize) {
    let m = mnist::subset().unwrap();
    let sample = model.graph().inputs()[0].shape.dims().to_vec();
    let x = python::images(&m.x_train, samples, &sample);
    let y = python::one_hot(&m.y_train, samples);
    model
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(1).batch_size(32).verbose(0),
        )
        .unwrap();
    let x_test = python::images(&m.x_test, 100, &sample);
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
    python::write_tensors(
        &dir.join(format!("{name}.data.safetensors")),
        &[("x", &x_test), ("predictions", &predictions)],
    );
}

#[test]
fn numpy_reproduces_predictions_from_the_saved_files() {
    let Some(python) =
        python::interpreter("KILN_PYTHON", "numpy, safetensors", "KILN_REQUIRE_PYTHON")
    else {
        return;
    };
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

    let dir_arg = dir.to_str().unwrap();
    let text = python::run(
        &python,
        "tests/interop/numpy_forward.py",
        &[dir_arg, "1e-4"],
    );
    assert_eq!(
        text.matches(" ok ").count(),
        8,
        "every case in both layouts:\n{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
