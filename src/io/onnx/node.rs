//! What a layer writes its ONNX form with: its inputs (in the layout they are in, turned to
//! the one it needs with one Transpose, made once per tensor), its weights, constants and
//! operators.

use crate::error::{Error, Result};
use crate::graph::Layout;
use crate::io::onnx::proto::{AttributeProto, NodeProto, TensorProto};
use crate::shape::Shape;
use ndarray::ArrayD;
use std::collections::HashMap;

/// A tensor of the graph being written.
#[derive(Clone, Debug)]
pub struct OnnxTensor {
    /// Its name in the ONNX graph.
    pub name: String,
    /// Its sample shape (batch left out) as kiln gives it, channels last.
    pub shape: Shape,
    /// The layout its ONNX data is in.
    pub layout: Layout,
}

/// An attribute of an ONNX operator.
#[derive(Clone, Debug)]
pub enum OnnxAttribute {
    /// An integer (`axis`).
    Int(&'static str, i64),
    /// Integers (`pads`, `strides`, `perm`).
    Ints(&'static str, Vec<i64>),
    /// A float (`epsilon`, `alpha`).
    Float(&'static str, f32),
    /// A string (`direction`).
    Str(&'static str, String),
}

/// The nodes and constants written so far, and the layout conversions already made.
#[derive(Default)]
pub(crate) struct GraphWriter {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    converted: HashMap<(String, bool), String>,
    counter: usize,
}

impl GraphWriter {
    /// Adds `op_type` reading `inputs`, with one output named after `prefix`.
    pub fn op(
        &mut self,
        prefix: &str,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<OnnxAttribute>,
    ) -> String {
        self.counter += 1;
        let output = format!("{prefix}/{op_type}_{}", self.counter);
        self.named_op(&output, op_type, inputs, attributes)
    }

    /// Adds `op_type` reading `inputs`, with one output named `output`.
    pub fn named_op(
        &mut self,
        output: &str,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<OnnxAttribute>,
    ) -> String {
        self.push(op_type, inputs, attributes, vec![output.to_string()]);
        output.to_string()
    }

    /// Adds `op_type` reading `inputs`, with `count` outputs named after `prefix`.
    pub fn ops(
        &mut self,
        prefix: &str,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<OnnxAttribute>,
        count: usize,
    ) -> Vec<String> {
        self.counter += 1;
        let outputs: Vec<String> = (0..count)
            .map(|k| format!("{prefix}/{op_type}_{}:{k}", self.counter))
            .collect();
        self.push(op_type, inputs, attributes, outputs.clone());
        outputs
    }

    fn push(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<OnnxAttribute>,
        outputs: Vec<String>,
    ) {
        let attribute = attributes
            .into_iter()
            .map(|a| {
                let (name, kind) = match &a {
                    OnnxAttribute::Int(n, _) => (*n, 2),
                    OnnxAttribute::Ints(n, _) => (*n, 7),
                    OnnxAttribute::Float(n, _) => (*n, 1),
                    OnnxAttribute::Str(n, _) => (*n, 3),
                };
                let mut proto = AttributeProto {
                    name: name.into(),
                    r#type: kind,
                    ..Default::default()
                };
                match a {
                    OnnxAttribute::Int(_, i) => proto.i = i,
                    OnnxAttribute::Ints(_, ints) => proto.ints = ints,
                    OnnxAttribute::Float(_, f) => proto.f = f,
                    OnnxAttribute::Str(_, s) => proto.s = s.into_bytes(),
                }
                proto
            })
            .collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            name: outputs[0].clone(),
            output: outputs,
            op_type: op_type.into(),
            attribute,
        });
    }

    /// Adds a float constant named `name` (once: a layer applied twice shares its weights).
    pub fn constant(&mut self, name: String, array: &ArrayD<f32>) -> String {
        if self.initializers.iter().any(|t| t.name == name) {
            return name;
        }
        self.initializers.push(TensorProto {
            dims: array.shape().iter().map(|&d| d as i64).collect(),
            data_type: 1,
            name: name.clone(),
            raw_data: array.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// Adds an int64 vector constant named `name`.
    pub fn constant_i64(&mut self, name: String, values: &[i64]) -> String {
        if self.initializers.iter().any(|t| t.name == name) {
            return name;
        }
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: 7,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// `tensor` in `layout`: itself, or its transposition (made once).
    pub fn in_layout(&mut self, tensor: &OnnxTensor, layout: Layout) -> String {
        let rank = tensor.shape.dims().len() + 1;
        if tensor.layout == layout || rank <= 2 {
            return tensor.name.clone();
        }
        let first = layout == Layout::ChannelsFirst;
        if let Some(name) = self.converted.get(&(tensor.name.clone(), first)) {
            return name.clone();
        }
        let r = rank as i64;
        let perm: Vec<i64> = if first {
            // [batch, ..., c] → [batch, c, ...]
            std::iter::once(0)
                .chain(std::iter::once(r - 1))
                .chain(1..r - 1)
                .collect()
        } else {
            // [batch, c, ...] → [batch, ..., c]
            std::iter::once(0)
                .chain(2..r)
                .chain(std::iter::once(1))
                .collect()
        };
        let name = self.op(
            &tensor.name,
            "Transpose",
            &[&tensor.name],
            vec![OnnxAttribute::Ints("perm", perm)],
        );
        self.converted
            .insert((tensor.name.clone(), first), name.clone());
        name
    }
}

/// One layer's place in the graph being written: see
/// [`LayerConfig::onnx`](crate::layers::LayerConfig::onnx).
pub struct OnnxNode<'a> {
    pub(crate) writer: &'a mut GraphWriter,
    pub(crate) layer: &'a str,
    pub(crate) inputs: Vec<OnnxTensor>,
    pub(crate) outputs: Vec<Shape>,
    pub(crate) weights: Vec<(String, ArrayD<f32>)>,
}

impl OnnxNode<'_> {
    /// The layer's name.
    pub fn layer(&self) -> &str {
        self.layer
    }

    /// The layer's inputs.
    pub fn inputs(&self) -> &[OnnxTensor] {
        &self.inputs
    }

    /// The sample shapes of the layer's outputs, channels last.
    pub fn output_shapes(&self) -> &[Shape] {
        &self.outputs
    }

    /// The name of input `index` with its data in `layout` (a Transpose is added when needed).
    ///
    /// Panics when `index` is not below `inputs().len()` (the layer's arity, checked when the
    /// model was built).
    pub fn input(&mut self, index: usize, layout: Layout) -> String {
        let tensor = self.inputs[index].clone();
        self.writer.in_layout(&tensor, layout)
    }

    /// The layer's weight `name` (`kernel`), in Keras' layout.
    pub fn weight(&self, name: &str) -> Result<&ArrayD<f32>> {
        self.weights
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| w)
            .ok_or_else(|| {
                Error::config(
                    format!("layer `{}`", self.layer),
                    format!("it has no weight `{name}` to export"),
                )
            })
    }

    /// Adds `array` as a constant named after the layer (`dense/kernel`).
    pub fn constant(&mut self, name: &str, array: &ArrayD<f32>) -> String {
        self.writer
            .constant(format!("{}/{name}", self.layer), array)
    }

    /// Adds a float scalar constant named after the layer.
    pub fn scalar(&mut self, name: &str, value: f32) -> String {
        let array = ArrayD::from_elem(ndarray::IxDyn(&[]), value);
        self.constant(name, &array)
    }

    /// Adds an int64 vector constant named after the layer.
    pub fn constant_i64(&mut self, name: &str, values: &[i64]) -> String {
        self.writer
            .constant_i64(format!("{}/{name}", self.layer), values)
    }

    /// Adds an operator with two outputs (a recurrent layer's sequence and last state).
    pub fn op2(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<OnnxAttribute>,
    ) -> [String; 2] {
        let mut names = self.writer.ops(self.layer, op_type, inputs, attributes, 2);
        // `ops` returns exactly as many names as asked for (2 here)
        let second = names.pop().expect("two outputs");
        [names.pop().expect("two outputs"), second]
    }

    /// Adds an operator reading `inputs`; returns its output's name.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attributes: Vec<OnnxAttribute>) -> String {
        self.writer.op(self.layer, op_type, inputs, attributes)
    }

    /// The error for an option the export does not cover.
    pub fn unsupported(&self, what: impl std::fmt::Display) -> Error {
        Error::config(
            format!("layer `{}`", self.layer),
            format!("{what} has no ONNX export in kiln"),
        )
    }
}
