//! Text data for the `kiln` command: messages and labels from a CSV, and a model file's
//! `TextVectorization` adapted to them.

use crate::data::{Dataset, Split};
use crate::table::Table;
use kiln::layers::TextVectorization;
use kiln::{Device, Model};
use ndarray::{ArrayD, IxDyn};
use std::path::Path;

/// Texts and their labels (`[n, 1]`).
pub struct Texts {
    pub texts: Vec<String>,
    pub labels: ArrayD<f32>,
}

/// Reads a CSV (`.csv`, or gzipped `.csv.gz`) with a header: each row's text is its
/// `columns` (comma-separated names) joined by newlines, its label the number in `label`.
pub fn load(source: &str, columns: &str, label: &str) -> Result<Texts, String> {
    let table = Table::read(source)?;
    let text_columns = table.columns(columns, "--text-column")?;
    let label_column = table.column(label, "--label-column")?;
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for row in 0..table.rows.len() {
        let parts: Vec<&str> = text_columns.iter().map(|&c| table.text(row, c)).collect();
        texts.push(parts.join("\n"));
        labels.push(table.number(row, label_column)?);
    }
    let n = labels.len();
    Ok(Texts {
        texts,
        labels: ArrayD::from_shape_vec(IxDyn(&[n, 1]), labels).map_err(|e| e.to_string())?,
    })
}

/// The model of architecture file `path`, its `TextVectorization` layers without a vocabulary
/// adapted to `texts` first (as a Keras user adapts before training).
pub fn open_adapted(path: &Path, device: Device, texts: &[String]) -> Result<Model, String> {
    crate::adapt::open_adapted(path, device, |class, config| {
        if class != "TextVectorization" {
            return Ok(());
        }
        let mut tv: TextVectorization = serde_json::from_value(config.clone())
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
        *config = serde_json::to_value(&tv).map_err(|e| e.to_string())?;
        Ok(())
    })
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
