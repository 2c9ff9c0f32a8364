//! What `SimpleRNN`, `LSTM` and `GRU` share as layers: shapes, weights, masks and the call.

/// Implements [`LayerConfig`](crate::layers::LayerConfig) for a recurrent layer with fields
/// `options` and `name` and methods `cell()` and `inits()`.
macro_rules! recurrent_layer {
    ($ty:ty, $class:literal) => {
        impl $crate::layers::LayerConfig for $ty {
            const CLASS_NAME: &'static str = $class;
            type Module = $crate::layers::Weights;
            $crate::layers::config::name_field!(name);

            fn output_shape(
                &self,
                name: &str,
                inputs: &[$crate::Shape],
            ) -> $crate::Result<$crate::Shape> {
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
                Ok(self.cell().output_shape(input, &self.options))
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
                mut inputs: Vec<$crate::Value>,
                call: &$crate::layers::Call,
            ) -> $crate::Result<$crate::Value> {
                let x = inputs.swap_remove(0).into_tensor::<3>()?;
                self.cell()
                    .run(w, x, call.mask, &self.options, call.training)
            }
        }
    };
}
pub(crate) use recurrent_layer;
