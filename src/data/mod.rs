//! Data in and out: host arrays, labels, and the batches fed to the device.

mod array;
mod arrays;
mod batches;
mod categorical;
mod timeseries;

pub use array::{Element, HostArray, ToHostArray};
pub use arrays::{Arrays, ToArrays};
pub(crate) use batches::{Batcher, batch_ranges};
pub use categorical::to_categorical;
pub use timeseries::timeseries_windows;
