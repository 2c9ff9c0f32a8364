//! Datasets, loaded like Keras' `keras.datasets`.

mod download;
pub mod idx;
pub mod mnist;
pub mod seattle_weather;
pub mod spam_assassin;
