//! The one list of built-in layers and of the modules they build. Adding a layer is one line
//! here and its own file; everything that dispatches over layers is generated from these lists.

use crate::layers::registry::Entry;
use crate::layers::*;
use burn::module::{Module, ParamId};
use burn::nn::BatchNorm;
use burn::tensor::TensorData;

/// The built-in layer configurations, each registered under its class name.
pub(crate) fn builtins() -> Vec<Entry> {
    vec![
        Entry::of::<Dense>(),
        Entry::of::<ActivationLayer>(),
        Entry::of::<Dropout>(),
        Entry::of::<Flatten>(),
        Entry::of::<Reshape>(),
        Entry::of::<Conv2D>(),
        Entry::of::<Conv1D>(),
        Entry::of::<MaxPooling2D>(),
        Entry::of::<AveragePooling2D>(),
        Entry::of::<MaxPooling1D>(),
        Entry::of::<AveragePooling1D>(),
        Entry::of::<GlobalAveragePooling1D>(),
        Entry::of::<GlobalMaxPooling1D>(),
        Entry::of::<GlobalAveragePooling2D>(),
        Entry::of::<GlobalMaxPooling2D>(),
        Entry::of::<TextVectorization>(),
        Entry::of::<Normalization>(),
        Entry::of::<Rescaling>(),
        Entry::of::<Resizing>(),
        Entry::of::<RandomFlip>(),
        Entry::of::<RandomRotation>(),
        Entry::of::<RandomZoom>(),
        Entry::of::<RandomTranslation>(),
        Entry::of::<RandomContrast>(),
        Entry::of::<Embedding>(),
        Entry::of::<SimpleRNN>(),
        Entry::of::<LSTM>(),
        Entry::of::<GRU>(),
        Entry::of::<Bidirectional>(),
        Entry::of::<TimeDistributed>(),
        Entry::of::<BatchNormalization>(),
        Entry::of::<LayerNormalization>(),
        Entry::of::<Add>(),
        Entry::of::<Subtract>(),
        Entry::of::<Multiply>(),
        Entry::of::<Average>(),
        Entry::of::<Maximum>(),
        Entry::of::<Minimum>(),
        Entry::of::<Concatenate>(),
        Entry::of::<NestedModel>(),
        Entry::of::<NestedModel>().under("Sequential"),
    ]
}

mod sealed {
    /// Only the modules of [`super::LayerModule`] are built layers.
    pub trait Sealed {}
}

/// How a module type sits in [`LayerModule`]; implemented for the types listed there only.
pub trait ModuleSlot: sealed::Sealed + Module + std::fmt::Debug {
    #[doc(hidden)]
    fn into_layer_module(self) -> LayerModule;
    #[doc(hidden)]
    fn of(module: &LayerModule) -> Option<&Self>;
}

macro_rules! layer_modules {
    ($($variant:ident($ty:ty): $doc:literal,)*) => {
        /// A built layer: a real Burn module holding the layer's weights, if any. One variant
        /// per module type of `src/layers/list.rs`.
        #[derive(Module, Debug)]
        pub enum LayerModule {
            $(#[doc = $doc] $variant($ty),)*
        }

        $(
            impl sealed::Sealed for $ty {}

            impl ModuleSlot for $ty {
                fn into_layer_module(self) -> LayerModule {
                    LayerModule::$variant(self)
                }

                fn of(module: &LayerModule) -> Option<&Self> {
                    match module {
                        LayerModule::$variant(m) => Some(m),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )*

        impl LayerModule {
            pub(crate) fn weights(&self) -> Vec<(String, TensorData)> {
                match self { $(LayerModule::$variant(m) => m.weights(),)* }
            }

            pub(crate) fn set_weight(&mut self, name: &str, data: TensorData) -> bool {
                match self { $(LayerModule::$variant(m) => m.set_weight(name, data),)* }
            }

            pub(crate) fn param_ids(&mut self) -> Vec<(String, &mut ParamId)> {
                match self { $(LayerModule::$variant(m) => m.param_ids(),)* }
            }
        }
    };
}

layer_modules! {
    Dense(DenseModule): "A built `Dense`.",
    Conv(ConvModule): "A built `Conv2D` or `Conv1D`.",
    Pool(PoolModule): "A built pooling.",
    BatchNorm(BatchNorm): "A built `BatchNormalization`.",
    Dropout(DropoutModule): "A built `Dropout`.",
    Activation(ActivationModule): "A built `Activation`.",
    Reshape(ReshapeModule): "A built `Flatten` or `Reshape`.",
    Merge(MergeModule): "A built merge layer (`Add`, `Concatenate`…).",
    Model(NestedModule): "A built model used as a layer.",
    Wrapped(WrappedModule): "A built wrapper (`Bidirectional`, `TimeDistributed`) and the layers it runs.",
    Weights(Weights): "A layer whose weights are declared with `add_weight`: users' own layers, `Lambda`, and the built-ins declared that way.",
}
