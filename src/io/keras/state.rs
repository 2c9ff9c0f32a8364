//! What Keras saves for a layer besides its weights, handed to the layer on import.

use crate::error::{Error, Result};
use crate::io::keras::h5::WeightsFile;
use ndarray::ArrayD;
use std::collections::HashMap;
use std::path::Path;

/// The archive's `assets/` entries, by path below `assets/` (`layers/text_vectorization/
/// vocabulary.txt`).
pub(crate) type Assets = HashMap<String, Vec<u8>>;

/// Where a `.keras` archive keeps layers' state: its weights file and its assets.
pub(crate) struct Store<'a> {
    pub weights: &'a WeightsFile,
    pub assets: &'a Assets,
    pub archive: &'a Path,
}

/// The state Keras saved for one layer outside its weights, for the layer's
/// [`LayerConfig::keras_state`](crate::layers::LayerConfig::keras_state) to keep in its
/// configuration: the variables of a layer that has no kiln weights (an adapted
/// `Normalization`'s `mean`, `variance` and `count`), and its asset files (a
/// `TextVectorization`'s `vocabulary.txt`).
pub struct KerasState<'a> {
    layer: String,
    group: String,
    store: Option<&'a Store<'a>>,
    taken: bool,
}

impl<'a> KerasState<'a> {
    pub(crate) fn new(layer: String, group: String, store: Option<&'a Store<'a>>) -> Self {
        KerasState {
            layer,
            group,
            store,
            taken: false,
        }
    }

    /// The layer's variables in Keras' order (its `vars` group, as float32; integers such as a
    /// count converted), empty when the file has none. Reading them makes them the layer's
    /// state: the import then expects no weights for the layer.
    pub fn variables(&mut self) -> Result<Vec<ArrayD<f32>>> {
        let Some(store) = self.store else {
            return Ok(Vec::new());
        };
        self.taken = true;
        Ok(store
            .weights
            .vars(&self.group)?
            .map(|vars| vars.arrays)
            .unwrap_or_default())
    }

    /// The bytes of the layer's asset `name` (`vocabulary.txt`), if the archive has it.
    pub fn asset(&self, name: &str) -> Option<&'a [u8]> {
        let store = self.store?;
        let key = format!("{}/{name}", self.group);
        store.assets.get(&key).map(Vec::as_slice)
    }

    /// An error about this layer's saved state, naming the archive, the layer and where its
    /// state was looked for.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        let file = self.store.map_or(Path::new("config.json"), |s| s.archive);
        Error::format(
            file,
            format!("{} (at `{}`): {message}", self.layer, self.group),
        )
    }

    /// Whether the layer took its variables as state.
    pub(crate) fn taken(&self) -> bool {
        self.taken
    }
}
