//! Text data for the `kiln` command: messages and labels from a CSV, and a model file's
//! `TextVectorization` adapted to them.

use crate::data::{Dataset, Split};
use kiln::io::ModelConfig;
use kiln::layers::TextVectorization;
use kiln::{Device, Model};
use ndarray::{ArrayD, IxDyn};
use std::path::Path;

/// Texts and their labels (`[n, 1]`).
pub struct Texts {
    pub texts: Vec<String>,
    pub labels: ArrayD<f32>,
}

/// Reads a CSV (`.csv`, or gzipped `.csv.gz`; RFC 4180 quoting, fields across lines) with a
/// header: each row's text is its `columns` (comma-separated names) joined by newlines, its
/// label the number in `label`.
pub fn load(source: &str, columns: &str, label: &str) -> Result<Texts, String> {
    let path = Path::new(source);
    let bytes = std::fs::read(path).map_err(|e| format!("{source}: {e}"))?;
    let bytes = kiln::datasets::idx::decompress(&bytes, path).map_err(|e| e.to_string())?;
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let header = reader
        .headers()
        .map_err(|e| format!("{source}: {e}"))?
        .clone();
    let position = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{source}: no column `{name}` in the header ({}); name the columns with \
                 --text-column and --label-column",
                header.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let text_columns: Vec<usize> = columns
        .split(',')
        .map(|c| position(c.trim()))
        .collect::<Result<_, _>>()?;
    let label_column = position(label)?;
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for (row, record) in reader.records().enumerate() {
        let at = |m: String| format!("{source}: row {}: {m}", row + 1);
        let record = record.map_err(|e| at(e.to_string()))?;
        let parts: Vec<&str> = text_columns
            .iter()
            .map(|&c| record.get(c).unwrap_or_default())
            .collect();
        texts.push(parts.join("\n"));
        let cell = record.get(label_column).unwrap_or_default();
        let value: f32 = cell
            .trim()
            .parse()
            .ok()
            .filter(|v: &f32| v.is_finite())
            .ok_or_else(|| at(format!("label `{cell}` is not a number")))?;
        labels.push(value);
    }
    if texts.is_empty() {
        return Err(format!("{source}: no rows"));
    }
    let n = labels.len();
    Ok(Texts {
        texts,
        labels: ArrayD::from_shape_vec(IxDyn(&[n, 1]), labels).expect("one label per row"),
    })
}

/// The model of architecture file `path`, its `TextVectorization` layers without a vocabulary
/// adapted to `texts` first (as a Keras user adapts before training).
pub fn open_adapted(path: &Path, device: Device, texts: &[String]) -> Result<Model, String> {
    let file = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&file).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(layers) = json["graph"]["layers"].as_array_mut() {
        for layer in layers
            .iter_mut()
            .filter(|l| l["class_name"] == "TextVectorization")
        {
            let mut tv: TextVectorization = serde_json::from_value(layer["config"].clone())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if tv.vocabulary.is_empty() {
                tv.adapt(texts);
                println!(
                    "adapted `{}` to {} texts: {} tokens",
                    tv.name.as_deref().unwrap_or("text_vectorization"),
                    texts.len(),
                    tv.vocabulary.len()
                );
            }
            layer["config"] = serde_json::to_value(&tv).map_err(|e| e.to_string())?;
        }
    }
    ModelConfig::from_json(&json.to_string())
        .and_then(|c| c.build(device))
        .map_err(|e| e.to_string())
}

/// The data set of `texts` as `model`'s token ids.
pub fn dataset(model: &Model, texts: Texts) -> Result<Dataset, String> {
    let x = model
        .vectorize_text(&texts.texts)
        .map_err(|e| e.to_string())?;
    Ok(Dataset {
        train: Split { x, y: texts.labels },
        test: None,
        bytes: false,
    })
}
