//! Preprocessing layers: learned from data with `adapt` and saved with the model
//! (`Normalization`, `TextVectorization`), image preprocessing (`Rescaling`, `Resizing`), and
//! augmentation active only while training (`RandomFlip`, `RandomRotation`, `RandomZoom`,
//! `RandomTranslation`, `RandomContrast`).

mod normalization;
pub(crate) mod random_affine;
mod random_contrast;
mod random_flip;
mod rescaling;
mod resizing;
mod text_vectorization;

pub use crate::ops::image_warp::{FillMode, Interpolation};
pub use normalization::Normalization;
pub use random_affine::{Factor, RandomRotation, RandomTranslation, RandomZoom, Sampling};
pub use random_contrast::RandomContrast;
pub use random_flip::{FlipMode, RandomFlip};
pub use rescaling::Rescaling;
pub use resizing::Resizing;
pub use text_vectorization::{OOV_TOKEN, Standardize, TextVectorization};
