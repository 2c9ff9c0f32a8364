//! Datasets, loaded like Keras' `keras.datasets`.

mod download;
pub mod idx;
pub mod mnist;
