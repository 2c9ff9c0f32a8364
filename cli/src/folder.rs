//! Training data from a folder of class sub-folders of images (`kiln train … --data photos/`),
//! read batch by batch as Keras' `image_dataset_from_directory` reads it.

use kiln::data::{Batch, ColorMode, Dataset, ImageFolder, LabelMode, Subset};
use kiln::{HostArray, Loss, Model};
use std::path::Path;

/// Whether `source` is a folder of image class folders: a directory whose sub-folders hold
/// images, rather than MNIST's IDX files.
pub fn is_image_folder(source: &str) -> bool {
    let path = Path::new(source);
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    let mut has_classes = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.contains("idx") {
            return false;
        }
        has_classes |= entry.path().is_dir() && !name.starts_with('.');
    }
    has_classes
}

/// The training batches of `dir` for `model` and, with `validation_split`, the held-out ones:
/// images resized to the model's `[height, width, channels]` input and scaled to [0, 1],
/// labels as the model's loss wants them. Prints the classes.
pub fn datasets(
    model: &Model,
    dir: &str,
    batch_size: usize,
    validation_split: f64,
    seed: u32,
) -> Result<(Dataset<Batch>, Option<Dataset<Batch>>), String> {
    let shape = model.graph().inputs()[0].shape.dims().to_vec();
    let (h, w, color) = match shape[..] {
        [h, w, 1] => (h, w, ColorMode::Grayscale),
        [h, w, 3] => (h, w, ColorMode::Rgb),
        [h, w, 4] => (h, w, ColorMode::Rgba),
        _ => {
            return Err(format!(
                "{dir} holds images, but the model's input is {shape:?}; give it an input of \
                 [height, width, 1, 3 or 4 channels]"
            ));
        }
    };
    let labels = match crate::data::loss(model)? {
        Loss::SparseCategoricalCrossentropy => LabelMode::Int,
        Loss::BinaryCrossentropy => LabelMode::Binary,
        _ => LabelMode::Categorical,
    };
    let folder = || {
        ImageFolder::new(dir)
            .image_size(h, w)
            .color_mode(color)
            .label_mode(labels)
            .batch_size(batch_size)
            .seed(seed)
    };
    let scaled = |read: kiln::data::ImageDataset| {
        read.dataset.map(|b: Batch| {
            let x = &b.x[0];
            let values = x.values().iter().map(|v| v / 255.0).collect();
            Ok(Batch {
                x: vec![HostArray::from_vec(values, x.shape())?],
                y: b.y,
            })
        })
    };
    let text = |e: kiln::Error| e.to_string();
    if validation_split > 0.0 {
        let train = folder()
            .validation_split(validation_split, Subset::Training)
            .load()
            .map_err(text)?;
        let held = folder()
            .validation_split(validation_split, Subset::Validation)
            .load()
            .map_err(text)?;
        println!(
            "{dir}: classes {:?}, {} training and {} validation images",
            train.class_names,
            train.file_paths.len(),
            held.file_paths.len()
        );
        Ok((scaled(train), Some(scaled(held))))
    } else {
        let train = folder().load().map_err(text)?;
        println!(
            "{dir}: classes {:?}, {} images",
            train.class_names,
            train.file_paths.len()
        );
        Ok((scaled(train), None))
    }
}
