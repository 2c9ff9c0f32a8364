//! Data in and out: host arrays, labels, datasets read while training (arrays, memory-mapped
//! `.npy` files, image folders), and the batches fed to the device.

mod array;
mod arrays;
mod batches;
mod categorical;
mod dataset;
mod image_folder;
mod npy_file;
mod numpy_shuffle;
mod sample;
mod timeseries;

pub use array::{Element, HostArray, ToHostArray};
pub use arrays::{Arrays, ToArrays};
pub(crate) use batches::Batcher;
pub use categorical::to_categorical;
pub use dataset::{Dataset, Items};
#[cfg(test)]
pub(crate) use image_folder::resize_bilinear;
pub use image_folder::{ColorMode, ImageDataset, ImageFolder, LabelMode, Subset};
pub use npy_file::NpyFile;
pub use sample::{Batch, Sample};
pub use timeseries::timeseries_windows;
