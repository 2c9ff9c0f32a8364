//! ONNX files: [`Model::export_onnx`](crate::Model::export_onnx) writes kiln's graph as an
//! ONNX graph (opset 17), each layer writing its own operators through [`OnnxNode`]
//! ([`LayerConfig::onnx`](crate::layers::LayerConfig::onnx)).

mod export;
mod node;
mod proto;

pub use export::OPSET;
pub use node::{OnnxAttribute, OnnxNode, OnnxTensor};
