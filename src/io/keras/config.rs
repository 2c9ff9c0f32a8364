//! Keras 3's `config.json` → kiln's [`Graph`]: Sequential and Functional models, models nested
//! in them, and each layer's options checked against what kiln's configuration of that layer
//! keeps.
//!
//! A layer is read through kiln's own registry: its Keras options become a kiln configuration
//! (`{"class_name": ..., "config": ...}`), which is read and written back. Every Keras option
//! must come back with the same value, or be one that changes nothing at the value it has
//! (`data_format: "channels_last"`, `groups: 1`, a `null` regularizer...); any other is
//! reported. Initializers are dropped: the weights come from the file. Nothing here knows a
//! layer's options by its class.

use crate::error::Error;
use crate::graph::{Graph, InputSpec, Node, Source};
use crate::io::keras::KerasState;
use crate::io::keras::state::Store;
use crate::io::keras::weights::GroupNames;
use crate::layers::{Layer, NestedModel, TextVectorization};
use crate::shape::Shape;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A model read from Keras' configuration.
pub(crate) struct Imported {
    /// The model's name.
    pub name: String,
    /// Its graph, layers in Keras' order.
    pub graph: Graph,
    /// Keras' `model.layers`, in order: where the weights file keeps each one's weights.
    pub saved: Vec<Saved>,
}

/// One entry of Keras' `model.layers`, as the weights file names it.
pub(crate) struct Saved {
    /// Keras' class name (`Conv2D`): the weights file names its group after it (`conv2d_1`).
    pub class: String,
    /// The layer's name (`conv2d_5`), as in kiln's graph; the file keeps it as an attribute.
    pub name: String,
    /// Whether kiln has a layer for it (an `InputLayer` has none).
    pub has_layer: bool,
    /// A nested model's own layers.
    pub nested: Option<Vec<Saved>>,
    /// Whether the layer took its variables as state (into its configuration): they are not
    /// weights.
    pub state: bool,
}

/// Reads a Keras model's configuration (the whole of `config.json`), or gives every problem
/// found: each unsupported layer or option, one per line. Layers take the state Keras saved
/// for them from `store` (without one, they are left as configured).
pub(crate) fn translate(
    config: &Value,
    store: Option<&Store<'_>>,
) -> Result<Imported, Vec<String>> {
    let mut t = Translator {
        problems: Vec::new(),
        store,
        prefix: String::new(),
    };
    let class = str_of(config, "class_name").unwrap_or_default();
    let imported = t.model(class, config.get("config"), "model");
    match imported {
        Some(model) if t.problems.is_empty() => Ok(model),
        _ => Err(t.problems),
    }
}

struct Translator<'s> {
    problems: Vec<String>,
    store: Option<&'s Store<'s>>,
    /// The weights file's group of the model being read (`""`, or `layers/sequential/`).
    prefix: String,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Translator<'_> {
    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    fn model(&mut self, class: &str, config: Option<&Value>, what: &str) -> Option<Imported> {
        let Some(config) = config.filter(|c| c.is_object()) else {
            self.problem(format!("{what}: no `config` object"));
            return None;
        };
        match class {
            "Sequential" => self.sequential(config),
            "Functional" | "Model" => self.functional(config),
            other => {
                self.problem(format!(
                    "{what}: class `{other}` is not a Sequential or Functional model (a \
                     subclassed model's `call` is Python code kiln cannot read)"
                ));
                None
            }
        }
    }

    fn layer_list<'a>(&mut self, config: &'a Value, model: &str) -> Option<&'a Vec<Value>> {
        let layers = config.get("layers").and_then(Value::as_array);
        if layers.is_none() {
            self.problem(format!("model `{model}`: no `layers` list"));
        }
        layers
    }

    fn sequential(&mut self, config: &Value) -> Option<Imported> {
        let name = str_of(config, "name").unwrap_or("sequential").to_string();
        let entries = self.layer_list(config, &name)?;
        let mut input = None;
        let mut text = false;
        let mut layers = Vec::new();
        let mut saved = Vec::new();
        let mut groups = GroupNames::default();
        for entry in entries {
            if str_of(entry, "class_name") == Some("InputLayer") {
                input = self.input_layer(entry);
                text = takes_text(entry);
                continue;
            }
            let group = groups.next(
                &self.prefix,
                str_of(entry, "class_name").unwrap_or_default(),
            );
            if let Some((layer, s)) = self.layer(entry, &group) {
                layers.push(layer);
                saved.push(s);
            }
        }
        if input.is_none() {
            // a model built without keras.Input keeps its input shape in build_input_shape
            let shape = config
                .get("build_input_shape")
                .or_else(|| entries.first()?.get("build_config")?.get("input_shape"));
            input = match shape {
                Some(s) => self.shape(s, &name).map(|shape| InputSpec {
                    name: "input_layer".into(),
                    shape,
                }),
                None => {
                    self.problem(format!(
                        "model `{name}`: no input shape (no InputLayer, no build_input_shape)"
                    ));
                    None
                }
            };
        }
        if !self.problems.is_empty() {
            return None;
        }
        let mut input = input?;
        if text {
            self.text_input(&mut input, layers.first());
        }
        let graph = Graph::sequential(input, layers)
            .map_err(|e| self.problem(format!("model `{name}`: {e}")))
            .ok()?;
        Some(Imported { name, graph, saved })
    }

    fn functional(&mut self, config: &Value) -> Option<Imported> {
        let name = str_of(config, "name").unwrap_or("functional").to_string();
        let entries = self.layer_list(config, &name)?;
        let mut inputs_by_name = HashMap::new();
        let mut input_specs = HashMap::new();
        let mut text_names = Vec::new();
        let mut failed = std::collections::HashSet::new();
        let mut layers = Vec::new();
        let mut saved = Vec::new();
        // (layer name, Keras node index) → kiln node index, and each kiln node's raw call
        let mut node_ids: HashMap<(String, u64), usize> = HashMap::new();
        let mut calls: Vec<(usize, &Value, String)> = Vec::new();
        let mut groups = GroupNames::default();
        for entry in entries {
            let group = groups.next(
                &self.prefix,
                str_of(entry, "class_name").unwrap_or_default(),
            );
            let layer_name = str_of(entry, "name")
                .or_else(|| entry.get("config").and_then(|c| str_of(c, "name")))
                .unwrap_or_default()
                .to_string();
            if str_of(entry, "class_name") == Some("InputLayer") {
                if let Some(spec) = self.input_layer(entry) {
                    input_specs.insert(layer_name.clone(), spec);
                }
                if takes_text(entry) {
                    text_names.push(layer_name.clone());
                }
                saved.push(Saved {
                    class: "InputLayer".into(),
                    name: layer_name,
                    has_layer: false,
                    nested: None,
                    state: false,
                });
                continue;
            }
            let Some((layer, s)) = self.layer(entry, &group) else {
                // reported; the tensors it would make are not reported again
                failed.insert(layer_name);
                continue;
            };
            let index = layers.len();
            layers.push(layer);
            saved.push(s);
            // a nested Functional model starts with a node of its own: Keras counts its calls
            // from 1
            let first = u64::from(matches!(
                str_of(entry, "class_name"),
                Some("Functional" | "Model")
            ));
            let nodes = entry.get("inbound_nodes").and_then(Value::as_array);
            for (k, node) in nodes.into_iter().flatten().enumerate() {
                node_ids.insert((layer_name.clone(), first + k as u64), calls.len());
                calls.push((index, node, layer_name.clone()));
            }
        }
        let mut input_list = Vec::new();
        let mut text_inputs = Vec::new();
        for (i, (layer, _, _)) in self
            .endpoints(config.get("input_layers"), &name, "input_layers")?
            .into_iter()
            .enumerate()
        {
            match input_specs.remove(&layer) {
                Some(spec) => {
                    if text_names.contains(&layer) {
                        text_inputs.push(i);
                    }
                    inputs_by_name.insert(layer, i);
                    input_list.push(spec);
                }
                None => self.problem(format!(
                    "model `{name}`: input `{layer}` is not an InputLayer of the model"
                )),
            }
        }
        let source = |t: &mut Self, (layer, node, tensor): (String, u64, usize)| {
            if let Some(&i) = inputs_by_name.get(&layer) {
                return Some(Source::Input(i));
            }
            match node_ids.get(&(layer.clone(), node)) {
                Some(&id) => Some(Source::Node(id, tensor)),
                None if failed.contains(&layer) => None,
                None => {
                    t.problem(format!(
                        "model `{name}`: a tensor comes from `{layer}` (call {node}), which the \
                         model does not have"
                    ));
                    None
                }
            }
        };
        let mut nodes = Vec::new();
        for (layer, call, layer_name) in calls {
            let mut tensors = Vec::new();
            self.call_tensors(call, &layer_name, &mut tensors);
            let inputs: Option<Vec<Source>> =
                tensors.into_iter().map(|h| source(self, h)).collect();
            nodes.push(Node {
                layer,
                inputs: inputs.unwrap_or_default(),
            });
        }
        let outputs: Option<Vec<Source>> = self
            .endpoints(config.get("output_layers"), &name, "output_layers")?
            .into_iter()
            .map(|h| source(self, h))
            .collect();
        if !self.problems.is_empty() {
            return None;
        }
        for i in text_inputs {
            let reader = nodes
                .iter()
                .find(|n| n.inputs == [Source::Input(i)])
                .map(|n| &layers[n.layer]);
            self.text_input(&mut input_list[i], reader);
        }
        let graph = Graph::new(input_list, layers, nodes, outputs?)
            .map_err(|e| self.problem(format!("model `{name}`: {e}")))
            .ok()?;
        Some(Imported { name, graph, saved })
    }

    /// `input_layers` / `output_layers`: `[name, node, tensor]`, or a list of them.
    fn endpoints(
        &mut self,
        value: Option<&Value>,
        model: &str,
        key: &str,
    ) -> Option<Vec<(String, u64, usize)>> {
        let list = match value {
            Some(Value::Array(items)) if items.first().is_some_and(Value::is_string) => {
                vec![value.cloned().unwrap_or_default()]
            }
            Some(Value::Array(items)) => items.clone(),
            _ => {
                self.problem(format!("model `{model}`: no `{key}`"));
                return None;
            }
        };
        let mut found = Vec::new();
        for item in &list {
            match history(item) {
                Some(h) => found.push(h),
                None => {
                    self.problem(format!(
                        "model `{model}`: `{key}` entry {item} is not [name, node, tensor]"
                    ));
                    return None;
                }
            }
        }
        Some(found)
    }

    /// The tensors one call of a layer reads, in order: `args` may hold one tensor or a list
    /// of them (a merge). Keyword arguments kiln cannot pass are reported.
    fn call_tensors(&mut self, call: &Value, layer: &str, out: &mut Vec<(String, u64, usize)>) {
        fn walk(v: &Value, out: &mut Vec<(String, u64, usize)>) -> bool {
            match v {
                Value::Array(items) => items.iter().all(|i| walk(i, out)),
                Value::Object(_) if str_of(v, "class_name") == Some("__keras_tensor__") => {
                    match v
                        .get("config")
                        .and_then(|c| c.get("keras_history"))
                        .and_then(history)
                    {
                        Some(h) => {
                            out.push(h);
                            true
                        }
                        None => false,
                    }
                }
                _ => false,
            }
        }
        let args = call
            .get("args")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        if !walk(&args, out) {
            self.problem(format!(
                "layer `{layer}`: a call argument that is not a tensor ({args})"
            ));
        }
        if let Some(kwargs) = call.get("kwargs").and_then(Value::as_object) {
            for (k, v) in kwargs {
                if !(v.is_null() || k == "training" && v.is_boolean()) {
                    self.problem(format!("layer `{layer}`: call argument `{k}` ({v})"));
                }
            }
        }
    }

    /// A Keras input of strings is, in kiln, the ids its TextVectorization makes from them
    /// (`Model::vectorize_text`): `[output_sequence_length]`. Any other reader is reported.
    fn text_input(&mut self, input: &mut InputSpec, reader: Option<&Layer>) {
        match reader.and_then(|l| l.downcast_ref::<TextVectorization>()) {
            Some(tv) => input.shape = Shape::new([tv.output_sequence_length]),
            None => self.problem(format!(
                "input `{}`: strings that no TextVectorization reads first (kiln's models take \
                 text through a TextVectorization right after the input)",
                input.name
            )),
        }
    }

    fn input_layer(&mut self, entry: &Value) -> Option<InputSpec> {
        let config = entry.get("config")?;
        let name = str_of(config, "name").unwrap_or("input_layer").to_string();
        for flag in ["sparse", "ragged"] {
            if config.get(flag) == Some(&Value::Bool(true)) {
                self.problem(format!("input `{name}`: {flag} inputs"));
            }
        }
        let shape = config
            .get("batch_shape")
            .or_else(|| config.get("batch_input_shape"));
        let Some(shape) = shape else {
            self.problem(format!("input `{name}`: no batch_shape"));
            return None;
        };
        let shape = self.shape(shape, &name)?;
        Some(InputSpec { name, shape })
    }

    /// A Keras batch shape (`[null, 28, 28, 1]`) as kiln's sample shape.
    fn shape(&mut self, batch_shape: &Value, what: &str) -> Option<Shape> {
        let dims = batch_shape.as_array().filter(|d| !d.is_empty());
        let Some(dims) = dims else {
            self.problem(format!("`{what}`: shape {batch_shape} is not a list"));
            return None;
        };
        let sample: Option<Vec<usize>> = dims[1..]
            .iter()
            .map(|d| d.as_u64().filter(|&n| n > 0).map(|n| n as usize))
            .collect();
        if sample.is_none() {
            self.problem(format!(
                "`{what}`: shape {batch_shape} has a dimension of unknown size; kiln needs every \
                 dimension but the batch (rebuild the model with a fixed keras.Input shape)"
            ));
        }
        sample.map(Shape::new)
    }

    /// A layer entry of a model's `layers` list (not an InputLayer), whose weights are in the
    /// group `group` of the weights file.
    fn layer(&mut self, entry: &Value, group: &str) -> Option<(Layer, Saved)> {
        let class = str_of(entry, "class_name").unwrap_or_default().to_string();
        if matches!(class.as_str(), "Sequential" | "Functional" | "Model") {
            let name = entry
                .get("config")
                .and_then(|c| str_of(c, "name"))
                .unwrap_or_default()
                .to_string();
            let outer = std::mem::replace(&mut self.prefix, format!("{group}/"));
            let inner = self.model(&class, entry.get("config"), &format!("model `{name}`"));
            self.prefix = outer;
            let inner = inner?;
            let saved = Saved {
                class,
                name: inner.name.clone(),
                has_layer: true,
                nested: Some(inner.saved),
                state: false,
            };
            return Some((NestedModel::new(inner.name, inner.graph).into(), saved));
        }
        let kiln = self.layer_config(entry)?;
        let mut layer: Layer = serde_json::from_value(kiln.clone())
            .map_err(|e| {
                let name = kiln["config"]["name"].as_str().unwrap_or_default();
                if crate::layers::is_registered(&class) {
                    self.problem(format!("layer `{name}` ({class}): {e}"));
                } else {
                    self.problem(format!(
                        "layer `{name}`: kiln has no layer `{class}` (register your own with \
                         kiln::layers::register)"
                    ));
                }
            })
            .ok()?;
        let name = layer.name().unwrap_or_default().to_string();
        let what = format!("layer `{name}` ({class})");
        let mut state = KerasState::new(what, group.to_string(), self.store);
        if let Err(e) = layer.keras_state(&mut state) {
            let message = match e {
                Error::Format { message, .. } => message,
                other => other.to_string(),
            };
            self.problem(message);
            return None;
        }
        Some((
            layer,
            Saved {
                class,
                name,
                has_layer: true,
                nested: None,
                state: state.taken(),
            },
        ))
    }

    /// A Keras layer entry as kiln's `{"class_name", "config"}`, reporting each option kiln's
    /// configuration does not keep.
    fn layer_config(&mut self, entry: &Value) -> Option<Value> {
        let class = str_of(entry, "class_name").unwrap_or_default().to_string();
        let Some(keras) = entry.get("config").and_then(Value::as_object) else {
            self.problem(format!("layer of class `{class}`: no `config` object"));
            return None;
        };
        let name = keras
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let what = format!("layer `{name}` ({class})");
        let mut options = Map::new();
        let mut ok = true;
        for (key, value) in keras {
            match key.as_str() {
                "dtype" if !is_float32(value) => {
                    self.problem(format!("{what}: dtype {value} (kiln computes in float32)"));
                    ok = false;
                }
                "dtype" => {}
                "trainable" if value == &Value::Bool(false) => {
                    self.problem(format!(
                        "{what}: trainable=false (kiln cannot freeze a layer)"
                    ));
                    ok = false;
                }
                "trainable" => {}
                k if k.ends_with("_initializer") => {}
                k if (k.ends_with("_regularizer") || k.ends_with("_constraint"))
                    && !value.is_null() =>
                {
                    self.problem(format!("{what}: option `{k}` ({})", short(value)));
                    ok = false;
                }
                k if k.ends_with("_regularizer") || k.ends_with("_constraint") => {}
                "backward_layer" => {}
                "layer" if value.get("class_name").is_some() => {
                    let inner = self.layer_config(value)?;
                    options.insert(key.clone(), inner);
                }
                "kernel_size" | "strides" | "pool_size" | "dilation_rate" | "axis" => {
                    options.insert(key.clone(), unwrap_single(value));
                }
                _ => {
                    options.insert(key.clone(), value.clone());
                }
            }
        }
        if let Some(backward) = keras.get("backward_layer")
            && !mirrors(backward, keras.get("layer"))
        {
            self.problem(format!(
                "{what}: a backward_layer that is not the forward layer run backwards"
            ));
            ok = false;
        }
        let mut kiln = json!({"class_name": class, "config": Value::Object(options.clone())});
        let mut read = serde_json::from_value::<Layer>(kiln.clone());
        if read.is_err() {
            // a configuration that refuses unknown fields: leave out those that change nothing
            let essential: Map<String, Value> = options
                .iter()
                .filter(|(k, v)| !neutral(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            kiln = json!({"class_name": class, "config": Value::Object(essential)});
            read = serde_json::from_value::<Layer>(kiln.clone());
        }
        let Ok(layer) = read else {
            // reported by the caller, which reads it again and names the cause
            return ok.then_some(kiln);
        };
        let back = serde_json::to_value(&layer).unwrap_or_default();
        let kept = back.get("config").cloned().unwrap_or_default();
        for (key, value) in &options {
            match kept.get(key) {
                Some(k) if same(value, k) => {}
                Some(k) => {
                    self.problem(format!(
                        "{what}: option `{key}` = {} (kiln reads {})",
                        short(value),
                        short(k)
                    ));
                    ok = false;
                }
                None if neutral(key, value) => {}
                None => {
                    self.problem(format!("{what}: option `{key}` = {}", short(value)));
                    ok = false;
                }
            }
        }
        ok.then_some(kiln)
    }
}

/// Whether an InputLayer entry takes strings.
fn takes_text(entry: &Value) -> bool {
    entry.get("config").and_then(|c| str_of(c, "dtype")) == Some("string")
}

/// `[name, node, tensor]` (Keras' `keras_history`).
fn history(v: &Value) -> Option<(String, u64, usize)> {
    let items = v.as_array()?;
    match items.as_slice() {
        [name, node, tensor] => Some((
            name.as_str()?.to_string(),
            node.as_u64()?,
            tensor.as_u64()? as usize,
        )),
        _ => None,
    }
}

fn is_float32(dtype: &Value) -> bool {
    match dtype {
        Value::Null => true,
        Value::String(s) => s == "float32",
        Value::Object(_) => dtype
            .get("config")
            .and_then(|c| str_of(c, "name"))
            .is_none_or(|n| n == "float32"),
        _ => false,
    }
}

/// Keras writes the sizes of 1-D layers as one-element lists (`"kernel_size": [3]`) and
/// LayerNormalization's axis as a list (`[-1]`); kiln's configurations take the number.
fn unwrap_single(v: &Value) -> Value {
    match v.as_array().map(Vec::as_slice) {
        Some([only]) if only.is_number() => only.clone(),
        _ => v.clone(),
    }
}

/// Whether a Keras option kiln does not keep changes nothing at this value.
fn neutral(key: &str, value: &Value) -> bool {
    match (key, value) {
        (_, Value::Null) => true,
        // Keras' defaults that are kiln's only behaviour
        ("data_format", v) => v == "channels_last",
        ("groups", v) => v == 1,
        ("axis", v) => v == -1,
        ("keepdims" | "synchronized" | "renorm" | "rms_scaling" | "sparse" | "ragged", v) => {
            v == false
        }
        ("optional" | "zero_output_for_mask", v) => v == false,
        // TextVectorization's: only utf-8 text; padding to max_tokens only shapes the
        // multi-hot outputs kiln does not make; the vocabulary's size follows from it
        ("encoding", v) => v == "utf-8",
        ("pad_to_max_tokens", v) => v == false,
        ("vocabulary_size", _) => true,
        ("center" | "scale", v) => v == true,
        // only matter when training starts or draws random numbers
        ("seed" | "unit_forget_bias" | "renorm_momentum" | "use_cudnn", _) => true,
        _ => false,
    }
}

/// A Bidirectional's `backward_layer` as Keras writes it when it made it itself: the forward
/// layer's class and options, but for its name and `go_backwards`.
fn mirrors(backward: &Value, forward: Option<&Value>) -> bool {
    let strip = |v: &Value| {
        let mut config = v.get("config")?.as_object()?.clone();
        // initializers and dtype policies carry ids of the Python objects
        config.retain(|k, _| {
            !matches!(k.as_str(), "name" | "go_backwards" | "dtype") && !k.ends_with("_initializer")
        });
        Some((str_of(v, "class_name")?.to_string(), config))
    };
    forward.is_some_and(|f| strip(f).is_some() && strip(f) == strip(backward))
}

/// Whether kiln kept a Keras value: numbers by value, a one-element list as its element, and
/// objects by the keys Keras gave.
fn same(keras: &Value, kiln: &Value) -> bool {
    match (keras, kiln) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Array(a), b) if a.len() == 1 => same(&a[0], b),
        // not given, in either's words (a vocabulary to come from the archive's assets)
        (Value::Null, Value::Array(b)) => b.is_empty(),
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| {
            b.get(k).is_some_and(|w| same(v, w)) || (!b.contains_key(k) && neutral(k, v))
        }),
        _ => keras == kiln,
    }
}

/// A value for a message, cut to a readable length.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 80 {
        format!("{}…", &text[..text.floor_char_boundary(80)])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(extra: Value) -> Value {
        let mut config = json!({
            "name": "dense", "trainable": true,
            "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
            "units": 3, "activation": "relu", "use_bias": true,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
            "kernel_regularizer": null,
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        json!({"class_name": "Dense", "config": config})
    }

    fn sequential(layers: Vec<Value>) -> Value {
        let mut all = vec![json!({
            "class_name": "InputLayer",
            "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "input_layer"}
        })];
        all.extend(layers);
        json!({"class_name": "Sequential", "config": {"name": "seq", "layers": all}})
    }

    #[test]
    fn a_sequential_model_becomes_a_chain() {
        let model = translate(&sequential(vec![dense(json!({}))]), None).unwrap();
        assert_eq!(model.name, "seq");
        assert_eq!(model.graph.inputs()[0].shape, Shape::new([4]));
        assert_eq!(model.graph.output_shapes(), [Shape::new([3])]);
        assert_eq!(model.saved[0].class, "Dense");
        assert_eq!(model.saved[0].name, "dense");
    }

    #[test]
    fn every_unsupported_option_and_layer_is_listed_at_once() {
        let config = sequential(vec![
            dense(json!({"kernel_regularizer": {"class_name": "L2"}, "trainable": false})),
            json!({"class_name": "Frobnicate", "config": {"name": "frob"}}),
            dense(json!({"name": "dense_1", "lora_rank": 4})),
            json!({"class_name": "Conv1D", "config": {"name": "c", "filters": 2,
                "kernel_size": [3], "groups": 2}}),
        ]);
        let problems = translate(&config, None).err().unwrap();
        let text = problems.join("\n");
        assert!(
            text.contains("layer `dense` (Dense): option `kernel_regularizer`"),
            "{text}"
        );
        assert!(
            text.contains("layer `dense` (Dense): trainable=false"),
            "{text}"
        );
        assert!(text.contains("kiln has no layer `Frobnicate`"), "{text}");
        assert!(
            text.contains("layer `dense_1` (Dense): option `lora_rank` = 4"),
            "{text}"
        );
        assert!(
            text.contains("layer `c` (Conv1D): option `groups` = 2"),
            "{text}"
        );
        assert_eq!(problems.len(), 5, "{text}");
    }

    #[test]
    fn neutral_options_and_one_element_sizes_are_accepted() {
        let conv = json!({"class_name": "Conv1D", "config": {
            "name": "c", "filters": 2, "kernel_size": [3], "strides": [1], "dilation_rate": [1],
            "padding": "same", "data_format": "channels_last", "groups": 1,
            "activity_regularizer": null}});
        let model = translate(
            &sequential(vec![
                json!({"class_name": "Reshape",
            "config": {"name": "r", "target_shape": [4, 1]}}),
                conv,
            ]),
            None,
        )
        .unwrap();
        assert_eq!(model.graph.output_shapes(), [Shape::new([4, 2])]);
    }

    #[test]
    fn a_functional_model_connects_calls_by_name() {
        let tensor = |layer: &str, node: u64| json!({"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, 0]}});
        let config = json!({"class_name": "Functional", "config": {
            "name": "f",
            "layers": [
                {"class_name": "InputLayer", "name": "a", "inbound_nodes": [],
                 "config": {"batch_shape": [null, 4], "name": "a"}},
                {"class_name": "InputLayer", "name": "b", "inbound_nodes": [],
                 "config": {"batch_shape": [null, 4], "name": "b"}},
                {"class_name": "Dense", "name": "shared", "config": {"name": "shared", "units": 2},
                 "inbound_nodes": [{"args": [tensor("a", 0)], "kwargs": {}},
                                   {"args": [tensor("b", 0)], "kwargs": {}}]},
                {"class_name": "Add", "name": "add", "config": {"name": "add"},
                 "inbound_nodes": [{"args": [[tensor("shared", 0), tensor("shared", 1)]],
                                    "kwargs": {}}]}
            ],
            "input_layers": [["a", 0, 0], ["b", 0, 0]],
            "output_layers": [["add", 0, 0]]
        }});
        let model = translate(&config, None).unwrap();
        assert_eq!(model.graph.layers().len(), 2);
        assert_eq!(model.graph.nodes().len(), 3);
        assert_eq!(model.saved.len(), 4, "input layers are in Keras' list");
        assert_eq!(model.graph.output_shapes(), [Shape::new([2])]);
    }

    #[test]
    fn an_unknown_dimension_is_refused() {
        let config = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [null, null, 4], "name": "i"}},
            {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}});
        let problems = translate(&config, None).err().unwrap();
        assert!(problems[0].contains("unknown size"), "{problems:?}");
    }

    #[test]
    fn a_subclassed_model_is_refused() {
        let problems = translate(&json!({"class_name": "MyModel", "config": {}}), None)
            .err()
            .unwrap();
        assert!(problems[0].contains("subclassed"), "{problems:?}");
    }
}
