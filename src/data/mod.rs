//! Data in and out: host arrays, labels, datasets read while training (arrays, memory-mapped
//! `.npy` files, image and text folders, CSV files), and the batches fed to the device.

mod array;
mod arrays;
mod batches;
mod categorical;
mod class_folders;
mod csv_file;
mod dataset;
mod image_folder;
mod npy_file;
mod numpy_shuffle;
mod sample;
mod text_folder;
mod timeseries;

pub use array::{Element, HostArray, ToHostArray};
pub use arrays::{Arrays, ToArrays};
pub(crate) use batches::Batcher;
pub use categorical::to_categorical;
pub use class_folders::{LabelMode, Subset};
pub use csv_file::CsvFile;
pub use dataset::{Dataset, Items};
#[cfg(test)]
pub(crate) use image_folder::resize_bilinear;
pub use image_folder::{ColorMode, ImageDataset, ImageFolder};
pub use npy_file::NpyFile;
pub use sample::{Batch, Sample};
pub use text_folder::{TextDataset, TextFolder};
pub use timeseries::timeseries_windows;
