//! Image preprocessing and augmentation layers inside models: trained through, the identity in
//! `evaluate` and `predict`, saved and loaded by name.

use kiln::layers::{Dense, Flatten};
use kiln::prelude::*;
use ndarray::{ArrayD, IxDyn};

fn model(augment: bool) -> Model {
    let mut s = Sequential::new()
        .input([8, 8, 1])
        .add(Rescaling::new(1.0 / 255.0));
    if augment {
        s = s
            .add(RandomFlip::new())
            .add(RandomRotation::new(0.1))
            .add(RandomZoom::new(0.1))
            .add(RandomTranslation::new(0.1, 0.1))
            .add(RandomContrast::new(0.2).value_range(0.0, 1.0));
    }
    s.add(Resizing::new(6, 6))
        .add(Flatten::new())
        .add(Dense::new(2).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::adam(0.01),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

#[test]
fn augmentation_trains_and_is_the_identity_outside_fit() {
    // bright images are class 1, dark ones class 0
    let n = 64;
    let x = ArrayD::from_shape_fn(IxDyn(&[n, 8, 8, 1]), |i| {
        let bright = i[0] % 2 == 1;
        (if bright { 180 } else { 40 } + (i[1] * 8 + i[2]) % 50) as f32
    });
    let y = ArrayD::from_shape_fn(IxDyn(&[n, 2]), |i| f32::from(u8::from(i[1] == i[0] % 2)));
    let mut augmented = model(true);
    let history = augmented
        .fit(
            &x,
            &y,
            FitOptions::default().epochs(20).batch_size(16).verbose(0),
        )
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss[19] < loss[0], "{loss:?}");
    let quiet = EvalOptions::default().verbose(0);
    assert_eq!(
        augmented
            .evaluate_with(&x, &y, quiet)
            .unwrap()
            .get("accuracy"),
        Some(1.0)
    );

    // without the augmentation layers, the same weights predict the same
    let mut plain = model(false);
    plain.set_weights(&augmented.get_weights()).unwrap();
    assert_eq!(plain.predict(&x).unwrap(), augmented.predict(&x).unwrap());

    // saved and loaded by class name, configuration included
    let path =
        std::env::temp_dir().join(format!("kiln-augment-{}.safetensors", std::process::id()));
    augmented.save(&path).unwrap();
    let loaded = kiln::io::load_model(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.predict(&x).unwrap(), augmented.predict(&x).unwrap());
    let json = loaded.to_json();
    for class in [
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "Rescaling",
        "Resizing",
    ] {
        assert!(json.contains(class), "{class} missing from {json}");
    }
    assert!(json.contains("\"fill_mode\": \"reflect\""), "{json}");
}
