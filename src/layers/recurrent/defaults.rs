//! The recurrent layers' serde defaults, Keras' values.

use crate::layers::{Activation, Initializer};

pub(crate) fn tanh() -> Activation {
    Activation::Tanh
}

pub(crate) fn sigmoid() -> Activation {
    Activation::Sigmoid
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn orthogonal() -> Initializer {
    Initializer::Orthogonal
}

pub(crate) fn zeros() -> Initializer {
    Initializer::Zeros
}
