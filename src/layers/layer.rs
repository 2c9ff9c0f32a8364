//! `Layer`: any layer's configuration behind one handle, built-in or the user's own.

use crate::error::{Error, Result};
use crate::graph::{Layout, Logits, Value};
use crate::layers::config::{Call, ElementOrder, Mask, Torch, TorchModule};
use crate::layers::list::ModuleSlot;
use crate::layers::reshape::MAX_RANK;
use crate::layers::{LayerConfig, LayerModule, WeightSpecs};
use crate::shape::Shape;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;

/// A layer's configuration: what it is, before it has weights.
///
/// Any type implementing [`LayerConfig`] (`Dense`, `Conv2D`, your own) becomes a `Layer` with
/// `.into()`. Serialized as Keras does (`{"class_name": "Dense", "config": {...}}`) and read
/// back through the [registry](crate::layers::register). Look at the configuration it holds
/// with [`Layer::downcast_ref`].
pub struct Layer(Box<dyn DynLayer>);

/// What a layer's call gives: its outputs (one, unless the layer has several), the logits of
/// a final softmax or sigmoid before the first, and the first output's mask.
pub(crate) struct Called {
    pub values: Vec<Value>,
    pub logits: Option<Logits>,
    pub mask: Option<Mask>,
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
    /// Trainable plus non-trainable.
    pub fn total(&self) -> usize {
        self.trainable.saturating_add(self.non_trainable)
    }
}

impl std::ops::Add for ParamCount {
    type Output = ParamCount;

    fn add(self, o: ParamCount) -> ParamCount {
        ParamCount {
            trainable: self.trainable.saturating_add(o.trainable),
            non_trainable: self.non_trainable.saturating_add(o.non_trainable),
        }
    }
}

/// [`LayerConfig`] with its types erased, so that one handle holds any layer.
trait DynLayer: Send + Sync + 'static {
    fn registered_name(&self) -> &'static str;
    fn class_name(&self) -> &'static str;
    fn base_name(&self) -> String;
    fn name(&self) -> Option<&str>;
    fn set_name(&mut self, name: String);
    fn arity(&self) -> (usize, usize);
    fn output_shapes(&self, name: &str, inputs: &[Shape]) -> Result<Vec<Shape>>;
    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()>;
    fn param_count(&self, inputs: &[Shape]) -> crate::layers::ParamCount;
    fn build(
        &self,
        inputs: &[Shape],
        weights: WeightSpecs,
        device: &burn::tensor::Device,
    ) -> Result<LayerModule>;
    fn layout(&self) -> Option<Layout>;
    #[cfg(feature = "onnx")]
    fn onnx(&self, node: &mut crate::io::onnx::OnnxNode<'_>) -> Result<Vec<(String, Layout)>>;
    #[cfg(feature = "keras")]
    fn keras_state(&mut self, state: &mut crate::io::keras::KerasState<'_>) -> Result<()>;
    fn compute_mask(&self, inputs: &[Value], mask: Option<&Mask>) -> Result<Option<Mask>>;
    fn call(
        &self,
        module: &LayerModule,
        inputs: Vec<Value>,
        call: &Call,
        outputs: usize,
    ) -> Result<(Vec<Value>, Option<Logits>)>;
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule>;
    fn element_order(&self) -> ElementOrder;
    fn savable(&self) -> Result<()>;
    fn config(&self) -> &dyn erased_serde::Serialize;
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn DynLayer>;
    fn eq_dyn(&self, other: &dyn DynLayer) -> bool;
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: LayerConfig> DynLayer for T {
    fn registered_name(&self) -> &'static str {
        T::CLASS_NAME
    }
    fn class_name(&self) -> &'static str {
        LayerConfig::class_name(self)
    }
    fn base_name(&self) -> String {
        LayerConfig::base_name(self)
    }
    fn name(&self) -> Option<&str> {
        LayerConfig::name(self)
    }
    fn set_name(&mut self, name: String) {
        LayerConfig::set_name(self, name)
    }
    fn arity(&self) -> (usize, usize) {
        LayerConfig::arity(self)
    }
    fn output_shapes(&self, name: &str, inputs: &[Shape]) -> Result<Vec<Shape>> {
        LayerConfig::output_shapes(self, name, inputs)
    }
    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        LayerConfig::add_weights(self, inputs, weights)
    }
    fn param_count(&self, inputs: &[Shape]) -> ParamCount {
        LayerConfig::param_count(self, inputs)
    }
    fn build(
        &self,
        inputs: &[Shape],
        weights: WeightSpecs,
        device: &burn::tensor::Device,
    ) -> Result<LayerModule> {
        Ok(LayerConfig::build(self, inputs, weights, device)?.into_layer_module())
    }
    fn layout(&self) -> Option<Layout> {
        LayerConfig::layout(self)
    }
    #[cfg(feature = "onnx")]
    fn onnx(&self, node: &mut crate::io::onnx::OnnxNode<'_>) -> Result<Vec<(String, Layout)>> {
        LayerConfig::onnx(self, node)
    }
    #[cfg(feature = "keras")]
    fn keras_state(&mut self, state: &mut crate::io::keras::KerasState<'_>) -> Result<()> {
        LayerConfig::keras_state(self, state)
    }
    fn compute_mask(&self, inputs: &[Value], mask: Option<&Mask>) -> Result<Option<Mask>> {
        LayerConfig::compute_mask(self, inputs, mask)
    }
    fn call(
        &self,
        module: &LayerModule,
        inputs: Vec<Value>,
        call: &Call,
        outputs: usize,
    ) -> Result<(Vec<Value>, Option<Logits>)> {
        let module = T::Module::of(module).ok_or_else(|| {
            Error::config(
                format!("layer `{}`", call.name),
                "its module is not the one its configuration builds",
            )
        })?;
        if outputs == 1 {
            let (value, logits) = self.call_with_logits(module, inputs, call)?;
            return Ok((vec![value], logits));
        }
        let values = self.call_outputs(module, inputs, call)?;
        if values.len() != outputs {
            return Err(Error::config(
                format!("layer `{}`", call.name),
                format!(
                    "its call_outputs gave {} outputs where its output_shapes promised {outputs}",
                    values.len()
                ),
            ));
        }
        Ok((values, None))
    }
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule> {
        LayerConfig::torch(self, weights, torch)
    }
    fn element_order(&self) -> ElementOrder {
        LayerConfig::element_order(self)
    }
    fn savable(&self) -> Result<()> {
        LayerConfig::savable(self)
    }
    fn config(&self) -> &dyn erased_serde::Serialize {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn DynLayer> {
        Box::new(self.clone())
    }
    fn eq_dyn(&self, other: &dyn DynLayer) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Layer {
    /// The handle of a layer configuration (also `config.into()`).
    pub fn new(config: impl LayerConfig) -> Self {
        Layer(Box::new(config))
    }

    /// The configuration, when it is a `T`: `layer.downcast_ref::<Dense>()`.
    pub fn downcast_ref<T: LayerConfig>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }

    /// Whether the configuration is a `T`.
    pub fn is<T: LayerConfig>(&self) -> bool {
        self.downcast_ref::<T>().is_some()
    }

    /// The Keras class name (`Dense`), as the summary shows it.
    pub fn class_name(&self) -> &'static str {
        self.0.class_name()
    }

    /// The stem of automatic names (`dense` → `dense`, `dense_1`…).
    pub fn base_name(&self) -> String {
        self.0.base_name()
    }

    /// The name given by the user or the model, if any.
    pub fn name(&self) -> Option<&str> {
        self.0.name()
    }

    pub(crate) fn set_name(&mut self, name: String) {
        self.0.set_name(name)
    }

    /// How many inputs the layer takes: `(at least, at most)`.
    pub fn arity(&self) -> (usize, usize) {
        self.0.arity()
    }

    /// Whether the layer combines several inputs (`Add`, `Concatenate`…).
    pub fn is_merge(&self) -> bool {
        self.arity().0 > 1 && !self.is::<crate::layers::NestedModel>()
    }

    /// The output shape for a single input shape, or an error naming the layer and the shapes.
    pub fn output_shape(&self, input: &Shape) -> Result<Shape> {
        self.output_shape_of(std::slice::from_ref(input))
    }

    /// The (first) output shape for the shapes of all the layer's inputs, or an error naming
    /// the layer and the shapes.
    pub fn output_shape_of(&self, inputs: &[Shape]) -> Result<Shape> {
        Ok(self.output_shapes_of(inputs)?.swap_remove(0))
    }

    /// The shapes of every output (one, unless the layer has several) for the shapes of all
    /// the layer's inputs, or an error naming the layer and the shapes.
    pub fn output_shapes_of(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let base = self.base_name();
        let name = self.name().unwrap_or(&base);
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
        if inputs.is_empty() {
            return Err(Error::config(
                format!("layer `{name}`"),
                "it is given no input",
            ));
        }
        let outputs = self.0.output_shapes(name, inputs)?;
        if outputs.is_empty() {
            return Err(Error::config(
                format!("layer `{name}`"),
                "its output_shapes gave no shape; a layer has at least one output",
            ));
        }
        for output in &outputs {
            if output.rank() == 0 || output.rank() > MAX_RANK || output.dims().contains(&0) {
                return Err(Error::Shape {
                    layer: name.into(),
                    expected: format!(
                        "an output of 1 to {MAX_RANK} non-zero dimensions besides the batch"
                    ),
                    received: format!("{output} for input {}", crate::shape::list(inputs)),
                });
            }
        }
        Ok(outputs)
    }

    /// The layer's weight counts for a single input shape.
    pub fn param_count(&self, input: &Shape) -> ParamCount {
        self.param_count_of(std::slice::from_ref(input))
    }

    /// The layer's weight counts for the shapes of all its inputs.
    pub fn param_count_of(&self, inputs: &[Shape]) -> ParamCount {
        self.0.param_count(inputs)
    }

    /// The weights the layer declares for these input shapes: names, Keras shapes, initializers,
    /// trainability.
    pub fn weight_specs(&self, inputs: &[Shape]) -> Result<WeightSpecs> {
        let mut specs = WeightSpecs::default();
        self.0.add_weights(inputs, &mut specs)?;
        specs.check(self.name().unwrap_or_default())?;
        Ok(specs)
    }

    /// Builds the layer's module, its weights initialized on `device`.
    pub(crate) fn build(
        &self,
        inputs: &[Shape],
        device: &burn::tensor::Device,
    ) -> Result<LayerModule> {
        self.output_shape_of(inputs)?;
        let specs = self.weight_specs(inputs)?;
        self.0.build(inputs, specs, device)
    }

    /// The layout the layer computes in (`None`: either).
    pub(crate) fn layout(&self) -> Option<Layout> {
        self.0.layout()
    }

    /// Writes the layer as ONNX operators.
    #[cfg(feature = "onnx")]
    pub(crate) fn onnx(
        &self,
        node: &mut crate::io::onnx::OnnxNode<'_>,
    ) -> Result<Vec<(String, Layout)>> {
        self.0.onnx(node)
    }

    /// Takes the state Keras saved for the layer besides its weights.
    #[cfg(feature = "keras")]
    pub(crate) fn keras_state(
        &mut self,
        state: &mut crate::io::keras::KerasState<'_>,
    ) -> Result<()> {
        self.0.keras_state(state)
    }

    /// Runs the layer's forward pass on `inputs` (in `layout`), with the logits of a final
    /// softmax or sigmoid.
    #[cfg(test)]
    pub(crate) fn call(
        &self,
        module: &LayerModule,
        inputs: Vec<Value>,
        layout: Layout,
    ) -> Result<(Value, Option<Logits>)> {
        let mut called = self.call_masked(module, inputs, layout, None, 1)?;
        Ok((called.values.swap_remove(0), called.logits))
    }

    /// Runs the layer's forward pass on `inputs` (in `layout`) with the mask reaching its
    /// first input: its `outputs` outputs, the logits of a final softmax or sigmoid, and the
    /// first output's mask.
    pub(crate) fn call_masked(
        &self,
        module: &LayerModule,
        inputs: Vec<Value>,
        layout: Layout,
        mask: Option<&Mask>,
        outputs: usize,
    ) -> Result<Called> {
        let training = inputs.first().is_some_and(|x| x.device().is_autodiff());
        let name = self.name().unwrap_or_default();
        let out_mask = self.0.compute_mask(&inputs, mask)?;
        let call = Call {
            name,
            batch: inputs.first().map_or(0, Value::batch),
            training,
            layout,
            mask,
        };
        let (values, logits) = self.0.call(module, inputs, &call, outputs)?;
        Ok(Called {
            values,
            logits,
            mask: out_mask,
        })
    }

    pub(crate) fn torch(
        &self,
        weights: Vec<(String, ArrayD<f32>)>,
        torch: &Torch,
    ) -> Result<TorchModule> {
        self.0.torch(weights, torch)
    }

    pub(crate) fn element_order(&self) -> ElementOrder {
        self.0.element_order()
    }

    /// Whether a file can hold this layer (a `Lambda` cannot).
    pub fn savable(&self) -> Result<()> {
        self.0.savable()
    }
}

impl<T: LayerConfig> From<T> for Layer {
    fn from(config: T) -> Self {
        Layer::new(config)
    }
}

impl Clone for Layer {
    fn clone(&self) -> Self {
        Layer(self.0.clone_box())
    }
}

impl PartialEq for Layer {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_dyn(other.0.as_ref())
    }
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f)
    }
}

impl Serialize for Layer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Layer", 2)?;
        st.serialize_field("class_name", self.0.registered_name())?;
        st.serialize_field("config", self.0.config())?;
        st.end()
    }
}

/// A layer as JSON gives it, before its class is looked up.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    class_name: String,
    #[serde(default = "empty_config")]
    config: serde_json::Value,
}

fn empty_config() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl<'de> Deserialize<'de> for Layer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = RawLayer::deserialize(d)?;
        crate::layers::registry::read(&raw.class_name, raw.config).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;
    use crate::layers::Dense;

    #[test]
    fn serializes_like_keras() {
        let l: Layer = Dense::new(10).activation(Activation::Softmax).into();
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["class_name"], "Dense");
        assert_eq!(json["config"]["units"], 10);
        assert_eq!(json["config"]["activation"], "softmax");
        let back: Layer = serde_json::from_value(json).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.downcast_ref::<Dense>().unwrap().units, 10);
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
            AveragePooling1D::new(3)
                .strides(2)
                .padding(Padding::Same)
                .into(),
            GlobalAveragePooling1D::new().into(),
            GlobalMaxPooling1D::new().into(),
            GlobalAveragePooling2D::new().into(),
            GlobalMaxPooling2D::new().name("gmp").into(),
            BatchNormalization::new().momentum(0.9).into(),
            LayerNormalization::new().epsilon(1e-5).into(),
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
        assert_eq!(l, Layer::new(Dense::new(4)));
    }

    #[test]
    fn an_unknown_class_says_how_to_register_it() {
        let e = serde_json::from_str::<Layer>(r#"{"class_name": "Gated", "config": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`Gated`") && e.contains("kiln::layers::register::<Gated>()"),
            "{e}"
        );
    }

    #[test]
    fn rank_outside_one_to_four_is_a_shape_error() {
        let l: Layer = crate::layers::Flatten::new().into();
        assert!(l.output_shape(&Shape::new([1, 2, 3, 4, 5])).is_err());
        assert!(l.output_shape(&Shape::new(Vec::new())).is_err());
        assert!(l.output_shape(&Shape::new([3, 0])).is_err());
    }
}
