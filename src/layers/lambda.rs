//! `Lambda`: a stateless closure as a layer.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::{LayerConfig, Weights};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The function of a [`Lambda`] layer: a batch in (batch first, channels last), a batch out.
pub type LambdaFn = dyn Fn(Value) -> Result<Value> + Send + Sync;

/// A layer computing a stateless closure, as Keras' `Lambda`: any Burn tensor operations,
/// differentiated in training like any layer's, on every backend. It has no weights.
///
/// Its output shape is found by running the closure once on a batch of one zero sample on
/// the CPU, unless given with [`Lambda::output_shape`]. A file cannot hold a closure, so
/// saving a model with a `Lambda` is an error: write a [`LayerConfig`] to make it savable, or
/// save the weights alone.
///
/// ```
/// use burn::tensor::Tensor;
/// use kiln::layers::Lambda;
/// use kiln::prelude::*;
/// let double = Lambda::new(|x| {
///     let t: Tensor<2> = x.into_tensor()?;
///     Ok(t.mul_scalar(2.0).into())
/// });
/// let model = Sequential::new().input([3]).add(double).build()?;
/// let y = model.predict_on_batch(&ndarray::array![[1.0f32, 2.0, 3.0]])?;
/// assert_eq!(y.iter().copied().collect::<Vec<f32>>(), [2.0, 4.0, 6.0]);
/// assert!(model.save(std::env::temp_dir().join("lambda.safetensors")).is_err());
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone)]
pub struct Lambda {
    /// The layer's name; `lambda`, `lambda_1`… when not set.
    pub name: Option<String>,
    function: Arc<LambdaFn>,
    output_shape: Option<Shape>,
}

impl Lambda {
    /// A layer computing `function`.
    pub fn new(function: impl Fn(Value) -> Result<Value> + Send + Sync + 'static) -> Self {
        Lambda {
            name: None,
            function: Arc::new(function),
            output_shape: None,
        }
    }

    /// Sets the shape of one output sample (batch excluded) instead of finding it by a trial
    /// run.
    pub fn output_shape(mut self, shape: impl Into<Vec<usize>>) -> Self {
        self.output_shape = Some(Shape::new(shape));
        self
    }

    /// Sets the layer's name (default: auto-numbered `lambda`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl fmt::Debug for Lambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lambda")
            .field("name", &self.name)
            .field("output_shape", &self.output_shape)
            .finish_non_exhaustive()
    }
}

/// The same closure and settings.
impl PartialEq for Lambda {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.function, &other.function)
            && self.name == other.name
            && self.output_shape == other.output_shape
    }
}

/// Written for reading only (`to_json`, summaries): the closure is not.
impl Serialize for Lambda {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Lambda", 2)?;
        st.serialize_field("function", "<Rust closure>")?;
        if let Some(name) = &self.name {
            st.serialize_field("name", name)?;
        }
        st.end()
    }
}

/// Always an error: JSON cannot hold the closure.
impl<'de> Deserialize<'de> for Lambda {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a `Lambda` layer holds a Rust closure, which no file can hold",
        ))
    }
}

impl LayerConfig for Lambda {
    const CLASS_NAME: &'static str = "Lambda";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        if let Some(shape) = &self.output_shape {
            return Ok(shape.clone());
        }
        let Some(device) = crate::backend::staging_device() else {
            return Err(Error::config(
                format!("layer `{name}` (Lambda)"),
                "without a CPU backend its output shape cannot be found by a trial run; give \
                 it with `.output_shape(...)`",
            ));
        };
        let input = &inputs[0];
        let mut dims = vec![1];
        dims.extend_from_slice(input.dims());
        let x = Value::from_host(vec![0.0; input.size()], &dims, &device)?;
        let y = (self.function)(x)
            .map_err(|e| Error::config(format!("layer `{name}`"), e.to_string()))?;
        let out = y.dims();
        if out.first() != Some(&1) {
            return Err(Error::Shape {
                layer: name.into(),
                expected: "an output with the batch of its input (1 in the trial run)".into(),
                received: format!("{out:?} for input {input}"),
            });
        }
        Ok(Shape::new(out[1..].to_vec()))
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let y = (self.function)(inputs.swap_remove(0))?;
        if y.dims().first() != Some(&call.batch) {
            return Err(Error::Shape {
                layer: call.name.into(),
                expected: format!("an output batch of {}, as its input's", call.batch),
                received: format!("{:?}", y.dims()),
            });
        }
        Ok(y)
    }

    fn savable(&self) -> Result<()> {
        Err(Error::config(
            format!(
                "layer `{}` (Lambda)",
                self.name.as_deref().unwrap_or("lambda")
            ),
            "it holds a Rust closure, which no file can hold; write it as a LayerConfig and \
             register it, or save the weights alone with `save_weights`",
        ))
    }
}
