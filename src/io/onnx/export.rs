//! `Model::export_onnx`: kiln's graph written as an ONNX graph, node by node, each layer
//! writing its own operators.

use crate::error::{Error, Result};
use crate::graph::{Layout, Source};
use crate::io::onnx::node::{GraphWriter, OnnxAttribute, OnnxNode, OnnxTensor};
use crate::io::onnx::proto::{
    Dimension, GraphProto, ModelProto, OperatorSetIdProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto,
};
use crate::io::write_atomic;
use crate::models::Model;
use crate::shape::Shape;
use prost::Message;
use std::path::Path;

/// The ONNX operator set the files use.
pub const OPSET: i64 = 17;
/// The IR version of opset 17.
const IR_VERSION: i64 = 8;

impl Model {
    /// Writes the model as an ONNX file (opset 17) that onnxruntime and other ONNX runtimes
    /// run: inputs and outputs keep the model's names and Keras' channels-last layout, with a
    /// dynamic batch dimension (`batch`); convolutions and poolings run channels first
    /// between one Transpose in and one out.
    ///
    /// A layer without an ONNX form (a `Lambda`, a nested model, a mask) makes it an error
    /// naming the layer.
    ///
    /// ```
    /// use kiln::prelude::*;
    /// let model = Sequential::new().input([4]).add(Dense::new(2).activation(Softmax)).build()?;
    /// let path = std::env::temp_dir().join(format!("kiln-doc-{}.onnx", std::process::id()));
    /// model.export_onnx(&path)?;
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn export_onnx(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.onnx_bytes()?;
        write_atomic(path, &bytes)
    }

    /// The ONNX file's bytes.
    pub(crate) fn onnx_bytes(&self) -> Result<Vec<u8>> {
        let graph = self.graph();
        let mut writer = GraphWriter::default();
        let inputs: Vec<OnnxTensor> = graph
            .inputs()
            .iter()
            .map(|spec| OnnxTensor {
                name: spec.name.clone(),
                shape: spec.shape.clone(),
                layout: Layout::ChannelsLast,
            })
            .collect();
        let weights = self.get_weights();
        let mut nodes: Vec<Vec<OnnxTensor>> = Vec::with_capacity(graph.nodes().len());
        let lookup = |nodes: &Vec<Vec<OnnxTensor>>, source: &Source| match *source {
            Source::Input(i) => inputs[i].clone(),
            Source::Node(j, k) => nodes[j][k].clone(),
        };
        for (i, node) in graph.nodes().iter().enumerate() {
            let layer = &graph.layers()[node.layer];
            let name = layer.name().unwrap_or_default();
            let prefix = format!("{name}/");
            let own = weights
                .iter()
                .filter_map(|(w, a)| Some((w.strip_prefix(&prefix)?.to_string(), a.clone())))
                .collect();
            let mut onnx = OnnxNode {
                writer: &mut writer,
                layer: name,
                inputs: node.inputs.iter().map(|s| lookup(&nodes, s)).collect(),
                outputs: graph.node_shapes(i).to_vec(),
                weights: own,
            };
            let outputs = layer.onnx(&mut onnx)?;
            let shapes = graph.node_shapes(i);
            if outputs.len() != shapes.len() {
                return Err(Error::config(
                    format!("layer `{name}`"),
                    format!(
                        "its ONNX form gave {} outputs for {}",
                        outputs.len(),
                        shapes.len()
                    ),
                ));
            }
            nodes.push(
                outputs
                    .into_iter()
                    .zip(shapes)
                    .map(|((name, layout), shape)| OnnxTensor {
                        name,
                        shape: shape.clone(),
                        layout,
                    })
                    .collect(),
            );
        }
        let mut outputs = Vec::new();
        for (source, name) in graph.outputs().iter().zip(self.output_names()) {
            let tensor = lookup(&nodes, source);
            let data = writer.in_layout(&tensor, Layout::ChannelsLast);
            writer.named_op(&name, "Identity", &[&data], Vec::<OnnxAttribute>::new());
            outputs.push(value_info(&name, &tensor.shape));
        }
        let model = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "kiln".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(GraphProto {
                node: writer.nodes,
                name: self.name().into(),
                initializer: writer.initializers,
                input: inputs
                    .iter()
                    .map(|t| value_info(&t.name, &t.shape))
                    .collect(),
                output: outputs,
            }),
        };
        Ok(model.encode_to_vec())
    }
}

/// A float tensor `[batch, ..shape]`, the batch dynamic.
fn value_info(name: &str, shape: &Shape) -> ValueInfoProto {
    let batch = Dimension {
        dim_value: None,
        dim_param: Some("batch".into()),
    };
    let dims = shape.dims().iter().map(|&d| Dimension {
        dim_value: Some(d as i64),
        dim_param: None,
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: std::iter::once(batch).chain(dims).collect(),
                }),
            }),
        }),
    }
}
