//! `load_keras` and `load_keras_weights`: a `.keras` archive (or a `.weights.h5` file) into a
//! kiln model.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::io::keras::config::{Saved, translate};
use crate::io::keras::h5::WeightsFile;
use crate::io::keras::state::{Assets, Store};
use crate::io::keras::weights::collect;
use crate::layers::NestedModel;
use crate::models::Model;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The most bytes `config.json` may hold.
const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// An entry may expand at most this many times its compressed size (a zip bomb goes further).
const MAX_EXPANSION: u64 = 100;

/// Loads a Keras 3 `.keras` file (Sequential or Functional, with nested models) as a kiln
/// model on the default device (`KILN_DEVICE`, else the CPU), with Keras' weights.
///
/// The archive's `config.json` becomes kiln's graph, layer by layer, and its
/// `model.weights.h5` gives the weights, read with a pure-Rust HDF5 reader. Every layer and
/// option kiln cannot build is listed in one error, as are weights that do not fit. The model
/// comes back uncompiled: compile it to train it further.
///
/// ```no_run
/// let model = kiln::io::load_keras("mnist_cnn.keras")?;
/// println!("{}", model.summary());
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn load_keras(path: impl AsRef<Path>) -> Result<Model> {
    load_keras_on(path, Device::from_env()?)
}

/// [`load_keras`] on `device`.
pub fn load_keras_on(path: impl AsRef<Path>, device: Device) -> Result<Model> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let length = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| Error::format(path, format!("not a .keras archive (a zip file): {e}")))?;
    let config = entry(&mut archive, path, "config.json", MAX_CONFIG_BYTES)?;
    let config: serde_json::Value = serde_json::from_slice(&config)
        .map_err(|e| Error::format(path, format!("config.json is not JSON: {e}")))?;
    let weights = entry(
        &mut archive,
        path,
        "model.weights.h5",
        length.saturating_mul(MAX_EXPANSION),
    )?;
    let weights = WeightsFile::from_bytes(weights, &path.join("model.weights.h5"))?;
    let assets = assets(&mut archive, path, length.saturating_mul(MAX_EXPANSION))?;
    let store = Store {
        weights: &weights,
        assets: &assets,
        archive: path,
    };
    let imported = translate(&config, Some(&store)).map_err(|problems| {
        Error::format(
            path,
            format!("kiln cannot build this model:\n  {}", problems.join("\n  ")),
        )
    })?;
    let mut model = Model::build(imported.name, Arc::new(imported.graph), device)?;
    set_weights(&mut model, &weights, &imported.saved, true)?;
    Ok(model)
}

impl Model {
    /// Loads Keras 3 weights (`model.save_weights("x.weights.h5")`) into this model, which
    /// must have the Keras model's architecture: the same layers, in the same order, with
    /// the same weight shapes (names may differ).
    ///
    /// ```no_run
    /// use kiln::prelude::*;
    /// let mut model = Sequential::new().input([784]).add(Dense::new(10)).build()?;
    /// model.load_keras_weights("dense.weights.h5")?;
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn load_keras_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let file = WeightsFile::from_bytes(bytes, path)?;
        let saved = saved_of(self.graph());
        set_weights(self, &file, &saved, false)
    }
}

/// Keras' `model.layers` for a kiln graph, as Keras would have saved it.
fn saved_of(graph: &Graph) -> Vec<Saved> {
    graph
        .layers()
        .iter()
        .map(|layer| {
            let nested = layer.downcast_ref::<NestedModel>();
            let class = match nested {
                Some(n) if n.graph.is_chain() => "Sequential".to_string(),
                Some(_) => "Functional".to_string(),
                None => layer.class_name().to_string(),
            };
            Saved {
                class,
                name: layer.name().unwrap_or_default().to_string(),
                has_layer: true,
                nested: nested.map(|n| saved_of(&n.graph)),
                state: false,
            }
        })
        .collect()
}

fn set_weights(model: &mut Model, file: &WeightsFile, saved: &[Saved], names: bool) -> Result<()> {
    let expected: Vec<(String, Vec<usize>)> = model
        .get_weights()
        .into_iter()
        .map(|(name, array)| (name, array.shape().to_vec()))
        .collect();
    let mut found = Vec::new();
    collect(file, saved, ("", ""), &expected, names, &mut found)?;
    model.set_weights(&found)
}

/// The archive's `assets/` files (a TextVectorization's vocabulary), by path below
/// `assets/`, refused when together they expand to more than `limit` bytes.
fn assets(archive: &mut zip::ZipArchive<File>, path: &Path, limit: u64) -> Result<Assets> {
    let names: Vec<String> = archive
        .file_names()
        .filter(|n| n.starts_with("assets/") && !n.ends_with('/'))
        .map(str::to_owned)
        .collect();
    let mut assets = Assets::new();
    let mut left = limit;
    for name in names {
        let bytes = entry(archive, path, &name, left)?;
        left -= bytes.len() as u64;
        assets.insert(name["assets/".len()..].to_string(), bytes);
    }
    Ok(assets)
}

/// The bytes of the archive entry `name`, refused when its declared size is over `limit` or
/// its data is not what the archive declares.
fn entry(
    archive: &mut zip::ZipArchive<File>,
    path: &Path,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    let mut file = archive.by_name(name).map_err(|e| {
        Error::format(
            path,
            format!("the archive has no `{name}` ({e}); is it a Keras 3 .keras file?"),
        )
    })?;
    let size = file.size();
    if size > limit
        || size
            > file
                .compressed_size()
                .saturating_mul(MAX_EXPANSION)
                .max(1 << 20)
    {
        return Err(Error::format(
            path,
            format!(
                "`{name}` claims {size} bytes from {} compressed; refused as damaged or a zip bomb",
                file.compressed_size()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.by_ref()
        .take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::format(path, format!("`{name}` cannot be read: {e}")))?;
    if bytes.len() as u64 != size {
        return Err(Error::format(
            path,
            format!(
                "`{name}` holds {} bytes, not the {size} it declares",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}
