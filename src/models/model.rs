//! `Model`: a built network with its device and, once compiled, its training setup.

use crate::backend::Device;
use crate::callbacks::CallbackList;
use crate::callbacks::progbar::{Mode, ProgbarLogger};
use crate::data::{HostArray, ToHostArray};
use crate::error::{Error, Result};
use crate::graph::{Graph, Network};
use crate::layers::Layer;
use crate::models::Summary;
use crate::random::next_seed;
use crate::training::{
    self, Compiled, EvalOptions, FitOptions, History, Logs, LossConfig, Metric, Optimizer,
};
use ndarray::ArrayD;
use std::sync::Arc;

/// A model with weights: built from a [`crate::Sequential`] (or a graph), trained with
/// [`Model::fit`], scored with [`Model::evaluate`], used with [`Model::predict`].
///
/// Its network is a Burn module on the model's device ([`Model::network`]).
pub struct Model {
    name: String,
    pub(crate) network: Network,
    pub(crate) device: Device,
    pub(crate) compiled: Option<Compiled>,
    announced: bool,
    pub(crate) stop_requested: bool,
    /// The epoch `fit` should start from, set by a callback (BackupAndRestore) when it begins.
    pub(crate) resume_epoch: Option<usize>,
}

/// A compiled model's optimizer, as saved with the model.
pub(crate) struct OptimizerSnapshot {
    /// The per-weight state in Burn's optimizer record format, keyed by parameter id.
    pub bytes: Vec<u8>,
    /// The steps taken.
    pub iterations: u64,
    /// The parameter id of each trainable weight, by name.
    pub param_ids: Vec<(String, u64)>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("device", &self.device.description())
            .field("compiled", &self.compiled.is_some())
            .finish()
    }
}

impl Model {
    /// Builds a model from a checked graph, with fresh weights on `device`.
    pub fn build(name: impl Into<String>, graph: Arc<Graph>, device: Device) -> Result<Model> {
        let train_device = device.autodiff();
        train_device.seed(next_seed());
        let network = Network::build(graph, &train_device)?;
        Ok(Model {
            name: name.into(),
            network,
            device,
            compiled: None,
            announced: false,
            stop_requested: false,
            resume_epoch: None,
        })
    }

    /// Sets up training: the optimizer, the loss, and the metrics to report.
    ///
    /// Compiling again replaces the setup and starts a fresh optimizer state.
    pub fn compile(
        &mut self,
        optimizer: impl Into<Optimizer>,
        loss: impl Into<LossConfig>,
        metrics: &[Metric],
    ) -> Result<()> {
        let output = self.single_output("compile")?;
        self.compiled = Some(Compiled::new(
            optimizer.into(),
            loss.into(),
            metrics,
            &output,
        )?);
        Ok(())
    }

    /// The model's name (`sequential`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The architecture.
    pub fn graph(&self) -> &Graph {
        self.network.graph()
    }

    /// The layers, each named.
    pub fn layers(&self) -> &[Layer] {
        self.graph().layers()
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The Burn module holding the weights (on the device, with autodiff for training).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Every weight, named `layer/weight` as in Keras (`dense/kernel`, `dense/bias`).
    pub fn get_weights(&self) -> Vec<(String, ArrayD<f32>)> {
        self.network.get_weights()
    }

    /// Replaces the named weights; names and shapes are checked before anything changes.
    pub fn set_weights(&mut self, weights: &[(String, ArrayD<f32>)]) -> Result<()> {
        self.network.set_weights(weights)
    }

    /// The Keras-style summary.
    pub fn summary(&self) -> Summary {
        Summary::new(&self.name, self.graph())
    }

    /// The optimizer compiled, if any.
    pub fn optimizer(&self) -> Option<&Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.config())
    }

    /// What `compile` was given, if it was called.
    pub fn compile_config(&self) -> Option<crate::io::CompileConfig> {
        self.compiled.as_ref().map(|c| crate::io::CompileConfig {
            optimizer: c.optimizer.config().clone(),
            loss: c.loss,
            metrics: c.metric_list().to_vec(),
        })
    }

    /// The optimizer's state, step count, and the weights' parameter ids.
    pub(crate) fn optimizer_state(&self) -> Result<OptimizerSnapshot> {
        let compiled = self.compiled.as_ref().ok_or(Error::NotCompiled {
            method: "save with the optimizer state",
        })?;
        let bytes = compiled
            .optimizer
            .state_bytes()
            .map_err(|e| Error::config("optimizer state", e))?;
        let ids = self
            .network
            .clone()
            .param_ids()
            .into_iter()
            .map(|(name, id)| (name, id.val()))
            .collect();
        Ok(OptimizerSnapshot {
            bytes,
            iterations: compiled.optimizer.iterations(),
            param_ids: ids,
        })
    }

    /// Restores what [`Model::optimizer_state`] gave: the weights take their saved identities so
    /// that the state finds them.
    pub(crate) fn restore_optimizer_state(
        &mut self,
        bytes: Vec<u8>,
        iterations: u64,
        ids: &std::collections::HashMap<String, u64>,
    ) -> std::result::Result<(), String> {
        let compiled = self
            .compiled
            .as_mut()
            .ok_or("the file has optimizer state but no compile settings")?;
        for (name, id) in self.network.param_ids() {
            let saved = ids
                .get(&name)
                .ok_or_else(|| format!("the optimizer state lacks weight `{name}`"))?;
            *id = burn::module::ParamId::from(*saved);
        }
        compiled.optimizer.restore(bytes, iterations)
    }

    /// How many optimizer steps have been taken since `compile`.
    pub fn iterations(&self) -> u64 {
        self.compiled
            .as_ref()
            .map_or(0, |c| c.optimizer.iterations())
    }

    /// The learning rate in use, if compiled.
    pub fn learning_rate(&self) -> Option<f64> {
        self.compiled.as_ref().map(|c| c.optimizer.learning_rate())
    }

    /// Sets the learning rate for the next steps, as Keras' `optimizer.learning_rate = lr`.
    pub fn set_learning_rate(&mut self, learning_rate: f64) -> Result<()> {
        let compiled = self.compiled.as_mut().ok_or(Error::NotCompiled {
            method: "set_learning_rate",
        })?;
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(Error::config(
                "learning rate",
                format!("{learning_rate} is not a positive number"),
            ));
        }
        compiled
            .optimizer
            .set_learning_rate(learning_rate)
            .map_err(|m| Error::config("learning rate", m))
    }

    /// Asks `fit` to stop after the current batch, as Keras' `model.stop_training = True`; for
    /// callbacks. `fit` clears the request when it starts.
    pub fn stop_training(&mut self) {
        self.stop_requested = true;
    }

    /// Whether training was asked to stop.
    pub fn is_stopping(&self) -> bool {
        self.stop_requested
    }

    /// The training setup; callers check that the model is compiled.
    pub(crate) fn compiled(&self) -> &Compiled {
        self.compiled
            .as_ref()
            .expect("checked before training or scoring")
    }

    /// Trains on inputs `x` and targets `y` (one-hot or integer labels, as the loss takes them).
    ///
    /// Every check of the arguments happens before the first step: a call refused for its
    /// arguments leaves the model as it was. A callback that returns an error ends training
    /// there, with the steps taken so far kept.
    pub fn fit(
        &mut self,
        x: &impl ToHostArray,
        y: &impl ToHostArray,
        mut options: FitOptions,
    ) -> Result<History> {
        options.validate()?;
        let user = std::mem::take(&mut options.callbacks);
        let (x, y) = (x.to_host_array()?, y.to_host_array()?);
        self.check_pair(&x, &y, "fit")?;
        let (train, validation) = match options.validation_data {
            Some((vx, vy)) => {
                let (vx, vy) = (vx.to_host_array()?, vy.to_host_array()?);
                self.check_pair(&vx, &vy, "fit: validation_data")?;
                ((x.rows(0, x.len()), y.rows(0, y.len())), Some((vx, vy)))
            }
            None if options.validation_split > 0.0 => {
                let split = (x.len() as f64 * (1.0 - options.validation_split)) as usize;
                if split == 0 || split == x.len() {
                    return Err(Error::config(
                        "fit: validation_split",
                        format!(
                            "{} of {} samples leaves {} for training and {} for validation; \
                             both need at least one",
                            options.validation_split,
                            x.len(),
                            split,
                            x.len() - split
                        ),
                    ));
                }
                (
                    (x.rows(0, split), y.rows(0, split)),
                    Some((x.rows(split, x.len()), y.rows(split, y.len()))),
                )
            }
            None => ((x.rows(0, x.len()), y.rows(0, y.len())), None),
        };
        if options.verbose > 0 && !self.announced {
            println!("Training on: {}", self.device);
            self.announced = true;
        }
        let shuffle_seed = options.seed.unwrap_or_else(next_seed);
        self.device.autodiff().seed(next_seed());
        let steps = train.0.len().div_ceil(options.batch_size);
        let mut progress = ProgbarLogger::new(Mode::Fit, options.verbose, steps, options.epochs);
        let mut history = History::default();
        let mut list = CallbackList::around(&mut progress, user, Some(&mut history));
        training::fit(
            self,
            (&train.0, &train.1),
            validation.as_ref().map(|(a, b)| (a, b)),
            &options,
            &mut list,
            shuffle_seed,
        )?;
        drop(list);
        Ok(history)
    }

    /// Scores the model on `x`, `y` with batches of 32 and a progress bar, like Keras.
    pub fn evaluate(&self, x: &impl ToHostArray, y: &impl ToHostArray) -> Result<Logs> {
        self.evaluate_with(x, y, EvalOptions::default())
    }

    /// Scores the model on `x`, `y`: the loss and every compiled metric.
    pub fn evaluate_with(
        &self,
        x: &impl ToHostArray,
        y: &impl ToHostArray,
        options: EvalOptions,
    ) -> Result<Logs> {
        options.validate()?;
        let (x, y) = (x.to_host_array()?, y.to_host_array()?);
        self.check_pair(&x, &y, "evaluate")?;
        let steps = x.len().div_ceil(options.batch_size);
        let mut progress = ProgbarLogger::new(Mode::Evaluate, options.verbose, steps, 1);
        let mut list = CallbackList::around(&mut progress, options.callbacks, None);
        training::evaluate(self, &x, &y, options.batch_size, &mut list)
    }

    /// The model's outputs for `x`, computed in batches of 32, silently.
    pub fn predict(&self, x: &impl ToHostArray) -> Result<ArrayD<f32>> {
        self.predict_with(x, EvalOptions::default().verbose(0))
    }

    /// The model's outputs for `x`, shaped `[samples, ...output shape]`.
    pub fn predict_with(&self, x: &impl ToHostArray, options: EvalOptions) -> Result<ArrayD<f32>> {
        options.validate()?;
        let x = x.to_host_array()?;
        self.check_inputs(&x, "predict")?;
        self.single_output("predict")?;
        let steps = x.len().div_ceil(options.batch_size);
        let mut progress = ProgbarLogger::new(Mode::Predict, options.verbose, steps, 1);
        let mut list = CallbackList::around(&mut progress, options.callbacks, None);
        training::predict(self, &x, options.batch_size, &mut list)
    }

    /// One gradient step on exactly these samples; returns the batch's loss and metrics
    /// (computed before the update).
    pub fn train_on_batch(&mut self, x: &impl ToHostArray, y: &impl ToHostArray) -> Result<Logs> {
        let (x, y) = (x.to_host_array()?, y.to_host_array()?);
        self.check_pair(&x, &y, "train_on_batch")?;
        let device = self.device.autodiff();
        let compiled = self.compiled.as_mut().expect("checked by check_pair");
        let all: Vec<usize> = (0..x.len()).collect();
        let mut buffer = Vec::new();
        x.gather_into(&all, &mut buffer);
        let xb = crate::graph::Value::from_host(std::mem::take(&mut buffer), x.shape(), &device);
        let target = compiled.target(&y, &all, &mut buffer, &device);
        let (network, values) = training::train_step(self.network.clone(), compiled, xb, &target);
        self.network = network;
        let mut running = training::Running::new(compiled);
        running.add(values, x.len());
        Ok(running.logs())
    }

    /// The loss and metrics on exactly these samples, without updating the model.
    pub fn test_on_batch(&self, x: &impl ToHostArray, y: &impl ToHostArray) -> Result<Logs> {
        let (x, y) = (x.to_host_array()?, y.to_host_array()?);
        let batch = x.len().max(1);
        self.evaluate_with(&x, &y, EvalOptions::default().batch_size(batch).verbose(0))
    }

    /// The outputs for exactly these samples, in one batch.
    pub fn predict_on_batch(&self, x: &impl ToHostArray) -> Result<ArrayD<f32>> {
        let x = x.to_host_array()?;
        let batch = x.len().max(1);
        self.predict_with(&x, EvalOptions::default().batch_size(batch).verbose(0))
    }

    fn single_output(&self, method: &str) -> Result<crate::Shape> {
        let graph = self.graph();
        match (graph.inputs().len(), graph.outputs().len()) {
            (1, 1) => Ok(graph.output_shapes().remove(0)),
            (i, o) => Err(Error::config(
                format!("model `{}`", self.name),
                format!("`{method}` takes one input and one output; this model has {i} and {o}"),
            )),
        }
    }

    fn check_inputs(&self, x: &HostArray, method: &str) -> Result<()> {
        if x.is_empty() {
            return Err(Error::data(format!("{method}: x holds no samples")));
        }
        let input = &self.graph().inputs()[0];
        if x.sample_shape() != input.shape.dims() {
            return Err(Error::data(format!(
                "{method}: x has samples of shape {:?} but input `{}` of model `{}` expects {}; \
                 reshape x or change the model's input",
                x.sample_shape(),
                input.name,
                self.name,
                input.shape
            )));
        }
        Ok(())
    }

    fn check_pair(&self, x: &HostArray, y: &HostArray, method: &'static str) -> Result<()> {
        let compiled = self
            .compiled
            .as_ref()
            .ok_or(Error::NotCompiled { method })?;
        self.check_inputs(x, method)?;
        if x.len() != y.len() {
            return Err(Error::data(format!(
                "{method}: x has {} samples but y has {}; give one target per sample",
                x.len(),
                y.len()
            )));
        }
        let output = self.single_output(method)?;
        compiled.check_targets(y, &output)
    }
}
