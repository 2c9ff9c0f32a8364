//! The examples' models, written with kiln's builders. `models/mnist_dense.json` and
//! `models/mnist_cnn.json` are the same models as files (`Model::to_json`); `tests/models.rs`
//! checks that the two stay equal.

use kiln::prelude::*;

/// Keras' MNIST dense classifier: 784 → 512 relu → 10 softmax, RMSprop(1e-3).
pub fn mnist_dense(device: Device) -> kiln::Result<Model> {
    Sequential::new()
        .name("mnist_dense")
        .input([784])
        .add(Dense::new(512).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(device)
        .compile(
            Optimizer::rmsprop(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}

/// Keras' MNIST convnet: two 3×3 convolutions with 2×2 max pooling, dropout 0.5, a softmax
/// classifier; Adam(1e-3).
pub fn mnist_cnn(device: Device) -> kiln::Result<Model> {
    Sequential::new()
        .name("mnist_cnn")
        .input([28, 28, 1])
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Softmax))
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}
