//! The registry of layer classes: how a file's `class_name` becomes a layer again.

use crate::error::{Error, Result};
use crate::layers::{Layer, LayerConfig};
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

/// One registered class: its name and how to read its configuration.
#[derive(Clone)]
pub(crate) struct Entry {
    class_name: &'static str,
    type_id: TypeId,
    read: fn(serde_json::Value) -> std::result::Result<Layer, serde_json::Error>,
}

impl Entry {
    /// The entry of layer type `T`, under its class name.
    pub(crate) fn of<T: LayerConfig>() -> Self {
        Entry {
            class_name: T::CLASS_NAME,
            type_id: TypeId::of::<T>(),
            read: |config| serde_json::from_value::<T>(config).map(Layer::new),
        }
    }

    /// The same entry under another class name (Keras writes nested models as `Sequential`
    /// or `Functional`).
    pub(crate) fn under(mut self, class_name: &'static str) -> Self {
        self.class_name = class_name;
        self
    }
}

static REGISTRY: LazyLock<RwLock<HashMap<&'static str, Entry>>> = LazyLock::new(|| {
    RwLock::new(
        crate::layers::list::builtins()
            .into_iter()
            .map(|e| (e.class_name, e))
            .collect(),
    )
});

/// Registers layer type `T` under its [`CLASS_NAME`](LayerConfig::CLASS_NAME), as Keras'
/// `register_keras_serializable`: [`load_model`](crate::load_model),
/// [`Model::from_json`](crate::Model::from_json) and the `kiln` command then rebuild layers of
/// that class from their JSON. Registering a type again is harmless; registering another type
/// under a class name already taken (a built-in's, say) is an error naming both.
///
/// ```
/// # use kiln::layers::{Call, LayerConfig, Weights};
/// # use kiln::{Shape, Value};
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// # struct Twice { name: Option<String> }
/// # impl LayerConfig for Twice {
/// #     const CLASS_NAME: &'static str = "Twice";
/// #     type Module = Weights;
/// #     fn name(&self) -> Option<&str> { self.name.as_deref() }
/// #     fn set_name(&mut self, name: String) { self.name = Some(name) }
/// #     fn output_shape(&self, _: &str, inputs: &[Shape]) -> kiln::Result<Shape> { Ok(inputs[0].clone()) }
/// #     fn call(&self, _: &Weights, mut x: Vec<Value>, _: &Call) -> kiln::Result<Value> { Ok(x.remove(0)) }
/// # }
/// kiln::layers::register::<Twice>()?;
/// assert!(kiln::layers::is_registered("Twice"));
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn register<T: LayerConfig>() -> Result<()> {
    let entry = Entry::of::<T>();
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    match registry.get(entry.class_name) {
        Some(old) if old.type_id != entry.type_id => Err(Error::config(
            format!("layer class `{}`", T::CLASS_NAME),
            format!(
                "{} is already registered under this name, so {} cannot be; give your layer \
                 another CLASS_NAME",
                if crate::layers::list::builtins()
                    .iter()
                    .any(|b| b.class_name == T::CLASS_NAME)
                {
                    "a built-in layer"
                } else {
                    "another type"
                },
                std::any::type_name::<T>()
            ),
        )),
        _ => {
            registry.insert(entry.class_name, entry);
            Ok(())
        }
    }
}

/// Whether layers of class `class_name` can be read from JSON (built-in or registered).
pub fn is_registered(class_name: &str) -> bool {
    REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(class_name)
}

/// Reads a layer of class `class_name` from its configuration; an unknown class is an error
/// naming it and saying how to register it.
pub(crate) fn read(
    class_name: &str,
    config: serde_json::Value,
) -> std::result::Result<Layer, String> {
    let read = REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(class_name)
        .map(|e| e.read);
    match read {
        Some(read) => read(config).map_err(|e| format!("layer class `{class_name}`: {e}")),
        None if class_name == "Lambda" => Err(
            "a `Lambda` layer holds a Rust closure, which no file can hold; rebuild the model \
             in code and load its weights with `load_weights`"
                .into(),
        ),
        None => Err(format!(
            "unknown layer class `{class_name}`: if it is your own layer, call \
             `kiln::layers::register::<{class_name}>()` before loading (as Keras' \
             `register_keras_serializable`)"
        )),
    }
}
