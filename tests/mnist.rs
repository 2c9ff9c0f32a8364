//! The dense MNIST classifier trains on the real subset shipped with kiln.

use kiln::datasets::mnist;
use kiln::layers::Dense;
use kiln::prelude::*;

#[test]
fn dense_mnist_learns_the_shipped_subset() {
    let m = mnist::subset().unwrap();
    let x = |imgs: &ndarray::Array3<u8>| {
        let n = imgs.shape()[0];
        imgs.mapv(|v| v as f32 / 255.0)
            .into_shape_with_order((n, 784))
            .unwrap()
    };
    let (x_train, x_test) = (x(&m.x_train), x(&m.x_test));
    let mut model = Sequential::new()
        .input([784])
        .add(Dense::new(128).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::rmsprop(1e-3),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let h = model
        .fit(
            &x_train,
            &m.y_train,
            FitOptions::default().epochs(5).batch_size(64).verbose(0),
        )
        .unwrap();
    assert!(h.last("accuracy").unwrap() > 0.9, "{:?}", h.get("accuracy"));
    let scores = model
        .evaluate_with(&x_test, &m.y_test, EvalOptions::default().verbose(0))
        .unwrap();
    // a 784-128-10 net on 2,000 MNIST digits reaches about 0.88 on held-out digits
    assert!(scores.get("accuracy").unwrap() > 0.82, "{scores}");
}
