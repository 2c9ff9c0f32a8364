//! A recurrent layer as ONNX's RNN, LSTM or GRU operator, run time-major (onnxruntime refuses
//! `layout=1`), with Keras' weights reordered into ONNX's.

use crate::error::Result;
use crate::graph::Layout;
use crate::io::onnx::OnnxAttribute::{Int, Str};
use crate::io::onnx::OnnxNode;
use crate::layers::Activation;
use crate::layers::recurrent::RecurrentOptions;
use crate::layers::recurrent::cell::{Cell, CellKind};
use ndarray::{ArrayD, Axis, IxDyn, concatenate};

/// One direction of a recurrent layer: its cell and Keras' `[kernel, recurrent_kernel]` and
/// `bias` (when it has one).
pub(crate) type Direction = (Cell, [ArrayD<f32>; 2], Option<ArrayD<f32>>);

impl Cell {
    /// ONNX's operator and the order of Keras' gate blocks in it: LSTM's i, f, c, o become
    /// i, o, f, c; GRU's z, r, h stay.
    fn onnx_op(&self) -> (&'static str, &'static [usize]) {
        match self.kind {
            CellKind::Simple => ("RNN", &[0]),
            CellKind::Lstm => ("LSTM", &[0, 3, 1, 2]),
            CellKind::Gru { .. } => ("GRU", &[0, 1, 2]),
        }
    }

    /// `[gates·units, rows]` from Keras' `[rows, gates·units]`, gate blocks in ONNX's order.
    fn onnx_matrix(&self, keras: &ArrayD<f32>) -> ArrayD<f32> {
        let (_, order) = self.onnx_op();
        let t = keras.t();
        let blocks: Vec<_> = order
            .iter()
            .map(|&g| t.slice_axis(Axis(0), (g * self.units..(g + 1) * self.units).into()))
            .collect();
        // each block is `units` rows of one weight matrix, so all have its width
        concatenate(Axis(0), &blocks).expect("blocks of one width")
    }

    /// ONNX's `B`: the input biases then the recurrent ones (`[2·gates·units]`).
    fn onnx_bias(&self, keras: &ArrayD<f32>) -> ArrayD<f32> {
        let width = self.gates() * self.units;
        let (input, recurrent) = match self.kind {
            // reset_after keeps both, as rows of [2, 3·units]
            CellKind::Gru { reset_after: true } => (
                keras.index_axis(Axis(0), 0).to_owned(),
                keras.index_axis(Axis(0), 1).to_owned(),
            ),
            _ => (keras.clone(), ArrayD::zeros(IxDyn(&[width]))),
        };
        let reorder = |b: ArrayD<f32>| {
            // a bias has gates·units = width values (checked when the weights were set or loaded)
            let column = b
                .into_shape_with_order(IxDyn(&[1, width]))
                .expect("one row");
            self.onnx_matrix(&column)
                .into_shape_with_order(IxDyn(&[width]))
                .expect("a column")
        };
        concatenate(Axis(0), &[reorder(input).view(), reorder(recurrent).view()])
            .expect("two vectors")
    }
}

/// Writes `cells` (one, or the forward then the backward copy of a Bidirectional), each with
/// its `[kernel, recurrent_kernel, bias]`, over the layer's first input; gives the output,
/// in Keras' `[batch, time, units]` or `[batch, units]`, with the directions on axis 1 for two
/// (`[batch, time, 2, units]`, `[batch, 2, units]`).
pub(crate) fn onnx_recurrent(
    node: &mut OnnxNode<'_>,
    cells: &[Direction],
    options: &RecurrentOptions,
) -> Result<String> {
    let (cell, _, _) = &cells[0];
    if node.inputs().len() > 1 {
        return Err(node.unsupported("an initial state"));
    }
    if options.return_state || options.stateful {
        return Err(node.unsupported("return_state or stateful"));
    }
    let gate = match cell.kind {
        CellKind::Simple => None,
        _ => Some(Activation::Sigmoid),
    };
    if cell.activation != Activation::Tanh || gate.is_some_and(|g| g != cell.recurrent_activation) {
        return Err(node.unsupported("an activation other than Keras' defaults (tanh, sigmoid)"));
    }
    let (op, _) = cell.onnx_op();
    let stack = |arrays: Vec<ArrayD<f32>>| {
        let views: Vec<_> = arrays
            .iter()
            .map(|a| a.view().insert_axis(Axis(0)))
            .collect();
        // the stacked arrays are the same weight of the forward and backward cells, built from one config
        concatenate(Axis(0), &views).expect("one shape")
    };
    let w = stack(
        cells
            .iter()
            .map(|(c, [k, _], _)| c.onnx_matrix(k))
            .collect(),
    );
    let r = stack(
        cells
            .iter()
            .map(|(c, [_, r], _)| c.onnx_matrix(r))
            .collect(),
    );
    let w = node.constant("W", &w);
    let r = node.constant("R", &r);
    let mut x = node.input(0, Layout::ChannelsLast);
    if options.go_backwards && cells.len() == 1 {
        // Keras' go_backwards runs the steps last first and gives its outputs in that order:
        // the forward operator over the steps reversed. (ONNX's direction "reverse" would put
        // the outputs back in input order, and tract ignores the direction of a single one.)
        let starts = node.constant_i64("reverse_starts", &[-1]);
        let ends = node.constant_i64("reverse_ends", &[i64::MIN]);
        let axes = node.constant_i64("reverse_axes", &[1]);
        let steps = node.constant_i64("reverse_steps", &[-1]);
        x = node.op("Slice", &[&x, &starts, &ends, &axes, &steps], vec![]);
    }
    let time_major = node.op(
        "Transpose",
        &[&x],
        vec![crate::io::onnx::OnnxAttribute::Ints("perm", vec![1, 0, 2])],
    );
    let mut inputs = vec![time_major, w, r];
    if cell.use_bias {
        let biases: Option<Vec<ArrayD<f32>>> = cells
            .iter()
            .map(|(c, _, b)| b.as_ref().map(|b| c.onnx_bias(b)))
            .collect();
        let b = stack(biases.ok_or_else(|| node.unsupported("a missing bias"))?);
        inputs.push(node.constant("B", &b));
    }
    let direction = if cells.len() == 2 {
        "bidirectional"
    } else {
        "forward"
    };
    let mut attributes = vec![
        Int("hidden_size", cell.units as i64),
        Str("direction", direction.into()),
    ];
    if let CellKind::Gru { reset_after } = cell.kind {
        attributes.push(Int("linear_before_reset", i64::from(reset_after)));
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let [y, y_h] = node.op2(op, &refs, attributes);
    if options.return_sequences {
        // [time, directions, batch, units] → [batch, time, directions, units]
        let mut y = node.op(
            "Transpose",
            &[&y],
            vec![crate::io::onnx::OnnxAttribute::Ints(
                "perm",
                vec![2, 0, 1, 3],
            )],
        );
        if cells.len() == 1 {
            let axis = node.constant_i64("squeeze_axes", &[2]);
            y = node.op("Squeeze", &[&y, &axis], vec![]);
        }
        Ok(y)
    } else {
        // [directions, batch, units] → [batch, directions, units]
        let h = node.op(
            "Transpose",
            &[&y_h],
            vec![crate::io::onnx::OnnxAttribute::Ints("perm", vec![1, 0, 2])],
        );
        if cells.len() == 1 {
            let axis = node.constant_i64("squeeze_axes", &[1]);
            return Ok(node.op("Squeeze", &[&h, &axis], vec![]));
        }
        Ok(h)
    }
}
