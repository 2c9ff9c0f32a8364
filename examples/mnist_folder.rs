//! Keras' MNIST convnet trained from a folder of PNG files, as `image_dataset_from_directory`
//! users do, beside the same model trained from arrays in memory.
//!
//! `KILN_DATA_DIR=../shared/data/mnist cargo run --release --example mnist_folder -- --seed 1`
//!
//! Writes the 60,000 training images as `DIR/<digit>/<index>.png` (`--data DIR`, else a
//! temporary folder, removed after), then trains the CNN three times from the same initial
//! weights: from the arrays with `fit`; from the folder through `ImageFolder` (decoded on the
//! prefetch thread while the model trains); and from the arrays through the same pipeline
//! (the folder's file order and shuffle). The last two see the same batches, so they must end
//! with the same weights, bit for bit. Prints each one's seconds per epoch and test accuracy.

mod common;

use common::architectures::mnist_cnn;
use kiln::data::{Batch, ColorMode, Dataset, ImageFolder, LabelMode, Sample};
use kiln::prelude::*;
use kiln::{HostArray, Model};
use ndarray::Axis;
use std::path::Path;
use std::time::Instant;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let args = common::parse_args(3)?;
    let seed = args.seed.unwrap_or(1);
    let mnist = common::load_mnist()?;
    let (x_train, y_train) = (
        common::images(&mnist.x_train),
        common::one_hot(&mnist.y_train)?,
    );
    let (x_test, y_test) = (
        common::images(&mnist.x_test),
        common::one_hot(&mnist.y_test)?,
    );
    let temporary = args.data.is_none();
    let dir = args.data.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kiln-mnist-folder-{}", std::process::id()))
    });
    let start = Instant::now();
    write_pngs(&mnist.x_train, &mnist.y_train, &dir)?;
    println!(
        "png_seconds={:.1} dir={}",
        start.elapsed().as_secs_f64(),
        dir.display()
    );

    let device = kiln::Device::new(args.device)?;
    let epochs = args.epochs;
    let options = || {
        FitOptions::default()
            .epochs(epochs)
            .batch_size(128)
            .verbose(2)
    };
    let fresh = || -> kiln::Result<Model> {
        kiln::set_random_seed(seed);
        mnist_cnn(device.clone())
    };

    let mut from_arrays = fresh()?;
    let start = Instant::now();
    from_arrays.fit(&x_train, &y_train, options())?;
    let arrays_epoch = start.elapsed().as_secs_f64() / epochs as f64;

    let folder = ImageFolder::new(&dir)
        .image_size(28, 28)
        .color_mode(ColorMode::Grayscale)
        .label_mode(LabelMode::Categorical)
        .batch_size(128)
        .seed(seed as u32)
        .load()?;
    let scaled = folder.dataset.clone().map(|b: Batch| {
        let x = &b.x[0];
        let values = x.values().iter().map(|v| v / 255.0).collect();
        Ok(Batch {
            x: vec![HostArray::from_vec(values, x.shape())?],
            y: b.y,
        })
    });
    let mut from_folder = fresh()?;
    let start = Instant::now();
    from_folder.fit_dataset(&scaled, options())?;
    let folder_epoch = start.elapsed().as_secs_f64() / epochs as f64;

    // the folder's order over the arrays: file `<digit>/<index>.png` is training image `index`
    let indices: Vec<usize> = folder
        .file_paths
        .iter()
        .map(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            stem.parse().map_err(|_| kiln::Error::Data {
                message: format!("{} is not named by its index", p.display()),
            })
        })
        .collect::<kiln::Result<_>>()?;
    let (x, y) = (x_train.clone(), y_train.clone());
    let same = Dataset::from_items(indices)
        .shuffle(128 * 8, u64::from(seed as u32))
        .map(move |i| {
            Ok(Sample::new(
                x.index_axis(Axis(0), i).to_owned().into_dyn(),
                y.index_axis(Axis(0), i).to_owned().into_dyn(),
            ))
        })
        .batch(128)
        .prefetch(4);
    let mut from_same = fresh()?;
    let start = Instant::now();
    from_same.fit_dataset(&same, options())?;
    let same_epoch = start.elapsed().as_secs_f64() / epochs as f64;

    if temporary {
        std::fs::remove_dir_all(&dir).map_err(|e| kiln::Error::Data {
            message: format!("{}: {e}", dir.display()),
        })?;
    }
    let identical = from_folder.get_weights() == from_same.get_weights();
    let accuracy = |m: &Model| -> kiln::Result<f64> {
        let quiet = EvalOptions::default().batch_size(500).verbose(0);
        Ok(m.evaluate_with(&x_test, &y_test, quiet)?
            .get("accuracy")
            .unwrap_or(f64::NAN))
    };
    let (a, f, s) = (
        accuracy(&from_arrays)?,
        accuracy(&from_folder)?,
        accuracy(&from_same)?,
    );
    println!("arrays_epoch_seconds={arrays_epoch:.2} arrays_test_accuracy={a:.4}");
    println!("same_order_epoch_seconds={same_epoch:.2} same_order_test_accuracy={s:.4}");
    println!(
        "folder_epoch_seconds={folder_epoch:.2} epoch_ratio={:.3} identical_to_same_order={identical}",
        folder_epoch / arrays_epoch
    );
    if !identical {
        return Err(kiln::Error::Data {
            message: "the folder's model differs from the same batches read from arrays".into(),
        });
    }
    println!("test_accuracy={f:.4}");
    Ok(())
}

/// Writes image `i` of `x` as `dir/<y[i]>/<i>.png`.
fn write_pngs(x: &ndarray::Array3<u8>, y: &ndarray::Array1<u8>, dir: &Path) -> kiln::Result<()> {
    let at = |e: &dyn std::fmt::Display, p: &Path| kiln::Error::Data {
        message: format!("{}: {e}", p.display()),
    };
    for digit in 0..10 {
        let sub = dir.join(digit.to_string());
        std::fs::create_dir_all(&sub).map_err(|e| at(&e, &sub))?;
    }
    for (i, image) in x.axis_iter(Axis(0)).enumerate() {
        let (h, w) = (image.nrows() as u32, image.ncols() as u32);
        let pixels: Vec<u8> = image.iter().copied().collect();
        let path = dir.join(y[i].to_string()).join(format!("{i:05}.png"));
        image::GrayImage::from_raw(w, h, pixels)
            .ok_or_else(|| at(&"a 28 × 28 image", &path))?
            .save(&path)
            .map_err(|e| at(&e, &path))?;
    }
    Ok(())
}
