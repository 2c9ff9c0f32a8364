//! TensorFlow Serving's JSON: request bodies (and batch prediction's JSON lines) into a
//! model's input arrays, and its outputs back into `predictions` or `outputs`.

mod answer;
mod request;
mod signature;
mod tree;

pub use answer::{answer, write_row};
pub use request::{Batch, parse_instance, parse_request};
pub use signature::{Signature, TensorSpec};
pub use tree::{Doc, Node, write as write_node};

#[cfg(test)]
mod tests;
