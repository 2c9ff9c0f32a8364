//! `Layer`: the closed set of layer configurations a model is made of.

use crate::error::{Error, Result};
use crate::layers::module::{ActivationModule, LayerModule, ReshapeModule, StatelessModule};
use crate::layers::pooling::{PoolModule, Reduce};
use crate::layers::reshape::MAX_RANK;
use crate::layers::{
    ActivationLayer, Add, Average, AveragePooling2D, BatchNormalization, Concatenate, Conv1D,
    Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling1D,
    MaxPooling2D, Maximum, MergeModule, Minimum, Multiply, NestedModel, Reshape, Subtract, merge,
};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// A layer's configuration: what it is, before it has weights.
///
/// Serialized as Keras does (`{"class_name": "Dense", "config": {...}}`). Each layer infers its
/// output shape from its input shape and builds a Burn module
/// ([`LayerModule`]) once the input shape is known.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
#[non_exhaustive]
pub enum Layer {
    /// See [`Dense`].
    Dense(Dense),
    /// See [`ActivationLayer`].
    Activation(ActivationLayer),
    /// See [`Dropout`].
    Dropout(Dropout),
    /// See [`Flatten`].
    Flatten(Flatten),
    /// See [`Reshape`].
    Reshape(Reshape),
    /// See [`Conv2D`].
    Conv2D(Conv2D),
    /// See [`Conv1D`].
    Conv1D(Conv1D),
    /// See [`MaxPooling2D`].
    MaxPooling2D(MaxPooling2D),
    /// See [`AveragePooling2D`].
    AveragePooling2D(AveragePooling2D),
    /// See [`MaxPooling1D`].
    MaxPooling1D(MaxPooling1D),
    /// See [`GlobalAveragePooling2D`].
    GlobalAveragePooling2D(GlobalAveragePooling2D),
    /// See [`GlobalMaxPooling2D`].
    GlobalMaxPooling2D(GlobalMaxPooling2D),
    /// See [`BatchNormalization`].
    BatchNormalization(BatchNormalization),
    /// See [`Add`].
    Add(Add),
    /// See [`Subtract`].
    Subtract(Subtract),
    /// See [`Multiply`].
    Multiply(Multiply),
    /// See [`Average`].
    Average(Average),
    /// See [`Maximum`].
    Maximum(Maximum),
    /// See [`Minimum`].
    Minimum(Minimum),
    /// See [`Concatenate`].
    Concatenate(Concatenate),
    /// A whole model used as a layer; see [`NestedModel`].
    #[serde(rename = "Functional", alias = "Sequential")]
    Model(NestedModel),
}

/// How many weights a layer has, split as Keras' summary splits them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamCount {
    /// Weights updated by the optimizer.
    pub trainable: usize,
    /// Weights kept but not trained (batch-norm statistics).
    pub non_trainable: usize,
}

impl ParamCount {
    pub(crate) fn trainable(n: usize) -> Self {
        ParamCount {
            trainable: n,
            non_trainable: 0,
        }
    }

    /// Trainable plus non-trainable.
    pub fn total(&self) -> usize {
        self.trainable + self.non_trainable
    }
}

impl std::ops::Add for ParamCount {
    type Output = ParamCount;

    fn add(self, o: ParamCount) -> ParamCount {
        ParamCount {
            trainable: self.trainable + o.trainable,
            non_trainable: self.non_trainable + o.non_trainable,
        }
    }
}

impl Layer {
    /// The Keras class name (`Dense`), as the summary shows it.
    pub fn class_name(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "Dense",
            Layer::Activation(_) => "Activation",
            Layer::Dropout(_) => "Dropout",
            Layer::Flatten(_) => "Flatten",
            Layer::Reshape(_) => "Reshape",
            Layer::Conv2D(_) => "Conv2D",
            Layer::Conv1D(_) => "Conv1D",
            Layer::MaxPooling2D(_) => "MaxPooling2D",
            Layer::AveragePooling2D(_) => "AveragePooling2D",
            Layer::MaxPooling1D(_) => "MaxPooling1D",
            Layer::GlobalAveragePooling2D(_) => "GlobalAveragePooling2D",
            Layer::GlobalMaxPooling2D(_) => "GlobalMaxPooling2D",
            Layer::BatchNormalization(_) => "BatchNormalization",
            Layer::Add(_) => "Add",
            Layer::Subtract(_) => "Subtract",
            Layer::Multiply(_) => "Multiply",
            Layer::Average(_) => "Average",
            Layer::Maximum(_) => "Maximum",
            Layer::Minimum(_) => "Minimum",
            Layer::Concatenate(_) => "Concatenate",
            Layer::Model(m) => m.class_name(),
        }
    }

    /// The stem of automatic names (`dense` → `dense`, `dense_1`…).
    pub fn base_name(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Activation(_) => "activation",
            Layer::Dropout(_) => "dropout",
            Layer::Flatten(_) => "flatten",
            Layer::Reshape(_) => "reshape",
            Layer::Conv2D(_) => "conv2d",
            Layer::Conv1D(_) => "conv1d",
            Layer::MaxPooling2D(_) => "max_pooling2d",
            Layer::AveragePooling2D(_) => "average_pooling2d",
            Layer::MaxPooling1D(_) => "max_pooling1d",
            Layer::GlobalAveragePooling2D(_) => "global_average_pooling2d",
            Layer::GlobalMaxPooling2D(_) => "global_max_pooling2d",
            Layer::BatchNormalization(_) => "batch_normalization",
            Layer::Add(_) => "add",
            Layer::Subtract(_) => "subtract",
            Layer::Multiply(_) => "multiply",
            Layer::Average(_) => "average",
            Layer::Maximum(_) => "maximum",
            Layer::Minimum(_) => "minimum",
            Layer::Concatenate(_) => "concatenate",
            Layer::Model(m) if m.graph.is_chain() => "sequential",
            Layer::Model(_) => "functional",
        }
    }

    /// The name given by the user, if any.
    pub fn name(&self) -> Option<&str> {
        self.name_slot_ref().as_deref()
    }

    pub(crate) fn set_name(&mut self, name: String) {
        *self.name_slot() = Some(name);
    }

    fn name_slot_ref(&self) -> &Option<String> {
        match self {
            Layer::Dense(l) => &l.name,
            Layer::Activation(l) => &l.name,
            Layer::Dropout(l) => &l.name,
            Layer::Flatten(l) => &l.name,
            Layer::Reshape(l) => &l.name,
            Layer::Conv2D(l) => &l.name,
            Layer::Conv1D(l) => &l.name,
            Layer::MaxPooling2D(l) => &l.0.name,
            Layer::AveragePooling2D(l) => &l.0.name,
            Layer::MaxPooling1D(l) => &l.name,
            Layer::GlobalAveragePooling2D(l) => &l.name,
            Layer::GlobalMaxPooling2D(l) => &l.name,
            Layer::BatchNormalization(l) => &l.name,
            Layer::Add(l) => &l.name,
            Layer::Subtract(l) => &l.name,
            Layer::Multiply(l) => &l.name,
            Layer::Average(l) => &l.name,
            Layer::Maximum(l) => &l.name,
            Layer::Minimum(l) => &l.name,
            Layer::Concatenate(l) => &l.name,
            Layer::Model(l) => &l.name,
        }
    }

    fn name_slot(&mut self) -> &mut Option<String> {
        match self {
            Layer::Dense(l) => &mut l.name,
            Layer::Activation(l) => &mut l.name,
            Layer::Dropout(l) => &mut l.name,
            Layer::Flatten(l) => &mut l.name,
            Layer::Reshape(l) => &mut l.name,
            Layer::Conv2D(l) => &mut l.name,
            Layer::Conv1D(l) => &mut l.name,
            Layer::MaxPooling2D(l) => &mut l.0.name,
            Layer::AveragePooling2D(l) => &mut l.0.name,
            Layer::MaxPooling1D(l) => &mut l.name,
            Layer::GlobalAveragePooling2D(l) => &mut l.name,
            Layer::GlobalMaxPooling2D(l) => &mut l.name,
            Layer::BatchNormalization(l) => &mut l.name,
            Layer::Add(l) => &mut l.name,
            Layer::Subtract(l) => &mut l.name,
            Layer::Multiply(l) => &mut l.name,
            Layer::Average(l) => &mut l.name,
            Layer::Maximum(l) => &mut l.name,
            Layer::Minimum(l) => &mut l.name,
            Layer::Concatenate(l) => &mut l.name,
            Layer::Model(l) => &mut l.name,
        }
    }

    /// How many inputs the layer takes: `(at least, at most)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Layer::Add(_)
            | Layer::Multiply(_)
            | Layer::Average(_)
            | Layer::Maximum(_)
            | Layer::Minimum(_)
            | Layer::Concatenate(_) => (2, usize::MAX),
            Layer::Subtract(_) => (2, 2),
            Layer::Model(m) => (m.graph.inputs().len(), m.graph.inputs().len()),
            _ => (1, 1),
        }
    }

    /// Whether the layer combines several inputs (`Add`, `Concatenate`…).
    pub fn is_merge(&self) -> bool {
        self.arity().0 > 1 && !matches!(self, Layer::Model(_))
    }

    /// The output shape for a single input shape, or an error naming the layer and the shapes.
    pub fn output_shape(&self, input: &Shape) -> Result<Shape> {
        self.output_shape_of(std::slice::from_ref(input))
    }

    /// The output shape for the shapes of all the layer's inputs, or an error naming the layer
    /// and the shapes.
    pub fn output_shape_of(&self, inputs: &[Shape]) -> Result<Shape> {
        let name = self.name().unwrap_or(self.base_name());
        for input in inputs {
            if input.rank() == 0 || input.rank() > MAX_RANK || input.dims().contains(&0) {
                return Err(Error::Shape {
                    layer: name.into(),
                    expected: format!("1 to {MAX_RANK} non-zero dimensions besides the batch"),
                    received: input.to_string(),
                });
            }
        }
        let (least, most) = self.arity();
        if least == 1 && most == 1 && inputs.len() != 1 {
            return Err(Error::config(
                format!("layer `{name}`"),
                format!(
                    "{} takes one input, but is given {}; merge them first (`Add`, \
                     `Concatenate`…)",
                    self.class_name(),
                    inputs.len()
                ),
            ));
        }
        let input = &inputs[0];
        match self {
            Layer::Dense(l) => l.output_shape(name, input),
            Layer::Activation(l) => l.output_shape(input),
            Layer::Dropout(l) => l.output_shape(name, input),
            Layer::Flatten(l) => l.output_shape(input),
            Layer::Reshape(l) => l.output_shape(name, input),
            Layer::Conv2D(l) => l.output_shape(name, input),
            Layer::Conv1D(l) => l.output_shape(name, input),
            Layer::MaxPooling2D(l) => l.0.output_shape(name, input),
            Layer::AveragePooling2D(l) => l.0.output_shape(name, input),
            Layer::MaxPooling1D(l) => l.output_shape(name, input),
            Layer::GlobalAveragePooling2D(l) => l.output_shape(name, input),
            Layer::GlobalMaxPooling2D(l) => l.output_shape(name, input),
            Layer::BatchNormalization(l) => l.output_shape(name, input),
            Layer::Concatenate(l) => l.output_shape(name, inputs),
            Layer::Model(m) => nested_output_shape(name, m, inputs),
            merge => {
                let op = merge
                    .merge_op()
                    .expect("the other layers are matched above");
                merge::elementwise_shape(name, op, inputs)
            }
        }
    }

    /// The operation of an elementwise merge layer.
    fn merge_op(&self) -> Option<merge::MergeOp> {
        Some(match self {
            Layer::Add(_) => Add::OP,
            Layer::Subtract(_) => Subtract::OP,
            Layer::Multiply(_) => Multiply::OP,
            Layer::Average(_) => Average::OP,
            Layer::Maximum(_) => Maximum::OP,
            Layer::Minimum(_) => Minimum::OP,
            _ => return None,
        })
    }

    /// The layer's weight counts for an input shape.
    pub fn param_count(&self, input: &Shape) -> ParamCount {
        match self {
            Layer::Dense(l) => l.param_count(input),
            Layer::Conv2D(l) => l.param_count(input),
            Layer::Conv1D(l) => l.param_count(input),
            Layer::BatchNormalization(l) => l.param_count(input),
            Layer::Model(m) => m.graph.total_params(),
            _ => ParamCount::default(),
        }
    }

    /// Builds the layer's module, its weights initialized on `device`.
    pub(crate) fn build(
        &self,
        inputs: &[Shape],
        device: &burn::tensor::Device,
    ) -> Result<LayerModule> {
        let output = self.output_shape_of(inputs)?;
        let input = &inputs[0];
        Ok(match self {
            Layer::Dense(l) => LayerModule::Dense(l.build(input, device)),
            Layer::Activation(l) => {
                LayerModule::Stateless(StatelessModule::Activation(ActivationModule {
                    activation: l.activation,
                }))
            }
            Layer::Dropout(l) => LayerModule::Dropout(l.build()),
            Layer::Flatten(_) | Layer::Reshape(_) => {
                LayerModule::Stateless(StatelessModule::Reshape(ReshapeModule {
                    dims: output.dims().to_vec(),
                }))
            }
            Layer::Conv2D(l) => LayerModule::Conv(l.build(input, device)),
            Layer::Conv1D(l) => LayerModule::Conv(l.build(input, device)),
            Layer::MaxPooling2D(l) => LayerModule::Pool(l.0.build_max(input)),
            Layer::AveragePooling2D(l) => LayerModule::Pool(l.0.build_average(input)),
            Layer::MaxPooling1D(l) => LayerModule::Pool(l.build(input)),
            Layer::GlobalAveragePooling2D(_) => {
                LayerModule::Pool(PoolModule::global(Reduce::Average))
            }
            Layer::GlobalMaxPooling2D(_) => LayerModule::Pool(PoolModule::global(Reduce::Max)),
            Layer::BatchNormalization(l) => LayerModule::BatchNorm(l.build(input, device)),
            Layer::Concatenate(l) => LayerModule::Merge(l.build(inputs)),
            Layer::Model(m) => LayerModule::Model(m.build(device)?),
            merge => LayerModule::Merge(MergeModule::elementwise(
                merge
                    .merge_op()
                    .expect("the other layers are matched above"),
            )),
        })
    }
}

macro_rules! layer_from {
    ($($ty:ident => $variant:ident),*) => {
        $(impl From<$ty> for Layer {
            fn from(l: $ty) -> Self {
                Layer::$variant(l)
            }
        })*
    };
}
layer_from!(Dense => Dense, ActivationLayer => Activation, Dropout => Dropout,
    Flatten => Flatten, Reshape => Reshape, Conv2D => Conv2D, Conv1D => Conv1D,
    MaxPooling2D => MaxPooling2D, AveragePooling2D => AveragePooling2D,
    MaxPooling1D => MaxPooling1D, GlobalAveragePooling2D => GlobalAveragePooling2D,
    GlobalMaxPooling2D => GlobalMaxPooling2D, BatchNormalization => BatchNormalization,
    Add => Add, Subtract => Subtract, Multiply => Multiply, Average => Average,
    Maximum => Maximum, Minimum => Minimum, Concatenate => Concatenate, NestedModel => Model);

/// The output of a nested model for `inputs`, which must be the shapes it was built for.
fn nested_output_shape(name: &str, m: &NestedModel, inputs: &[Shape]) -> Result<Shape> {
    let expected: Vec<Shape> = m.graph.inputs().iter().map(|i| i.shape.clone()).collect();
    if inputs != expected.as_slice() {
        return Err(Error::Shape {
            layer: name.into(),
            expected: crate::shape::list(&expected),
            received: crate::shape::list(inputs),
        });
    }
    match m.graph.output_shapes().as_slice() {
        [one] => Ok(one.clone()),
        many => Err(Error::config(
            format!("model `{name}`"),
            format!(
                "it has {} outputs; a model used as a layer must have one",
                many.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;

    #[test]
    fn serializes_like_keras() {
        let l: Layer = Dense::new(10).activation(Activation::Softmax).into();
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["class_name"], "Dense");
        assert_eq!(json["config"]["units"], 10);
        assert_eq!(json["config"]["activation"], "softmax");
        let back: Layer = serde_json::from_value(json).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        use crate::layers::*;
        let layers: Vec<Layer> = vec![
            Dense::new(3).into(),
            ActivationLayer::new(Activation::Gelu).into(),
            Dropout::new(0.25).into(),
            Flatten::new().into(),
            Reshape::new([-1, 2]).into(),
            Conv2D::new(8, [3, 5])
                .strides(2)
                .padding(Padding::Same)
                .dilation_rate(1)
                .into(),
            Conv1D::new(4, 3).into(),
            MaxPooling2D::new(2).strides(1).into(),
            AveragePooling2D::new(3).padding(Padding::Same).into(),
            MaxPooling1D::new(2).into(),
            GlobalAveragePooling2D::new().into(),
            GlobalMaxPooling2D::new().name("gmp").into(),
            BatchNormalization::new().momentum(0.9).into(),
            Add::new().into(),
            Subtract::new().name("diff").into(),
            Multiply::new().into(),
            Average::new().into(),
            Maximum::new().into(),
            Minimum::new().into(),
            Concatenate::new().axis(1).into(),
        ];
        for l in layers {
            let json = serde_json::to_string(&l).unwrap();
            assert!(json.contains(l.class_name()), "{json}");
            assert_eq!(serde_json::from_str::<Layer>(&json).unwrap(), l, "{json}");
        }
    }

    #[test]
    fn minimal_json_gets_keras_defaults() {
        let l: Layer =
            serde_json::from_str(r#"{"class_name": "Dense", "config": {"units": 4}}"#).unwrap();
        assert_eq!(l, Layer::Dense(Dense::new(4)));
    }

    #[test]
    fn rank_outside_one_to_four_is_a_shape_error() {
        let l: Layer = Flatten::new().into();
        assert!(l.output_shape(&Shape::new([1, 2, 3, 4, 5])).is_err());
        assert!(l.output_shape(&Shape::new(Vec::new())).is_err());
        assert!(l.output_shape(&Shape::new([3, 0])).is_err());
    }
}
