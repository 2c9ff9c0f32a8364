//! What `SimpleRNN`, `LSTM` and `GRU` share as layers: shapes, weights, masks and the call.

/// Implements [`LayerConfig`](crate::layers::LayerConfig) for a recurrent layer with fields
/// `options` and `name` and methods `cell()` and `inits()`.
macro_rules! recurrent_layer {
    ($ty:ty, $class:literal) => {
        impl $crate::layers::LayerConfig for $ty {
            const CLASS_NAME: &'static str = $class;
            type Module = $crate::layers::Weights;
            $crate::layers::config::name_field!(name);

            /// The sequence, then (Keras' `initial_state`) the initial states, `h` and an
            /// LSTM's `c`.
            fn arity(&self) -> (usize, usize) {
                (1, 1 + self.cell().state_count())
            }

            fn output_shape(
                &self,
                name: &str,
                inputs: &[$crate::Shape],
            ) -> $crate::Result<$crate::Shape> {
                Ok(self.output_shapes(name, inputs)?.swap_remove(0))
            }

            /// The output, then with `return_state` the final states (`h`, and an LSTM's `c`).
            fn output_shapes(
                &self,
                name: &str,
                inputs: &[$crate::Shape],
            ) -> $crate::Result<Vec<$crate::Shape>> {
                let input = &inputs[0];
                if input.rank() != 2 {
                    return Err($crate::Error::Shape {
                        layer: name.into(),
                        expected: "(None, time, features)".into(),
                        received: input.to_string(),
                    });
                }
                if self.units == 0 {
                    return Err($crate::Error::config(
                        format!("layer `{name}` ({})", $class),
                        "units must be at least 1",
                    ));
                }
                self.options.check(name)?;
                let cell = self.cell();
                let state = $crate::Shape::new(vec![self.units]);
                super::config::check_initial_states(name, $class, &inputs[1..], &cell, &state)?;
                let mut shapes = vec![cell.output_shape(input, &self.options)];
                if self.options.return_state {
                    shapes.extend(std::iter::repeat_n(state, cell.state_count()));
                }
                Ok(shapes)
            }

            #[cfg(feature = "onnx")]
            fn onnx(
                &self,
                node: &mut $crate::io::onnx::OnnxNode<'_>,
            ) -> $crate::Result<Vec<(String, $crate::graph::Layout)>> {
                let kernel = node.weight("kernel")?.clone();
                let recurrent = node.weight("recurrent_kernel")?.clone();
                let bias = node.weight("bias").ok().cloned();
                let cells = [(self.cell(), [kernel, recurrent], bias)];
                let y = super::onnx::onnx_recurrent(node, &cells, &self.options)?;
                Ok(vec![(y, $crate::graph::Layout::ChannelsLast)])
            }

            fn add_weights(
                &self,
                inputs: &[$crate::Shape],
                weights: &mut $crate::layers::WeightSpecs,
            ) -> $crate::Result<()> {
                let features = inputs[0].last().unwrap_or(0);
                self.cell().declare(features, &self.inits(), weights);
                Ok(())
            }

            /// The mask goes on with the sequence when the whole sequence is returned.
            fn compute_mask(
                &self,
                _: &[$crate::Value],
                mask: Option<&$crate::layers::Mask>,
            ) -> $crate::Result<Option<$crate::layers::Mask>> {
                Ok(mask.filter(|_| self.options.return_sequences).cloned())
            }

            fn call(
                &self,
                w: &$crate::layers::Weights,
                inputs: Vec<$crate::Value>,
                call: &$crate::layers::Call,
            ) -> $crate::Result<$crate::Value> {
                Ok(self.call_outputs(w, inputs, call)?.swap_remove(0))
            }

            fn call_outputs(
                &self,
                w: &$crate::layers::Weights,
                inputs: Vec<$crate::Value>,
                call: &$crate::layers::Call,
            ) -> $crate::Result<Vec<$crate::Value>> {
                let mut inputs = inputs.into_iter();
                let x = inputs
                    .next()
                    .ok_or_else(|| {
                        $crate::Error::config(call.name, "a recurrent layer needs an input")
                    })?
                    .into_tensor::<3>()?;
                let initial = inputs
                    .map(|s| s.into_tensor::<2>())
                    .collect::<$crate::Result<Vec<_>>>()?;
                let ran =
                    self.cell()
                        .run(w, x, call.mask, &initial, &self.options, call.training)?;
                let mut outputs = vec![ran.output];
                if self.options.return_state {
                    outputs.extend(ran.states.into_iter().map($crate::Value::R2));
                }
                Ok(outputs)
            }
        }
    };
}
pub(crate) use recurrent_layer;

/// Checks a recurrent layer's initial states (the inputs after the sequence): none, or one
/// `[units]` tensor per state of the cell.
pub(crate) fn check_initial_states(
    name: &str,
    class: &str,
    given: &[crate::Shape],
    cell: &super::cell::Cell,
    state: &crate::Shape,
) -> crate::Result<()> {
    let count = cell.state_count();
    if !given.is_empty() && given.len() != count {
        return Err(crate::Error::config(
            format!("layer `{name}` ({class})"),
            format!(
                "it is given {} initial state(s) after its sequence; it takes none or {count} \
                 ({})",
                given.len(),
                if count == 2 { "`h` and `c`" } else { "`h`" }
            ),
        ));
    }
    for (k, shape) in given.iter().enumerate() {
        if shape != state {
            return Err(crate::Error::Shape {
                layer: name.into(),
                expected: format!("initial state {k} of shape {state} (the layer's units)"),
                received: shape.to_string(),
            });
        }
    }
    Ok(())
}
