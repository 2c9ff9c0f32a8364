//! Merge layers: combine several inputs of one shape elementwise (`Add`, `Subtract`,
//! `Multiply`, `Average`, `Maximum`, `Minimum`) or join them along an axis (`Concatenate`).

use crate::error::{Error, Result};
use crate::graph::{Layout, Value};
use crate::layers::built::no_weights;
use crate::layers::config::{Call, name_field};
use crate::layers::{LayerConfig, WeightSpecs};
use crate::shape::{Shape, list};
use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// How an elementwise merge combines its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOp {
    /// `a + b + ...`
    Add,
    /// `a - b` (exactly two inputs).
    Subtract,
    /// `a * b * ...`
    Multiply,
    /// `(a + b + ...) / n`
    Average,
    /// The elementwise maximum.
    Maximum,
    /// The elementwise minimum.
    Minimum,
}

impl MergeOp {
    /// The merge as one ONNX operator over its inputs, in the first input's layout.
    #[cfg(feature = "onnx")]
    fn onnx(
        self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let layout = node.inputs()[0].layout;
        let inputs: Vec<String> = (0..node.inputs().len())
            .map(|i| node.input(i, layout))
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = match self {
            MergeOp::Add => node.op("Sum", &refs, vec![]),
            MergeOp::Subtract => node.op("Sub", &refs, vec![]),
            MergeOp::Average => node.op("Mean", &refs, vec![]),
            MergeOp::Maximum => node.op("Max", &refs, vec![]),
            MergeOp::Minimum => node.op("Min", &refs, vec![]),
            MergeOp::Multiply => {
                let mut product = node.op("Mul", &refs[..2], vec![]);
                for other in &refs[2..] {
                    product = node.op("Mul", &[&product, other], vec![]);
                }
                product
            }
        };
        Ok(vec![(y, layout)])
    }
}

macro_rules! elementwise_merge {
    ($($ty:ident => $op:ident, $base:literal, $what:literal;)*) => {$(
        #[doc = concat!("Merges inputs of one shape into ", $what, ", as Keras' `", stringify!($ty), "`.")]
        ///
        /// Apply it to a list of symbolic tensors (`[&a, &b]`); the output has their shape.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            #[doc = concat!("The layer's name; `", $base, "`, `", $base, "_1`… when not set.")]
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
        }

        impl $ty {
            /// The layer, unnamed.
            pub fn new() -> Self {
                Self::default()
            }

            /// Names the layer.
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }

            pub(crate) const OP: MergeOp = MergeOp::$op;
        }
    )*};
}

/// The configuration of an elementwise merge, its class named as its type.
macro_rules! elementwise_config {
    ($($ty:ident, $most:expr;)*) => {$(
        impl LayerConfig for $ty {
            const CLASS_NAME: &'static str = stringify!($ty);
            type Module = MergeModule;
            name_field!(name);

            fn arity(&self) -> (usize, usize) {
                (2, $most)
            }

            fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
                elementwise_shape(name, Self::OP, inputs)
            }

            fn build(&self, _: &[Shape], _: WeightSpecs, _: &Device) -> Result<MergeModule> {
                Ok(MergeModule::elementwise(Self::OP))
            }

            #[cfg(feature = "onnx")]
            fn onnx(&self, node: &mut crate::io::onnx::OnnxNode<'_>) -> Result<Vec<(String, crate::graph::Layout)>> {
                Self::OP.onnx(node)
            }

            fn layout(&self) -> Option<Layout> {
                None
            }

            fn call(&self, m: &MergeModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
                m.forward(inputs, call.layout)
            }
        }
    )*};
}

elementwise_config! {
    Add, usize::MAX;
    Subtract, 2;
    Multiply, usize::MAX;
    Average, usize::MAX;
    Maximum, usize::MAX;
    Minimum, usize::MAX;
}

elementwise_merge! {
    Add => Add, "add", "their sum";
    Subtract => Subtract, "subtract", "the first minus the second";
    Multiply => Multiply, "multiply", "their product";
    Average => Average, "average", "their mean";
    Maximum => Maximum, "maximum", "their elementwise maximum";
    Minimum => Minimum, "minimum", "their elementwise minimum";
}

/// Joins inputs along `axis`, as Keras' `Concatenate`: every other dimension must agree.
///
/// The axis counts the batch as axis 0, as in Keras: the default `-1` is the last (channels)
/// axis, `1` the first axis of a sample. Joining along the batch is refused.
///
/// ```
/// use kiln::layers::Concatenate;
/// assert_eq!(Concatenate::new().axis, -1);
/// assert_eq!(Concatenate::new().axis(1).axis, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concatenate {
    /// The axis to join along, batch included (default `-1`).
    #[serde(default = "last_axis")]
    pub axis: i32,
    /// The layer's name; `concatenate`, `concatenate_1`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn last_axis() -> i32 {
    -1
}

impl Default for Concatenate {
    fn default() -> Self {
        Concatenate {
            axis: -1,
            name: None,
        }
    }
}

impl Concatenate {
    /// Joins along the last axis.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the axis, batch counted as 0 (default `-1`, the last).
    pub fn axis(mut self, axis: i32) -> Self {
        self.axis = axis;
        self
    }

    /// Names the layer.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The axis as an index into a sample's dimensions (batch excluded), for samples of
    /// `rank` dimensions.
    fn sample_axis(&self, name: &str, rank: usize) -> Result<usize> {
        let batched = rank as i64 + 1;
        let axis = if self.axis < 0 {
            batched + self.axis as i64
        } else {
            self.axis as i64
        };
        if axis < 1 || axis >= batched {
            return Err(Error::config(
                format!("layer `{name}`"),
                format!(
                    "axis {} is not an axis of its inputs' samples, which have {rank} \
                     (use 1..={rank} or -{rank}..=-1; axis 0 is the batch)",
                    self.axis
                ),
            ));
        }
        Ok(axis as usize - 1)
    }

    pub(crate) fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        at_least_two(name, inputs)?;
        let rank = inputs[0].rank();
        let axis = self.sample_axis(name, rank)?;
        let agree = inputs.iter().all(|s| {
            s.rank() == rank
                && s.dims()
                    .iter()
                    .zip(inputs[0].dims())
                    .enumerate()
                    .all(|(i, (a, b))| i == axis || a == b)
        });
        if !agree {
            return Err(Error::Shape {
                layer: name.into(),
                expected: format!(
                    "inputs that agree on every axis but axis {} (the one joined)",
                    self.axis
                ),
                received: list(inputs),
            });
        }
        let mut dims = inputs[0].dims().to_vec();
        dims[axis] = inputs.iter().map(|s| s.dims()[axis]).sum();
        Ok(Shape::new(dims))
    }

    pub(crate) fn build(&self, inputs: &[Shape]) -> Result<MergeModule> {
        let rank = inputs.first().map_or(0, Shape::rank);
        let axis = self.sample_axis("Concatenate", rank)?;
        Ok(MergeModule {
            kind: MergeKind::Concatenate { axis, rank },
        })
    }
}

fn at_least_two(name: &str, inputs: &[Shape]) -> Result<()> {
    if inputs.len() < 2 {
        return Err(Error::config(
            format!("layer `{name}`"),
            format!(
                "a merge layer takes a list of at least 2 inputs, but is given {}",
                inputs.len()
            ),
        ));
    }
    Ok(())
}

/// The output shape of an elementwise merge: its inputs' common shape.
pub(crate) fn elementwise_shape(name: &str, op: MergeOp, inputs: &[Shape]) -> Result<Shape> {
    at_least_two(name, inputs)?;
    if op == MergeOp::Subtract && inputs.len() != 2 {
        return Err(Error::config(
            format!("layer `{name}`"),
            format!(
                "Subtract takes exactly 2 inputs, but is given {}",
                inputs.len()
            ),
        ));
    }
    if inputs.iter().any(|s| s != &inputs[0]) {
        return Err(Error::Shape {
            layer: name.into(),
            expected: "inputs of one shape".into(),
            received: list(inputs),
        });
    }
    Ok(inputs[0].clone())
}

/// What a built merge layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeKind {
    /// An elementwise combination.
    Elementwise(MergeOp),
    /// Joining along `axis` of samples of `rank` dimensions (channels-last, batch excluded).
    Concatenate {
        /// The axis, batch excluded, in Keras' channels-last order.
        axis: usize,
        /// The rank of a sample.
        rank: usize,
    },
}

/// A built merge layer (no weights).
#[derive(Module, Debug)]
pub struct MergeModule {
    #[module(skip)]
    pub(crate) kind: MergeKind,
}

impl MergeModule {
    pub(crate) fn elementwise(op: MergeOp) -> Self {
        MergeModule {
            kind: MergeKind::Elementwise(op),
        }
    }

    /// Merges `xs`, all in `layout`; the output is in `layout` too.
    pub(crate) fn forward(&self, xs: Vec<Value>, layout: Layout) -> Result<Value> {
        match self.kind {
            MergeKind::Elementwise(op) => {
                let n = xs.len();
                let mut it = xs.into_iter();
                let Some(first) = it.next() else {
                    return Value::cat(Vec::new(), 0);
                };
                let merged = it.try_fold(first, |acc, x| acc.combine(x, op))?;
                Ok(if op == MergeOp::Average {
                    crate::graph::map_value!(merged, t => t.div_scalar(n as f64))
                } else {
                    merged
                })
            }
            MergeKind::Concatenate { axis, rank } => {
                // the batched axis, moved when channels stand first
                let batched = match layout {
                    Layout::ChannelsFirst if rank >= 2 && axis == rank - 1 => 1,
                    Layout::ChannelsFirst if rank >= 2 => axis + 2,
                    _ => axis + 1,
                };
                Value::cat(xs, batched)
            }
        }
    }
}

impl LayerConfig for Concatenate {
    const CLASS_NAME: &'static str = "Concatenate";
    type Module = MergeModule;
    name_field!(name);

    fn arity(&self) -> (usize, usize) {
        (2, usize::MAX)
    }

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        Concatenate::output_shape(self, name, inputs)
    }

    fn build(&self, inputs: &[Shape], _: WeightSpecs, _: &Device) -> Result<MergeModule> {
        Concatenate::build(self, inputs)
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        let rank = node.inputs()[0].shape.dims().len();
        let axis = self.sample_axis(node.layer(), rank)? as i64 + 1;
        let inputs: Vec<String> = (0..node.inputs().len())
            .map(|i| node.input(i, Layout::ChannelsLast))
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let attributes = vec![crate::io::onnx::OnnxAttribute::Int("axis", axis)];
        Ok(vec![(
            node.op("Concat", &refs, attributes),
            Layout::ChannelsLast,
        )])
    }

    fn layout(&self) -> Option<Layout> {
        None
    }

    fn call(&self, m: &MergeModule, inputs: Vec<Value>, call: &Call) -> Result<Value> {
        m.forward(inputs, call.layout)
    }
}

no_weights!(MergeModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d.to_vec())
    }

    #[test]
    fn elementwise_merges_need_one_shape() {
        let out = elementwise_shape("add", MergeOp::Add, &[s(&[3]), s(&[3]), s(&[3])]).unwrap();
        assert_eq!(out, s(&[3]));
        let e = elementwise_shape("add", MergeOp::Add, &[s(&[3]), s(&[4])]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("`add`") && msg.contains("(None, 3), (None, 4)"),
            "{msg}"
        );
        assert!(elementwise_shape("add", MergeOp::Add, &[s(&[3])]).is_err());
        let e =
            elementwise_shape("sub", MergeOp::Subtract, &[s(&[3]), s(&[3]), s(&[3])]).unwrap_err();
        assert!(e.to_string().contains("exactly 2"), "{e}");
    }

    #[test]
    fn concatenate_sums_the_axis_like_keras() {
        let c = Concatenate::new();
        assert_eq!(
            c.output_shape("c", &[s(&[5, 5, 3]), s(&[5, 5, 8])])
                .unwrap(),
            s(&[5, 5, 11])
        );
        let c = Concatenate::new().axis(1);
        assert_eq!(
            c.output_shape("c", &[s(&[2, 4]), s(&[3, 4])]).unwrap(),
            s(&[5, 4])
        );
        let c = Concatenate::new().axis(-2);
        assert_eq!(
            c.output_shape("c", &[s(&[2, 4]), s(&[3, 4])]).unwrap(),
            s(&[5, 4])
        );
        let e = Concatenate::new()
            .output_shape("c", &[s(&[2, 4]), s(&[3, 4])])
            .unwrap_err();
        assert!(e.to_string().contains("(None, 2, 4), (None, 3, 4)"), "{e}");
        let e = Concatenate::new()
            .axis(0)
            .output_shape("c", &[s(&[2]), s(&[2])])
            .unwrap_err();
        assert!(e.to_string().contains("batch"), "{e}");
        assert!(
            Concatenate::new()
                .axis(3)
                .output_shape("c", &[s(&[2, 2]), s(&[2, 2])])
                .is_err()
        );
    }
}
