//! Saving and loading weights and whole models as safetensors files.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::io::config::{self, FORMAT, FORMAT_VERSION, ModelConfig};
use crate::io::tensors::{self, Out};
use crate::io::torch::torch_tensors;
use crate::io::weights::match_weights;
use crate::models::Model;
use std::collections::HashMap;
use std::path::Path;

/// How weights are named and laid out in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightLayout {
    /// Keras' names and layouts (`dense/kernel` `[in, out]`, `conv2d/kernel`
    /// `[kh, kw, in, out]`); the default, and the one kiln loads.
    #[default]
    Keras,
    /// A `torch.nn.Sequential`'s `state_dict` (`0.weight` `[out, in]`, conv
    /// `[out, in, kh, kw]`), for Sequential models; export only.
    Torch,
}

/// What [`Model::save_with`] writes besides the weights and the architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaveOptions {
    include_optimizer: bool,
}

impl SaveOptions {
    /// Whether to include the optimizer's state (Adam's moments, RMSprop's averages) and step
    /// count, so that training resumes where it stopped (default false).
    ///
    /// The state is one `u8` tensor, `kiln.optimizer_state`, in Burn's optimizer record
    /// format, which tools other than kiln can skip.
    pub fn include_optimizer(mut self, include: bool) -> Self {
        self.include_optimizer = include;
        self
    }
}

/// The metadata key holding the architecture JSON in a whole-model file.
const MODEL_KEY: &str = "kiln.model";
/// The metadata key holding the optimizer's step count and the weights' parameter ids.
const OPTIMIZER_KEY: &str = "kiln.optimizer";
/// The tensor holding the optimizer's state.
const OPTIMIZER_TENSOR: &str = "kiln.optimizer_state";

/// What the optimizer state needs besides its bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct OptimizerInfo {
    iterations: u64,
    param_ids: HashMap<String, u64>,
}

impl Model {
    /// Writes every weight to a safetensors file, named and laid out as in Keras (`dense/kernel`
    /// `[in, out]`, `conv2d/kernel` `[kh, kw, in, out]`, `batch_normalization/moving_mean`), as
    /// `f32`. The write is atomic: the target is the old file or the new one, never half of one.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_weights_as(path, WeightLayout::Keras)
    }

    /// Writes every weight in the given layout; see [`WeightLayout`].
    pub fn save_weights_as(&self, path: impl AsRef<Path>, layout: WeightLayout) -> Result<()> {
        let weights = self.get_weights();
        let (tensors, layout_name) = match layout {
            WeightLayout::Keras => (keras_tensors(weights), "keras"),
            WeightLayout::Torch => (torch_tensors(self.graph(), weights)?, "torch"),
        };
        let metadata = HashMap::from([
            ("format".to_string(), "kiln.weights".to_string()),
            ("layout".to_string(), layout_name.to_string()),
        ]);
        tensors::write(path.as_ref(), tensors, metadata)
    }

    /// Replaces every weight by the file's (from [`Model::save_weights`] or [`Model::save`]).
    ///
    /// Each weight must be in the file with the model's shape as `f32`, and the file must hold
    /// nothing else; otherwise the model is left unchanged and the error lists every mismatch.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.load_weights_inner(path.as_ref(), false).map(|_| ())
    }

    /// Loads the weights that fit, like Keras' `skip_mismatch=True`, and returns the names of the
    /// tensors skipped (wrong shape or dtype, or not weights of this model). Weights the file
    /// lacks keep their values.
    pub fn load_weights_skip_mismatch(&mut self, path: impl AsRef<Path>) -> Result<Vec<String>> {
        self.load_weights_inner(path.as_ref(), true)
    }

    fn load_weights_inner(&mut self, path: &Path, skip_mismatch: bool) -> Result<Vec<String>> {
        let mut file = tensors::read(path)?;
        file.tensors.retain(|(n, _)| n != OPTIMIZER_TENSOR);
        if file.metadata.get("layout").is_some_and(|l| l != "keras") {
            return Err(Error::format(
                path,
                format!(
                    "its weights are in {} layout, an export format; kiln loads files saved \
                     in Keras' layout",
                    file.metadata["layout"]
                ),
            ));
        }
        let (found, skipped) = match_weights(path, file, &self.get_weights(), skip_mismatch)?;
        self.set_weights(&found)?;
        Ok(skipped)
    }

    /// The architecture and compile settings as JSON; see [`ModelConfig`].
    pub fn to_json(&self) -> String {
        self.config().to_json()
    }

    /// The architecture and compile settings.
    pub fn config(&self) -> ModelConfig {
        let mut config = ModelConfig::new(self.name(), self.graph().clone());
        config.compile = self.compile_config();
        config
    }

    /// Builds a model with fresh weights from JSON written by [`Model::to_json`], compiled when
    /// the JSON says how, on the device of `KILN_DEVICE` (else `auto`).
    pub fn from_json(json: &str) -> Result<Model> {
        ModelConfig::from_json(json)?.build(Device::from_env()?)
    }

    /// Writes the whole model to one safetensors file: the weights as [`Model::save_weights`]
    /// writes them, and the architecture and compile settings as JSON in the file's
    /// `__metadata__` (key `kiln.model`). [`load_model`] rebuilds it from the file alone. The
    /// write is atomic.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_with(path, SaveOptions::default())
    }

    /// Writes the whole model as [`Model::save`] does, with the optimizer state when
    /// `options` ask for it:
    ///
    /// ```
    /// use kiln::io::SaveOptions;
    /// # use kiln::prelude::*;
    /// # let model = Sequential::new().input([3]).add(Dense::new(2)).device(Device::cpu()?)
    /// #     .compile(Optimizer::adam(1e-3), Loss::MeanSquaredError, &[])?;
    /// # let path = std::env::temp_dir().join(format!("kiln-doc-opt-{}.safetensors", std::process::id()));
    /// model.save_with(&path, SaveOptions::default().include_optimizer(true))?;
    /// let back = kiln::load_model_on(&path, Device::cpu()?)?; // resumes with Adam's moments
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn save_with(&self, path: impl AsRef<Path>, options: SaveOptions) -> Result<()> {
        self.save_with_metadata(path.as_ref(), options, HashMap::new())
    }

    /// [`Model::save_with`], with `extra` entries in the file's metadata.
    pub(crate) fn save_with_metadata(
        &self,
        path: &Path,
        options: SaveOptions,
        extra: HashMap<String, String>,
    ) -> Result<()> {
        for layer in self.graph().layers() {
            layer.savable()?;
        }
        let mut metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            (MODEL_KEY.to_string(), self.to_json()),
        ]);
        let mut tensors = keras_tensors(self.get_weights());
        if options.include_optimizer {
            let snapshot = self.optimizer_state()?;
            let bytes = snapshot.bytes;
            let info = OptimizerInfo {
                iterations: snapshot.iterations,
                param_ids: snapshot.param_ids.into_iter().collect(),
            };
            // derived Serialize of strings, numbers and string-keyed maps: serde_json has no error for them
            let info = serde_json::to_string(&info).expect("plain data serializes");
            metadata.insert(OPTIMIZER_KEY.to_string(), info);
            tensors.push((OPTIMIZER_TENSOR.to_string(), Out::U8(bytes)));
        }
        metadata.extend(extra);
        tensors::write(path, tensors, metadata)
    }

    /// Puts a whole-model file's weights, and its optimizer state when it has one, into this
    /// model (which must have the file's architecture); returns the file's metadata.
    pub(crate) fn restore_from(&mut self, path: &Path) -> Result<HashMap<String, String>> {
        let mut file = tensors::read(path)?;
        let optimizer = take_optimizer(&mut file.tensors);
        let metadata = file.metadata.clone();
        let (found, _) = match_weights(path, file, &self.get_weights(), false)?;
        self.set_weights(&found)?;
        restore_optimizer(self, path, optimizer, metadata.get(OPTIMIZER_KEY))?;
        Ok(metadata)
    }
}

fn keras_tensors(weights: Vec<(String, ndarray::ArrayD<f32>)>) -> Vec<(String, Out)> {
    weights.into_iter().map(|(n, w)| (n, Out::F32(w))).collect()
}

/// Rebuilds a model saved with [`Model::save`], on the device of `KILN_DEVICE` (else `auto`).
///
/// ```
/// use kiln::prelude::*;
/// let model = Sequential::new().input([3]).add(Dense::new(2)).build()?;
/// let path = std::env::temp_dir().join(format!("kiln-doc-{}.safetensors", std::process::id()));
/// model.save(&path)?;
/// let back = kiln::io::load_model(&path)?;
/// assert_eq!(back.get_weights(), model.get_weights());
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn load_model(path: impl AsRef<Path>) -> Result<Model> {
    load_model_on(path, Device::from_env()?)
}

/// Rebuilds a model saved with [`Model::save`] on `device`, with its optimizer state when the
/// file has it ([`Model::save_with`]).
pub fn load_model_on(path: impl AsRef<Path>, device: Device) -> Result<Model> {
    let path = path.as_ref();
    let mut file = tensors::read(path)?;
    let optimizer = take_optimizer(&mut file.tensors);
    let json = file.metadata.get(MODEL_KEY).ok_or_else(|| {
        Error::format(
            path,
            "it holds weights but no architecture (no `kiln.model` metadata); build the model \
             in code and use `load_weights`",
        )
    })?;
    let config = config::parse(json).map_err(|m| Error::format(path, m))?;
    check_weights_fit(path, &config, &file)?;
    let mut model = config.build(device)?;
    let info = file.metadata.get(OPTIMIZER_KEY).cloned();
    let (found, _) = match_weights(path, file, &model.get_weights(), false)?;
    model.set_weights(&found)?;
    restore_optimizer(&mut model, path, optimizer, info.as_ref())?;
    Ok(model)
}

/// Weights an architecture may have beyond those its file holds before it is refused unbuilt
/// (64 MB of them): a smaller mismatch is built and then reported tensor by tensor.
const SLACK_WEIGHTS: usize = 1 << 24;

/// Refuses an architecture whose weights are far more than the file holds, before the model
/// is built: loading takes memory in proportion to the file, not to sizes written inside it.
fn check_weights_fit(path: &Path, config: &ModelConfig, file: &tensors::TensorFile) -> Result<()> {
    let needed = config.graph.total_params().total();
    let held: usize = file
        .tensors
        .iter()
        .filter(|(_, t)| t.values.is_some())
        .map(|(_, t)| t.shape.iter().product::<usize>())
        .sum();
    if needed <= held.saturating_add(SLACK_WEIGHTS) {
        return Ok(());
    }
    Err(Error::format(
        path,
        format!(
            "its architecture has {needed} weights but the file holds {held}: the architecture \
             (`kiln.model` metadata) and the tensors do not belong together; the file is \
             damaged or was edited"
        ),
    ))
}

/// Removes the optimizer state tensor from `tensors`, if there.
fn take_optimizer(tensors: &mut Vec<(String, tensors::Entry)>) -> Option<tensors::Entry> {
    tensors
        .iter()
        .position(|(n, _)| n == OPTIMIZER_TENSOR)
        .map(|i| tensors.remove(i).1)
}

/// Restores the optimizer state read from `path`, when the file has one.
fn restore_optimizer(
    model: &mut Model,
    path: &Path,
    state: Option<tensors::Entry>,
    info: Option<&String>,
) -> Result<()> {
    let (Some(entry), Some(info)) = (state, info) else {
        return Ok(());
    };
    let bad = |m: String| Error::format(path, format!("its optimizer state is unusable: {m}"));
    let info: OptimizerInfo = serde_json::from_str(info).map_err(|e| bad(e.to_string()))?;
    let bytes = entry
        .bytes
        .ok_or_else(|| bad("it is not a u8 tensor".into()))?;
    model
        .restore_optimizer_state(bytes, info.iterations, &info.param_ids)
        .map_err(bad)
}
