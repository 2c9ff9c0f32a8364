//! Datasets, loaded like Keras' `keras.datasets`.

mod download;
mod idx;
pub mod mnist;
