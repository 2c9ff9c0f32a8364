//! The architecture as JSON: layers, graph, input shapes and compile settings, versioned.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::models::Model;
use crate::training::{LossConfig, Losses, Metric, Metrics, Optimizer, PerOutput};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The value of `format` in every kiln model file.
pub const FORMAT: &str = "kiln.model";
/// The newest format version this kiln reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

/// A model's architecture and, optionally, how it is compiled: everything but the weights.
///
/// Written by [`Model::to_json`] and [`ModelConfig::to_json`], read by [`Model::from_json`] and
/// [`ModelConfig::from_json`]. The JSON carries `format` (`"kiln.model"`) and `format_version`;
/// a file from a newer kiln is refused with a message saying so, not misread.
///
/// ```
/// use kiln::prelude::*;
/// use kiln::io::ModelConfig;
/// let model = Sequential::new().input([4]).add(Dense::new(2)).build()?;
/// let json = model.to_json();
/// let config = ModelConfig::from_json(&json)?;
/// assert_eq!(config.to_json(), json);
/// assert_eq!(config.graph.layers()[0].name(), Some("dense"));
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Always [`FORMAT`].
    pub format: String,
    /// The version of the format ([`FORMAT_VERSION`] when written by this kiln).
    pub format_version: u32,
    /// The model's name (`sequential`).
    pub name: String,
    /// Inputs, layers with their configurations, and how they connect.
    pub graph: Graph,
    /// The optimizer, loss and metrics, when the model was compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileConfig>,
}

/// What `compile` was given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileConfig {
    /// The optimizer and its settings.
    pub optimizer: Optimizer,
    /// The loss: one for every output, one per output, or by output name.
    pub loss: PerOutput<LossConfig>,
    /// The weight of each output's loss in the total, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_weights: Option<PerOutput<f64>>,
    /// The metrics reported besides the loss, for every output or per output.
    #[serde(default = "no_metrics")]
    pub metrics: PerOutput<Vec<Metric>>,
}

fn no_metrics() -> PerOutput<Vec<Metric>> {
    PerOutput::All(Vec::new())
}

impl CompileConfig {
    /// The losses as `compile` takes them.
    pub fn losses(&self) -> Losses {
        Losses {
            losses: self.loss.clone(),
            loss_weights: self.loss_weights.clone(),
        }
    }
}

impl ModelConfig {
    /// The configuration of a model named `name` with this graph, not compiled.
    pub fn new(name: impl Into<String>, graph: Graph) -> Self {
        ModelConfig {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            name: name.into(),
            graph,
            compile: None,
        }
    }

    /// Pretty-printed JSON, stable: the same configuration always gives the same text. Arrays
    /// of numbers and strings (shapes, kernel sizes) stay on one line, and so do short objects
    /// of such values (an input, a graph node).
    pub fn to_json(&self) -> String {
        let pretty =
            // derived Serialize of strings, numbers and string-keyed maps: serde_json has no error for them
            serde_json::to_string_pretty(self).expect("a model configuration always serializes");
        inline_flat_values(&pretty)
    }

    /// Reads a configuration, checking its format, version, layers and every shape.
    pub fn from_json(json: &str) -> Result<Self> {
        parse(json).map_err(|message| Error::config("model JSON", message))
    }

    /// Reads a configuration from a JSON file (such as `models/mnist_cnn.json`).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if size > MAX_ARCHITECTURE_BYTES as u64 {
            return Err(Error::format(
                path,
                format!(
                    "it is {} MB; kiln reads architectures up to {} MB",
                    size >> 20,
                    MAX_ARCHITECTURE_BYTES >> 20
                ),
            ));
        }
        let json = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        parse(&json).map_err(|message| Error::format(path, message))
    }

    /// Builds the model with fresh weights on `device`, compiled when the configuration says
    /// how.
    pub fn build(&self, device: Device) -> Result<Model> {
        let mut model = Model::build(self.name.clone(), Arc::new(self.graph.clone()), device)?;
        if let Some(c) = &self.compile {
            model.compile(c.optimizer.clone(), c.losses(), Metrics(c.metrics.clone()))?;
        }
        Ok(model)
    }
}

/// `json` with every array of scalars written on one line (`[3, 3]`), and every object of
/// scalars and such arrays too when it fits in [`INLINE_OBJECT`] characters.
fn inline_flat_values(json: &str) -> String {
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::with_capacity(json.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            let end = string_end(&chars, i);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if (c == '[' || c == '{')
            && let Some((end, compact)) = flat_value(&chars, i)
        {
            out.push_str(&compact);
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The longest object written on one line.
const INLINE_OBJECT: usize = 72;

/// The index just past the string starting at `start` (a `"`).
fn string_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// When the array or object at `start` is flat (an array of scalars, or a short object of
/// scalars and such arrays): the index past its end and its one-line text.
fn flat_value(chars: &[char], start: usize) -> Option<(usize, String)> {
    let object = chars[start] == '{';
    let mut out = String::new();
    out.push(chars[start]);
    let mut depth = 0;
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '{' => return None,
            '[' if !object || depth > 0 => return None,
            '[' => {
                depth += 1;
                out.push('[');
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(']');
            }
            c @ (']' | '}') => {
                if (c == '}') != object {
                    return None;
                }
                out.push(c);
                if object && out.chars().count() > INLINE_OBJECT {
                    return None;
                }
                return Some((i + 1, out));
            }
            ',' => out.push_str(", "),
            ':' => out.push_str(": "),
            '"' => {
                let end = string_end(chars, i);
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    None
}

/// The largest architecture read: a model of a hundred layers with a vocabulary of a hundred
/// thousand words takes a few megabytes.
const MAX_ARCHITECTURE_BYTES: usize = 64 << 20;

/// Parses `json` after checking that it is a kiln model of a version this kiln reads.
pub(crate) fn parse(json: &str) -> std::result::Result<ModelConfig, String> {
    if json.len() > MAX_ARCHITECTURE_BYTES {
        return Err(format!(
            "its architecture is {} MB of JSON; kiln reads architectures up to {} MB",
            json.len() >> 20,
            MAX_ARCHITECTURE_BYTES >> 20
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "its format is `{other}`, not `{FORMAT}`; this is not a kiln model"
            ));
        }
        None => {
            return Err(format!(
                "it has no `format` field; a kiln model says `{FORMAT}`"
            ));
        }
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    match version {
        Some(v) if v <= FORMAT_VERSION as u64 => {}
        Some(v) => {
            return Err(format!(
                "it was written in format version {v} by a newer kiln; this kiln reads versions \
                 up to {FORMAT_VERSION}: upgrade kiln to load it"
            ));
        }
        None => return Err("it has no whole-number `format_version` field".into()),
    }
    serde_json::from_value(value).map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Dense, Dropout};
    use crate::models::Input;

    fn config() -> ModelConfig {
        let graph = Graph::sequential(
            Input::new([4]).spec("input_layer"),
            vec![Dense::new(3).into(), Dropout::new(0.25).into()],
        )
        .unwrap();
        let mut c = ModelConfig::new("m", graph);
        c.compile = Some(CompileConfig {
            optimizer: Optimizer::adam(1e-3).into(),
            loss: PerOutput::All(crate::Loss::CategoricalCrossentropy.into()),
            loss_weights: None,
            metrics: PerOutput::All(vec![Metric::Accuracy]),
        });
        c
    }

    #[test]
    fn json_round_trip_is_exact() {
        let json = config().to_json();
        let back = ModelConfig::from_json(&json).unwrap();
        assert_eq!(back, config());
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn flat_values_stay_on_one_line_and_nothing_else_changes() {
        let pretty = "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": [\n    {\n      \"c\": \"[x, \\\"y\"\n    }\n  ],\n  \"d\": []\n}";
        let compact = inline_flat_values(pretty);
        assert_eq!(
            compact,
            "{\n  \"a\": [1, 2],\n  \"b\": [\n    {\"c\": \"[x, \\\"y\"}\n  ],\n  \"d\": []\n}"
        );
        // an object longer than a line keeps one member per line
        let long = format!("{{\n  \"k\": \"{}\"\n}}", "x".repeat(80));
        assert_eq!(inline_flat_values(&long), long);
        let a: serde_json::Value = serde_json::from_str(pretty).unwrap();
        let b: serde_json::Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_newer_version_is_refused_with_advice() {
        let json = config()
            .to_json()
            .replace("\"format_version\": 1", "\"format_version\": 7");
        let e = ModelConfig::from_json(&json).unwrap_err().to_string();
        assert!(e.contains("version 7") && e.contains("upgrade"), "{e}");
    }

    #[test]
    fn an_unknown_layer_is_refused_by_name() {
        let json = config().to_json().replace("\"Dropout\"", "\"Teleport\"");
        let e = ModelConfig::from_json(&json).unwrap_err().to_string();
        assert!(e.contains("Teleport"), "{e}");
    }

    #[test]
    fn other_json_is_not_taken_for_a_model() {
        for json in [
            "[1, 2]",
            "{\"format\": \"keras\"}",
            "{",
            "{\"format\": \"kiln.model\"}",
        ] {
            let e = ModelConfig::from_json(json).unwrap_err().to_string();
            assert!(e.starts_with("invalid model JSON"), "{e}");
        }
    }

    #[test]
    fn a_bad_shape_in_the_json_is_a_build_error_naming_the_layer() {
        let json = config().to_json().replace("\"units\": 3", "\"units\": 0");
        let e = ModelConfig::from_json(&json).unwrap_err().to_string();
        assert!(e.contains("dense"), "{e}");
    }
}
