//! `LayerConfig`: the one trait every layer implements, built-in or the user's own.

use crate::error::{Error, Result};
use crate::graph::{Layout, Logits, Value};
use crate::layers::{BuiltLayer, ParamCount, WeightSpecs};
use crate::shape::Shape;
use ndarray::ArrayD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A layer's configuration: everything about one kind of layer, in one place.
///
/// This is Keras' `Layer` split in two, as Burn splits configurations from modules: the
/// configuration (this trait, a serde type) says what the layer is, infers its output shape,
/// declares its weights (Keras' `build` with `add_weight`) and computes its forward pass (Keras'
/// `call`); the module it builds ([`LayerConfig::Module`]) holds the weights. Every built-in
/// layer implements it, and so can yours: after [`register`](crate::layers::register), a layer
/// of yours works in Sequential and Functional models (shared too), in `summary()`, in
/// `fit`/`evaluate`/`predict` on every backend, and through `save`/`load_model`.
///
/// A layer of yours holds its weights in [`Weights`](crate::layers::Weights): declare them in
/// [`add_weights`](LayerConfig::add_weights) and read them in [`call`](LayerConfig::call).
/// A gated dense layer, `y = (x·W + b) ⊙ sigmoid(x·V + c)`:
///
/// ```
/// use kiln::layers::{Call, Initializer, LayerConfig, Weights, WeightSpecs};
/// use kiln::prelude::*;
/// use kiln::{Shape, Value};
/// use burn::tensor::{Tensor, activation::sigmoid};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// struct GatedDense {
///     units: usize,
///     #[serde(default, skip_serializing_if = "Option::is_none")]
///     name: Option<String>,
/// }
///
/// impl LayerConfig for GatedDense {
///     const CLASS_NAME: &'static str = "GatedDense";
///     type Module = Weights;
///     fn name(&self) -> Option<&str> { self.name.as_deref() }
///     fn set_name(&mut self, name: String) { self.name = Some(name) }
///     fn output_shape(&self, _: &str, inputs: &[Shape]) -> kiln::Result<Shape> {
///         Ok(inputs[0].with_last(self.units))
///     }
///     fn add_weights(&self, inputs: &[Shape], w: &mut WeightSpecs) -> kiln::Result<()> {
///         let n = inputs[0].last().unwrap_or(0);
///         w.add_weight("kernel", [n, self.units], Initializer::GlorotUniform, true);
///         w.add_weight("bias", [self.units], Initializer::Zeros, true);
///         w.add_weight("gate_kernel", [n, self.units], Initializer::GlorotUniform, true);
///         w.add_weight("gate_bias", [self.units], Initializer::Zeros, true);
///         Ok(())
///     }
///     fn call(&self, w: &Weights, inputs: Vec<Value>, _: &Call) -> kiln::Result<Value> {
///         let x: Tensor<2> = inputs[0].clone().into_tensor()?;
///         let z = x.clone().matmul(w.get("kernel")?) + w.get::<1>("bias")?.unsqueeze();
///         let g = x.matmul(w.get("gate_kernel")?) + w.get::<1>("gate_bias")?.unsqueeze();
///         Ok((z * sigmoid(g)).into())
///     }
/// }
///
/// kiln::layers::register::<GatedDense>()?;
/// let model = Sequential::new()
///     .input([4])
///     .add(GatedDense { units: 3, name: None })
///     .add(Dense::new(2))
///     .build()?;
/// assert_eq!(model.layers()[0].name(), Some("gated_dense"));
/// assert_eq!(model.summary().total_params, (4 * 3 + 3) * 2 + 3 * 2 + 2);
/// # Ok::<(), kiln::Error>(())
/// ```
pub trait LayerConfig:
    Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The Keras class name (`Dense`): how JSON and files name the layer, and what
    /// [`register`](crate::layers::register) registers it under.
    const CLASS_NAME: &'static str;

    /// The built layer: the Burn module holding its weights. Your layers use
    /// [`Weights`](crate::layers::Weights).
    type Module: BuiltLayer;

    /// The name given by the user, or by the model (`dense_1`), if any.
    fn name(&self) -> Option<&str>;

    /// Names the layer (models name unnamed layers `base_name`, `base_name_1`…).
    fn set_name(&mut self, name: String);

    /// The class name a summary shows; [`CLASS_NAME`](Self::CLASS_NAME) unless the layer is of
    /// several kinds (a nested model is `Sequential` or `Functional`).
    fn class_name(&self) -> &'static str {
        Self::CLASS_NAME
    }

    /// The stem of automatic names: the class name in snake case, as Keras makes it
    /// (`MaxPooling2D` → `max_pooling2d`).
    fn base_name(&self) -> String {
        snake_case(self.class_name())
    }

    /// How many inputs the layer takes: `(at least, at most)`; `(1, 1)` unless it merges.
    fn arity(&self) -> (usize, usize) {
        (1, 1)
    }

    /// The shape of one output sample for the shapes of the inputs' samples (batch excluded),
    /// or an error naming the layer (`name`) and the shapes. Called once per model build; the
    /// number of inputs is already checked against [`arity`](Self::arity), and each has 1 to 4
    /// non-zero dimensions.
    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape>;

    /// The shapes of every output, for a layer with several (a recurrent layer with
    /// `return_state`: its output, then its final states). Only
    /// [`output_shape`](Self::output_shape)'s by default. A layer with several outputs gives
    /// them all from [`call_outputs`](Self::call_outputs), the first from
    /// [`call`](Self::call), and is applied with
    /// [`Apply::apply_all`](crate::models::Apply::apply_all).
    fn output_shapes(&self, name: &str, inputs: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![self.output_shape(name, inputs)?])
    }

    /// Declares the layer's weights for these input shapes, in the order files list them:
    /// Keras' `build`, with [`WeightSpecs::add_weight`] as `add_weight`. Shapes are in Keras'
    /// layout; names are those of Keras (`kernel`, `bias`). No weights by default.
    fn add_weights(&self, inputs: &[Shape], weights: &mut WeightSpecs) -> Result<()> {
        let _ = (inputs, weights);
        Ok(())
    }

    /// The weight counts for these input shapes, split as Keras' summary splits them; by
    /// default counted from [`add_weights`](Self::add_weights).
    fn param_count(&self, inputs: &[Shape]) -> ParamCount {
        let mut specs = WeightSpecs::default();
        match self.add_weights(inputs, &mut specs) {
            Ok(()) => specs.count(),
            Err(_) => ParamCount::default(),
        }
    }

    /// Builds the module on `device`, its weights initialized as `weights` declare them. By
    /// default the module is made from the declarations alone, which is what
    /// [`Weights`](crate::layers::Weights) does.
    fn build(
        &self,
        inputs: &[Shape],
        weights: WeightSpecs,
        device: &burn::tensor::Device,
    ) -> Result<Self::Module> {
        let _ = inputs;
        Self::Module::from_specs(self.name().unwrap_or_default(), weights, device)
    }

    /// The layout the layer computes in: channels last (Keras' order, the default), channels
    /// first (Burn's convolutions and poolings), or either (`None`, for elementwise layers).
    /// Inputs reach [`call`](Self::call) in this layout, moved there by the model.
    fn layout(&self) -> Option<Layout> {
        Some(Layout::ChannelsLast)
    }

    /// Writes the layer as ONNX operators ([`Model::export_onnx`](crate::Model::export_onnx)):
    /// reads its inputs from `node` in the layout it needs, adds its weights as constants and
    /// its operators, and gives each output's name and the layout its data is in. By default
    /// the layer has no ONNX form, and the export says so.
    #[cfg(feature = "onnx")]
    fn onnx(&self, node: &mut crate::io::onnx::OnnxNode<'_>) -> Result<Vec<(String, Layout)>> {
        Err(node.unsupported(format!("the layer class `{}`", Self::CLASS_NAME)))
    }

    /// Takes what Keras saved for the layer besides its weights, when a `.keras` file is
    /// imported ([`load_keras`](crate::io::load_keras)): the variables of a layer whose kiln
    /// form keeps them in its configuration (an adapted `Normalization`'s mean and variance),
    /// or its asset files (a `TextVectorization`'s `vocabulary.txt`). By default the layer
    /// has no such state, and its Keras variables are its weights.
    #[cfg(feature = "keras")]
    fn keras_state(&mut self, state: &mut crate::io::keras::KerasState<'_>) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Whether the layer passes the mask of its input on unchanged (Keras' `supports_masking`):
    /// true for layers that keep the time axis and treat steps alike (`Dense`, `Dropout`,
    /// `LayerNormalization`). False by default: the mask stops at the layer.
    fn supports_masking(&self) -> bool {
        false
    }

    /// The mask of the layer's output (Keras' `compute_mask`), given its inputs and the mask
    /// reaching its first input: by default that mask when
    /// [`supports_masking`](Self::supports_masking), none otherwise. `Embedding` with
    /// `mask_zero` makes one; a recurrent layer returning only its last step ends it.
    fn compute_mask(&self, inputs: &[Value], mask: Option<&Mask>) -> Result<Option<Mask>> {
        let _ = inputs;
        Ok(mask.filter(|_| self.supports_masking()).cloned())
    }

    /// The forward pass: the output for one batch of each input (batch first, in
    /// [`layout`](Self::layout)), written with Burn tensor operations over the module's
    /// weights. [`Call::training`] says whether this is a training step.
    fn call(&self, module: &Self::Module, inputs: Vec<Value>, call: &Call) -> Result<Value>;

    /// Every output of the forward pass, in the order of
    /// [`output_shapes`](Self::output_shapes); [`call`](Self::call)'s one by default.
    fn call_outputs(
        &self,
        module: &Self::Module,
        inputs: Vec<Value>,
        call: &Call,
    ) -> Result<Vec<Value>> {
        Ok(vec![self.call(module, inputs, call)?])
    }

    /// The forward pass and, when the output ends in softmax or sigmoid, the logits before it
    /// (which losses use to compute crossentropy stably). Only [`call`](Self::call)'s output
    /// by default.
    fn call_with_logits(
        &self,
        module: &Self::Module,
        inputs: Vec<Value>,
        call: &Call,
    ) -> Result<(Value, Option<Logits>)> {
        Ok((self.call(module, inputs, call)?, None))
    }

    /// The layer's weights (named and shaped as [`add_weights`](Self::add_weights) declares
    /// them) laid out for PyTorch, and how many `torch.nn` modules the layer becomes. By
    /// default a layer without weights is one module without tensors, and one with weights has
    /// no PyTorch equivalent (an error saying so).
    fn torch(&self, weights: Vec<(String, ArrayD<f32>)>, torch: &Torch) -> Result<TorchModule> {
        if weights.is_empty() {
            return Ok(TorchModule {
                tensors: Vec::new(),
                modules: 1,
            });
        }
        Err(Error::config(
            format!("layer `{}` ({})", torch.name, self.class_name()),
            "it has no PyTorch equivalent in kiln; save this model in Keras' layout",
        ))
    }

    /// How the layer's output orders its input's elements, for exports that change the
    /// layout (a `Linear` after a `Flatten` in PyTorch reads channels first).
    fn element_order(&self) -> ElementOrder {
        ElementOrder::New
    }

    /// Whether a file can hold the layer; `Lambda`, which holds a closure, cannot.
    fn savable(&self) -> Result<()> {
        Ok(())
    }
}

/// What a layer's forward pass is told besides its inputs.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The layer's name.
    pub name: &'a str,
    /// The batch size of the inputs.
    pub batch: usize,
    /// Whether this is a training step (`fit`, `train_on_batch`): dropout drops, batch
    /// normalization uses the batch's statistics. False in `evaluate` and `predict`.
    pub training: bool,
    /// The layout the inputs are in, and the output must be in.
    pub layout: Layout,
    /// The time-step mask of the first input, if one reaches the layer (see
    /// [`LayerConfig::compute_mask`]).
    pub mask: Option<&'a Mask>,
}

/// A time-step mask (Keras' `_keras_mask`): `[batch, time]`, 1 where a step holds data and 0
/// where it is padding. Made by `Embedding(mask_zero)`; recurrent layers skip masked steps and
/// `GlobalAveragePooling1D` averages over the others.
pub type Mask = burn::tensor::Tensor<2>;

/// A layer's weights laid out for PyTorch: tensors named by their leaf in the `torch.nn`
/// module (`weight`, `bias`), and how many modules the layer becomes there (a `Dense` with an
/// activation is a `Linear` and the activation: 2).
#[derive(Debug, Default)]
pub struct TorchModule {
    /// The tensors, by leaf name.
    pub tensors: Vec<(String, TorchTensor)>,
    /// How many `torch.nn` modules the layer becomes (0 for one that torch does not need).
    pub modules: usize,
}

/// A tensor of a PyTorch `state_dict`.
#[derive(Debug)]
pub enum TorchTensor {
    /// A weight.
    F32(ArrayD<f32>),
    /// A counter (`num_batches_tracked`).
    I64(ArrayD<i64>),
}

/// What a layer is told when it lays its weights out for PyTorch.
#[derive(Clone, Debug)]
pub struct Torch {
    /// The layer's name.
    pub name: String,
    /// The shape of its input sample.
    pub input: Shape,
    /// When the layer reads, through layers that keep the element order, the output of a
    /// layer that flattened a channels-last tensor: that tensor's sample shape. PyTorch
    /// flattens channels first, so the layer's weights must read the features in that order.
    pub flattened: Option<Shape>,
}

/// How a layer's output orders the elements of its input (see [`LayerConfig::element_order`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementOrder {
    /// New values: nothing to trace back (the default).
    New,
    /// The same elements in the same order, changed elementwise (`Dropout`, `Activation`).
    Keeps,
    /// The input's elements flattened in channels-last order (`Flatten`).
    Flattens,
}

/// The `name` and `set_name` of a layer whose name is the field `$($field).+` (`name`, `0.name`).
macro_rules! name_field {
    ($($field:tt).+) => {
        fn name(&self) -> Option<&str> {
            self.$($field).+.as_deref()
        }

        fn set_name(&mut self, name: String) {
            self.$($field).+ = Some(name);
        }
    };
}
pub(crate) use name_field;

/// `name` in snake case, as Keras' `to_snake_case` makes it (`GlobalMaxPooling2D` →
/// `global_max_pooling2d`, `GatedDense` → `gated_dense`).
pub fn snake_case(name: &str) -> String {
    // Keras: `(.)([A-Z][a-z]+)` → `\1_\2`, then `([a-z])([A-Z])` → `\1_\2`, then lower case.
    let chars: Vec<char> = name.chars().collect();
    let mut first = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let word_start = i > 0
            && c.is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        if word_start {
            first.push('_');
        }
        first.push(c);
    }
    let chars: Vec<char> = first.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && chars[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_is_keras() {
        for (class, base) in [
            ("Dense", "dense"),
            ("Conv2D", "conv2d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("BatchNormalization", "batch_normalization"),
            ("GatedDense", "gated_dense"),
            ("LayerNormalization", "layer_normalization"),
            ("GRU", "gru"),
            ("SimpleRNN", "simple_rnn"),
        ] {
            assert_eq!(snake_case(class), base, "{class}");
        }
    }
}
