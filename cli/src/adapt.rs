//! Architecture files whose preprocessing layers adapt to the data before training, as a Keras
//! user calls `adapt` before `fit`.

use kiln::io::ModelConfig;
use kiln::{Device, Model};
use std::path::Path;

/// The model of architecture file `path`, each layer's configuration first handed to `adapt`
/// with its class name, to change in place.
pub fn open_adapted(
    path: &Path,
    device: Device,
    mut adapt: impl FnMut(&str, &mut serde_json::Value) -> Result<(), String>,
) -> Result<Model, String> {
    let file = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&file).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(layers) = json["graph"]["layers"].as_array_mut() {
        for layer in layers {
            let class = layer["class_name"].as_str().unwrap_or_default().to_string();
            adapt(&class, &mut layer["config"])?;
        }
    }
    ModelConfig::from_json(&json.to_string())
        .and_then(|c| c.build(device))
        .map_err(|e| e.to_string())
}
