//! Weights declared by name: `WeightSpecs` (Keras' `add_weight`) and the `Weights` module that
//! holds them.

use crate::error::{Error, Result};
use crate::layers::{BuiltLayer, Initializer, ParamCount};
use burn::module::{Module, Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};

/// One declared weight: its name, shape (in Keras' layout), initializer and trainability.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSpec {
    /// The weight's name within its layer (`kernel`).
    pub name: String,
    /// Its shape, in Keras' layout (`[in, out]` for a kernel).
    pub shape: Vec<usize>,
    /// How it starts.
    pub initializer: Initializer,
    /// Whether the optimizer updates it (false for statistics a layer keeps).
    pub trainable: bool,
}

impl WeightSpec {
    /// The number of values.
    /// Its number of elements (saturating: a shape read from a file may claim more than
    /// `usize` holds, which the model refuses before allocating).
    pub fn size(&self) -> usize {
        self.shape.iter().fold(1, |n, &d| n.saturating_mul(d))
    }

    /// Keras' fans (`compute_fans`): a vector's length both ways; a matrix's rows and
    /// columns; for a convolution kernel `[..., in, out]`, `in` and `out` times the receptive
    /// field.
    fn fans(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, *n),
            [.., i, o] => {
                let receptive: usize = self.shape[..self.shape.len() - 2].iter().product();
                (i * receptive, o * receptive)
            }
        }
    }
}

/// The weights a layer declares, in order: what
/// [`LayerConfig::add_weights`](crate::layers::LayerConfig::add_weights) fills.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightSpecs {
    specs: Vec<WeightSpec>,
}

impl WeightSpecs {
    /// Declares a weight, as Keras' `add_weight(name, shape, initializer, trainable)`.
    /// Its shape has 1 to 5 dimensions.
    pub fn add_weight(
        &mut self,
        name: impl Into<String>,
        shape: impl Into<Vec<usize>>,
        initializer: Initializer,
        trainable: bool,
    ) -> &mut Self {
        self.specs.push(WeightSpec {
            name: name.into(),
            shape: shape.into(),
            initializer,
            trainable,
        });
        self
    }

    /// The declared weights, in order.
    pub fn specs(&self) -> &[WeightSpec] {
        &self.specs
    }

    /// The counts, trainable and not.
    pub fn count(&self) -> ParamCount {
        let mut count = ParamCount::default();
        for s in &self.specs {
            if s.trainable {
                count.trainable = count.trainable.saturating_add(s.size());
            } else {
                count.non_trainable = count.non_trainable.saturating_add(s.size());
            }
        }
        count
    }

    /// Checks that names are distinct, free of `/`, and that shapes have 1 to 5 non-zero
    /// dimensions; `layer` names the layer in the error.
    pub(crate) fn check(&self, layer: &str) -> Result<()> {
        for (i, s) in self.specs.iter().enumerate() {
            let what = format!("layer `{layer}`: weight `{}`", s.name);
            if s.name.is_empty() || s.name.contains('/') {
                return Err(Error::config(
                    what,
                    "a weight's name must be non-empty and free of `/`, which separates layer \
                     and weight names in files",
                ));
            }
            if self.specs[..i].iter().any(|t| t.name == s.name) {
                return Err(Error::config(
                    what,
                    "two weights of the layer share this name; give each its own",
                ));
            }
            if let Some(why) = s.initializer.refuses(&s.shape) {
                return Err(Error::config(what, why));
            }
            if !(1..=5).contains(&s.shape.len()) || s.shape.contains(&0) {
                return Err(Error::config(
                    what,
                    format!(
                        "its shape {:?} must have 1 to 5 non-zero dimensions",
                        s.shape
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A weight of any rank from 1 to 5.
#[derive(Module, Debug)]
pub enum WeightParam {
    /// A vector.
    R1(Param<Tensor<1>>),
    /// A matrix.
    R2(Param<Tensor<2>>),
    /// Rank 3.
    R3(Param<Tensor<3>>),
    /// Rank 4.
    R4(Param<Tensor<4>>),
    /// Rank 5.
    R5(Param<Tensor<5>>),
}

macro_rules! each_rank {
    ($param:expr, $p:ident => $body:expr) => {
        match $param {
            WeightParam::R1($p) => $body,
            WeightParam::R2($p) => $body,
            WeightParam::R3($p) => $body,
            WeightParam::R4($p) => $body,
            WeightParam::R5($p) => $body,
        }
    };
}

impl WeightParam {
    fn new(spec: &WeightSpec, device: &Device) -> Self {
        let fans = spec.fans();
        macro_rules! make {
            ($variant:ident, $d:literal) => {{
                // the match below calls make! with $d == spec.shape.len()
                let shape: [usize; $d] = spec.shape[..].try_into().expect("rank matched");
                let t: Tensor<$d> = spec.initializer.tensor(shape, fans, device);
                WeightParam::$variant(Param::from_tensor(t).set_require_grad(spec.trainable))
            }};
        }
        match spec.shape.len() {
            1 => make!(R1, 1),
            2 => make!(R2, 2),
            3 => make!(R3, 3),
            4 => make!(R4, 4),
            5 => make!(R5, 5),
            // WeightSpecs::add refuses ranks other than 1 to 5
            n => unreachable!("ranks are checked when declared, got {n}"),
        }
    }

    fn data(&self) -> TensorData {
        each_rank!(self, p => p.val().to_data())
    }

    fn id(&mut self) -> &mut ParamId {
        each_rank!(self, p => &mut p.id)
    }

    fn dims(&self) -> Vec<usize> {
        each_rank!(self, p => p.val().dims().to_vec())
    }

    fn reload(&mut self, data: TensorData) {
        each_rank!(self, p => *p = crate::layers::module::reload(p, data, |t| t))
    }
}

/// The weights of a layer declared with [`WeightSpecs::add_weight`], in declaration order: the
/// module of your own layers (and of built-ins such as `LayerNormalization`). A real Burn module:
/// the optimizer trains the trainable weights; the others are kept without gradients.
///
/// In [`LayerConfig::call`](crate::layers::LayerConfig::call), read a weight with
/// [`Weights::get`]; its gradient flows back through whatever the call computes. Weights
/// declared not trainable are saved, loaded and counted like the others, but `call` only reads
/// them (kiln has no `assign` from inside a forward pass yet; `set_weights` changes them).
#[derive(Module, Debug)]
pub struct Weights {
    params: Vec<WeightParam>,
    #[module(skip)]
    names: Vec<String>,
    #[module(skip)]
    trainable: Vec<bool>,
    #[module(skip)]
    layer: String,
}

impl Weights {
    /// The declared weights of layer `layer`, initialized on `device`.
    pub fn new(layer: &str, specs: WeightSpecs, device: &Device) -> Result<Self> {
        specs.check(layer)?;
        let specs = specs.specs;
        Ok(Weights {
            params: specs.iter().map(|s| WeightParam::new(s, device)).collect(),
            names: specs.iter().map(|s| s.name.clone()).collect(),
            trainable: specs.iter().map(|s| s.trainable).collect(),
            layer: layer.to_string(),
        })
    }

    /// The weight `name` as a rank-`D` tensor: tracked for gradients when it is trainable and
    /// this is a training step. An error names the layer and the weight when there is no such
    /// weight or its rank is not `D`.
    pub fn get<const D: usize>(&self, name: &str) -> Result<Tensor<D>> {
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return Err(Error::config(
                format!("layer `{}`: weight `{name}`", self.layer),
                format!(
                    "the layer declares no such weight; it declares {:?}",
                    self.names
                ),
            ));
        };
        let param = &self.params[i];
        let wrong = || Error::Shape {
            layer: format!("{}/{name}", self.layer),
            expected: format!("a rank-{D} weight"),
            received: format!("{:?}", param.dims()),
        };
        macro_rules! take {
            ($p:expr, $d:literal) => {
                if D == $d {
                    let t = $p.val();
                    // D == $d here, the tensor's rank
                    let dims: [usize; D] = t.dims()[..].try_into().expect("the rank is D");
                    Ok(t.reshape(dims))
                } else {
                    Err(wrong())
                }
            };
        }
        match param {
            WeightParam::R1(p) => take!(p, 1),
            WeightParam::R2(p) => take!(p, 2),
            WeightParam::R3(p) => take!(p, 3),
            WeightParam::R4(p) => take!(p, 4),
            WeightParam::R5(p) => take!(p, 5),
        }
    }

    /// The gradient of weight `name` in `grads`, flattened (tests of layers' backward passes).
    #[cfg(test)]
    pub(crate) fn grad(&self, name: &str, grads: &burn::tensor::Gradients) -> Option<Vec<f32>> {
        let i = self.names.iter().position(|n| n == name)?;
        let g = each_rank!(&self.params[i], p => p.val().grad(grads)?.into_data());
        g.try_to_vec::<f32>().ok()
    }

    /// The weights' names, in declaration order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn weight_data(&self) -> Vec<(String, TensorData)> {
        self.names
            .iter()
            .zip(&self.params)
            .map(|(n, p)| (n.clone(), p.data()))
            .collect()
    }

    pub(crate) fn trainable_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        self.names
            .iter()
            .zip(&self.trainable)
            .zip(&mut self.params)
            .filter(|((_, t), _)| **t)
            .map(|((n, _), p)| (n.clone(), p.id()))
            .collect()
    }

    pub(crate) fn set(&mut self, name: &str, data: TensorData) -> bool {
        match self.names.iter().position(|n| n == name) {
            Some(i) => {
                self.params[i].reload(data);
                true
            }
            None => false,
        }
    }
}

impl BuiltLayer for Weights {
    fn weights(&self) -> Vec<(String, TensorData)> {
        self.weight_data()
    }

    fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
        self.set(name, data)
    }

    fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
        self.trainable_ids()
    }

    fn from_specs(layer: &str, specs: WeightSpecs, device: &Device) -> Result<Self> {
        Weights::new(layer, specs, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> WeightSpecs {
        let mut w = WeightSpecs::default();
        w.add_weight("kernel", [3, 2], Initializer::GlorotUniform, true)
            .add_weight("count", [2], Initializer::Ones, false);
        w
    }

    #[test]
    fn counts_split_trainable_from_kept() {
        let c = specs().count();
        assert_eq!((c.trainable, c.non_trainable), (6, 2));
    }

    #[test]
    fn conv_kernels_have_keras_fans() {
        let s = WeightSpec {
            name: "kernel".into(),
            shape: vec![3, 3, 4, 8],
            initializer: Initializer::GlorotUniform,
            trainable: true,
        };
        assert_eq!(s.fans(), (36, 72));
    }

    #[test]
    fn weights_are_read_by_name_and_rank() {
        let device = crate::backend::test_device();
        let w = Weights::new("gate", specs(), &device).unwrap();
        assert_eq!(w.get::<2>("kernel").unwrap().dims(), [3, 2]);
        let ones: Vec<f32> = w
            .get::<1>("count")
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(ones, [1.0, 1.0]);
        let e = w.get::<1>("kernel").unwrap_err().to_string();
        assert!(e.contains("gate/kernel") && e.contains("[3, 2]"), "{e}");
        let e = w.get::<1>("bias").unwrap_err().to_string();
        assert!(e.contains("`gate`") && e.contains("bias"), "{e}");
    }

    #[test]
    fn bad_declarations_name_the_layer_and_weight() {
        let device = crate::backend::test_device();
        for (name, shape) in [("a/b", vec![2]), ("k", vec![]), ("k", vec![2, 0])] {
            let mut w = WeightSpecs::default();
            w.add_weight(name, shape, Initializer::Zeros, true);
            let e = Weights::new("mine", w, &device).unwrap_err().to_string();
            assert!(e.contains("`mine`"), "{e}");
        }
        let mut w = specs();
        w.add_weight("kernel", [1], Initializer::Zeros, true);
        assert!(Weights::new("mine", w, &device).is_err());
    }

    #[test]
    fn only_trainable_weights_have_optimizer_ids() {
        let device = crate::backend::test_device();
        let mut w = Weights::new("gate", specs(), &device).unwrap();
        let names: Vec<String> = w.trainable_ids().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["kernel"]);
    }
}
