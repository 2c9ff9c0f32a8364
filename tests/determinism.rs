//! One seed makes weights, shuffling and dropout reproducible.
//!
//! Alone in its test binary: seeds are process-wide, and tests in one binary run in parallel.

use kiln::layers::{Dense, Dropout};
use kiln::prelude::*;
use ndarray::Array2;

#[test]
fn the_same_seed_gives_the_same_training() {
    let x = Array2::from_shape_fn((64, 4), |(i, j)| ((i * 5 + j * 3) % 7) as f32 / 7.0);
    let y = Array2::from_shape_fn((64, 2), |(i, j)| ((i % 2) == j) as u8 as f32);
    let run = |seed: u64| {
        kiln::set_random_seed(seed);
        let mut model = Sequential::new()
            .input([4])
            .add(Dense::new(16).activation(Relu))
            .add(Dropout::new(0.3))
            .add(Dense::new(2).activation(Softmax))
            .device(Device::cpu().unwrap())
            .compile(Optimizer::adam(0.01), Loss::CategoricalCrossentropy, &[])
            .unwrap();
        model
            .fit(
                &x,
                &y,
                FitOptions::default().epochs(3).batch_size(8).verbose(0),
            )
            .unwrap();
        model.predict(&x).unwrap()
    };
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a, b);
    assert_ne!(a, c);
}
