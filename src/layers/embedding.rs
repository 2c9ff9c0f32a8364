//! `Embedding`: token ids to dense vectors.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, Mask, Torch, TorchModule, TorchTensor, name_field};
use crate::layers::{Initializer, LayerConfig, WeightSpecs, Weights};
use crate::shape::Shape;
use burn::tensor::{Int, Tensor, TensorData};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// Turns token ids into vectors, as Keras' `Embedding`: row `id` of the `embeddings` matrix
/// `[input_dim, output_dim]` for each id.
///
/// The input holds integer token ids (as numbers: `[batch, time]` for a sequence), each in
/// `0..input_dim`; an id outside that range, or not a whole number, is an error naming the
/// layer, the id and where it is, never a clamp. With `mask_zero`, id 0 is padding: the layer
/// makes a mask that recurrent layers and `GlobalAveragePooling1D` respect (and `input_dim`
/// must leave room for it, as in Keras: ids `1..input_dim`).
///
/// ```
/// use kiln::prelude::*;
/// use kiln::layers::Embedding;
///
/// let model = Sequential::new()
///     .input([10])
///     .add(Embedding::new(1000, 64).mask_zero(true))
///     .build()?;
/// assert_eq!(model.summary().total_params, 1000 * 64);
/// let ids = ndarray::Array2::<f32>::from_elem((2, 10), 7.0);
/// assert_eq!(model.predict(&ids.into_dyn())?.shape(), [2, 10, 64]);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedding {
    /// The number of distinct ids: ids run from 0 to `input_dim - 1`.
    pub input_dim: usize,
    /// The length of each id's vector.
    pub output_dim: usize,
    /// How the vectors start (Keras: uniform in ±0.05).
    #[serde(default = "uniform")]
    pub embeddings_initializer: Initializer,
    /// Whether id 0 is padding, masked for the layers after.
    #[serde(default)]
    pub mask_zero: bool,
    /// The layer's name; `embedding`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn uniform() -> Initializer {
    Initializer::Uniform
}

impl Embedding {
    /// An embedding of `input_dim` ids into vectors of `output_dim`, with Keras' defaults.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Embedding {
            input_dim,
            output_dim,
            embeddings_initializer: uniform(),
            mask_zero: false,
            name: None,
        }
    }

    /// Sets whether id 0 is masked padding (default false).
    pub fn mask_zero(mut self, mask_zero: bool) -> Self {
        self.mask_zero = mask_zero;
        self
    }

    /// Sets how the vectors start (default uniform in ±0.05).
    pub fn embeddings_initializer(mut self, init: Initializer) -> Self {
        self.embeddings_initializer = init;
        self
    }

    /// Sets the layer's name (default: auto-numbered `embedding`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The ids of `x`, checked: whole numbers in `0..input_dim`.
    fn ids(&self, name: &str, x: &Value) -> Result<Vec<i64>> {
        let dims = x.dims();
        let values: Vec<f32> = x
            .clone()
            .flatten()
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .map_err(|e| Error::data(format!("layer `{name}` (Embedding): {e:?}")))?;
        let per_sample = values.len() / dims[0].max(1);
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v.fract() == 0.0 && v >= 0.0 && (v as usize) < self.input_dim {
                    Ok(v as i64)
                } else {
                    Err(Error::data(format!(
                        "layer `{name}` (Embedding): token id {v} (sample {}, position {}) is \
                         not an id in 0..{}; give whole numbers below input_dim, or raise \
                         input_dim",
                        i / per_sample,
                        i % per_sample,
                        self.input_dim
                    )))
                }
            })
            .collect()
    }
}

impl LayerConfig for Embedding {
    const CLASS_NAME: &'static str = "Embedding";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let input = &inputs[0];
        if self.input_dim == 0 || self.output_dim == 0 {
            return Err(Error::config(
                format!("layer `{name}` (Embedding)"),
                format!(
                    "input_dim ({}) and output_dim ({}) must be positive",
                    self.input_dim, self.output_dim
                ),
            ));
        }
        if input.rank() > 3 {
            return Err(Error::Shape {
                layer: name.into(),
                expected: "token ids of 1 to 3 dimensions besides the batch".into(),
                received: input.to_string(),
            });
        }
        if self.mask_zero && input.rank() != 1 {
            return Err(Error::Shape {
                layer: name.into(),
                expected: "token ids [batch, time] for mask_zero".into(),
                received: input.to_string(),
            });
        }
        let mut dims = input.dims().to_vec();
        dims.push(self.output_dim);
        Ok(Shape::new(dims))
    }

    #[cfg(feature = "onnx")]
    fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, crate::graph::Layout)>> {
        use crate::io::onnx::OnnxAttribute::Int;
        if self.mask_zero {
            return Err(node.unsupported("mask_zero (a mask)"));
        }
        let x = node.input(0, crate::graph::Layout::ChannelsLast);
        let ids = node.op("Cast", &[&x], vec![Int("to", 7)]);
        let table = node.weight("embeddings")?.clone();
        let table = node.constant("embeddings", &table);
        let vectors = node.op("Gather", &[&table, &ids], vec![Int("axis", 0)]);
        Ok(vec![(vectors, crate::graph::Layout::ChannelsLast)])
    }

    fn add_weights(&self, _: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        weights.add_weight(
            "embeddings",
            [self.input_dim, self.output_dim],
            self.embeddings_initializer,
            true,
        );
        Ok(())
    }

    /// `torch.nn.Embedding(input_dim, output_dim)`: `weight` is `embeddings`.
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, _: &Torch) -> Result<TorchModule> {
        Ok(TorchModule {
            tensors: weights
                .into_iter()
                .map(|(_, w)| ("weight".to_string(), TorchTensor::F32(w)))
                .collect(),
            modules: 1,
        })
    }

    /// With `mask_zero`, 1 where the id is not 0.
    fn compute_mask(&self, inputs: &[Value], _: Option<&Mask>) -> Result<Option<Mask>> {
        if !self.mask_zero {
            return Ok(None);
        }
        let ids: Tensor<2> = inputs[0].clone().into_tensor()?;
        Ok(Some(ids.not_equal_elem(0.0).float()))
    }

    fn call(&self, w: &Weights, inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = &inputs[0];
        let ids = self.ids(call.name, x)?;
        let device = x.device();
        let n = ids.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), &device);
        let vectors = w.get::<2>("embeddings")?.select(0, index);
        let mut dims = x.dims();
        dims.push(self.output_dim);
        Value::R2(vectors).reshape(&dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;
    use crate::graph::Layout;

    fn embed(layer: Embedding, ids: Vec<f32>, dims: &[usize]) -> Result<(Vec<f32>, Layer)> {
        let device = crate::backend::test_device();
        let l = Layer::new(layer);
        let shape = Shape::new(dims[1..].to_vec());
        let m = l.build(std::slice::from_ref(&shape), &device)?;
        let x = Value::from_host(ids, dims, &device).unwrap();
        let (y, _) = l.call(&m, vec![x], Layout::ChannelsLast)?;
        Ok((y.flatten().into_data().try_to_vec::<f32>().unwrap(), l))
    }

    #[test]
    fn rows_of_the_matrix_are_looked_up() {
        let layer = Embedding::new(3, 2).embeddings_initializer(Initializer::Ones);
        let (y, _) = embed(layer, vec![0.0, 2.0, 1.0, 1.0], &[2, 2]).unwrap();
        assert_eq!(y, vec![1.0; 8]);
    }

    #[test]
    fn ids_out_of_range_are_errors_naming_the_id() {
        for bad in [3.0, -1.0, 1.5, f32::NAN] {
            let err = embed(Embedding::new(3, 2).name("emb"), vec![0.0, bad], &[1, 2])
                .unwrap_err()
                .to_string();
            assert!(err.contains("emb") && err.contains("position 1"), "{err}");
        }
    }

    #[test]
    fn mask_zero_marks_padding() {
        let device = crate::backend::test_device();
        let ids = Value::from_host(vec![5.0, 0.0, 0.0, 1.0], &[2, 2], &device).unwrap();
        let mask = Embedding::new(6, 2)
            .mask_zero(true)
            .compute_mask(&[ids], None)
            .unwrap()
            .unwrap();
        assert_eq!(
            mask.into_data().try_to_vec::<f32>().unwrap(),
            [1.0, 0.0, 0.0, 1.0]
        );
        let none = Embedding::new(6, 2)
            .compute_mask(
                &[Value::from_host(vec![0.0], &[1, 1], &device).unwrap()],
                None,
            )
            .unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn mask_zero_needs_sequences() {
        let err = Layer::new(Embedding::new(6, 2).mask_zero(true))
            .output_shape(&Shape::new(vec![3, 4]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mask_zero"), "{err}");
    }
}
