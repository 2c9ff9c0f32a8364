//! Preprocessing layers: learned from data with `adapt`, saved with the model.

mod normalization;
mod text_vectorization;

pub use normalization::Normalization;
pub use text_vectorization::{OOV_TOKEN, Standardize, TextVectorization};
