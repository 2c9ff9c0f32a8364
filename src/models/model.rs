//! `Model`: a built network with its device and, once compiled, its training setup.

use crate::backend::Device;
use crate::callbacks::CallbackList;
use crate::callbacks::progbar::{Mode, ProgbarLogger};
use crate::data::{Batch, Dataset, HostArray, ToArrays};
use crate::distribute::{Local, Replicas, Strategy};
use crate::error::{Error, Result};
use crate::graph::{Graph, Network};
use crate::layers::Layer;
use crate::models::Summary;
use crate::random::next_seed;
use crate::training::feed::{ArrayFeed, DatasetFeed, Feed};
use crate::training::{
    self, Compiled, EvalOptions, FitOptions, History, Logs, Losses, Metrics, Optimizer,
};
use ndarray::ArrayD;
use std::sync::Arc;

/// A model with weights: built from a [`crate::Sequential`] (or a graph), trained with
/// [`Model::fit`], scored with [`Model::evaluate`], used with [`Model::predict`].
///
/// Its network is a Burn module on the model's device ([`Model::network`]).
pub struct Model {
    /// The identity shared by every use of this model as a layer.
    id: u64,
    name: String,
    pub(crate) network: Network,
    pub(crate) device: Device,
    pub(crate) compiled: Option<Compiled>,
    announced: bool,
    pub(crate) stop_requested: bool,
    /// The epoch `fit` should start from, set by a callback (BackupAndRestore) when it begins.
    pub(crate) resume_epoch: Option<usize>,
    /// False on the workers of a multi-process `fit` other than the chief.
    pub(crate) chief: bool,
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
    /// Builds a model from a checked graph, with fresh weights on `device` (a nested model's
    /// layer starts from the weights it was applied with).
    pub fn build(name: impl Into<String>, graph: Arc<Graph>, device: Device) -> Result<Model> {
        let train_device = device.autodiff();
        train_device.seed(next_seed());
        let network = Network::build(graph, &train_device)?;
        Ok(Model {
            id: crate::models::input::next_id(),
            name: name.into(),
            network,
            device,
            compiled: None,
            announced: false,
            stop_requested: false,
            resume_epoch: None,
            chief: true,
        })
    }

    /// Sets up training: the optimizer, the loss, and the metrics to report.
    ///
    /// Compiling again replaces the setup and starts a fresh optimizer state.
    ///
    /// A model with several outputs takes one loss for all, one per output or losses by output
    /// name, optionally weighted ([`Losses`]), and metrics for all outputs or per output
    /// ([`Metrics`]); its logs then carry `<output>_loss` and `<output>_<metric>` besides the
    /// total `loss`, as in Keras.
    pub fn compile(
        &mut self,
        optimizer: impl Into<Optimizer>,
        loss: impl Into<Losses>,
        metrics: impl Into<Metrics>,
    ) -> Result<()> {
        let outputs: Vec<(String, crate::Shape)> = self
            .output_names()
            .into_iter()
            .zip(self.graph().output_shapes())
            .collect();
        self.compiled = Some(Compiled::new(
            optimizer.into(),
            loss.into(),
            metrics.into(),
            &outputs,
        )?);
        Ok(())
    }

    /// The model's name (`sequential`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identity every use of this model as a layer shares.
    pub(crate) fn layer_id(&self) -> u64 {
        self.id
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
            loss: c.losses.losses.clone(),
            loss_weights: c.losses.loss_weights.clone(),
            metrics: c.metrics.0.clone(),
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
            // fit, evaluate and train_on_batch refuse an uncompiled model before calling this
            .expect("checked before training or scoring")
    }

    /// Trains on inputs `x` and targets `y` (one-hot or integer labels, as the loss takes them).
    ///
    /// For a model with several inputs or outputs, `x` and `y` give one array per input and
    /// per output, in order (`[&a, &b]`) or by name (`[("a", &a), ("b", &b)]`); see
    /// [`ToArrays`].
    ///
    /// Every check of the arguments happens before the first step: a call refused for its
    /// arguments leaves the model as it was. A callback that returns an error ends training
    /// there, with the steps taken so far kept.
    pub fn fit(
        &mut self,
        x: &impl ToArrays,
        y: &impl ToArrays,
        mut options: FitOptions,
    ) -> Result<History> {
        options.validate()?;
        let user = std::mem::take(&mut options.callbacks);
        let (x, y) = (self.inputs_of(x, "fit: x")?, self.targets_of(y, "fit: y")?);
        self.check_pair(&x, &y, "fit")?;
        let samples = x[0].len();
        let (train, validation) = match options.validation_data {
            Some((vx, vy)) => {
                let vx = self.inputs_of(vx, "fit: validation_data x")?;
                let vy = self.targets_of(vy, "fit: validation_data y")?;
                self.check_pair(&vx, &vy, "fit: validation_data")?;
                ((rows(&x, 0, samples), rows(&y, 0, samples)), Some((vx, vy)))
            }
            None if options.validation_split > 0.0 => {
                let split = (samples as f64 * (1.0 - options.validation_split)) as usize;
                if split == 0 || split == samples {
                    return Err(Error::config(
                        "fit: validation_split",
                        format!(
                            "{} of {} samples leaves {} for training and {} for validation; \
                             both need at least one",
                            options.validation_split,
                            samples,
                            split,
                            samples - split
                        ),
                    ));
                }
                (
                    (rows(&x, 0, split), rows(&y, 0, split)),
                    Some((rows(&x, split, samples), rows(&y, split, samples))),
                )
            }
            None => ((rows(&x, 0, samples), rows(&y, 0, samples)), None),
        };
        if options.validation_dataset.is_some() {
            return Err(Error::config(
                "fit: validation_dataset",
                "validation batches from a dataset go with fit_dataset; give fit validation_data",
            ));
        }
        let mut strategy = options.strategy.take();
        let mut shuffle_seed = options.seed.unwrap_or_else(next_seed);
        if let Some(s) = strategy.as_deref_mut() {
            // every replica shuffles alike and reads its part of each batch
            shuffle_seed = s.agree(shuffle_seed)?;
        }
        let mut feed = ArrayFeed::new(
            (&train.0, &train.1),
            options.batch_size,
            options.shuffle.then_some(shuffle_seed),
        );
        let mut checking = validation
            .as_ref()
            .map(|(x, y)| ArrayFeed::new((x, y), options.batch_size, None));
        self.run_fit(
            &mut feed,
            checking.as_mut().map(|f| f as &mut dyn Feed),
            options,
            user,
            strategy,
        )
    }

    /// Trains the model on the batches of `data` (Keras' `fit` given a `tf.data` dataset or a
    /// `PyDataset`): one pass per epoch, or `steps_per_epoch` batches per epoch read on across
    /// passes. Each batch is checked against the model as it arrives. `batch_size`, `shuffle`
    /// and `validation_split` do not apply: the dataset batches and shuffles itself, and
    /// `take`/`skip` split it. Validation reads `validation_dataset` or `validation_data`.
    ///
    /// ```
    /// use kiln::data::Dataset;
    /// use kiln::layers::Dense;
    /// use kiln::prelude::*;
    /// use ndarray::{ArrayD, IxDyn};
    /// let mut model = Sequential::new()
    ///     .input([1])
    ///     .add(Dense::new(1))
    ///     .device(Device::cpu()?)
    ///     .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])?;
    /// let x = ArrayD::from_shape_fn(IxDyn(&[64, 1]), |i| i[0] as f32 / 64.0);
    /// let y = x.mapv(|v| 2.0 * v + 1.0);
    /// let data = Dataset::from_arrays(vec![x], vec![y])?.shuffle(64, 1).batch(8).prefetch(2);
    /// let history = model.fit_dataset(&data, FitOptions::default().epochs(30).verbose(0))?;
    /// assert!(history.get("loss").unwrap().last().unwrap() < &0.01);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn fit_dataset(
        &mut self,
        data: &Dataset<Batch>,
        mut options: FitOptions,
    ) -> Result<History> {
        options.validate()?;
        if self.compiled.is_none() {
            return Err(Error::NotCompiled { method: "fit" });
        }
        if options.validation_split > 0.0 {
            return Err(Error::config(
                "fit: validation_split",
                "a dataset is not split by fit; split it with take and skip and give \
                 validation_dataset",
            ));
        }
        let user = std::mem::take(&mut options.callbacks);
        let strategy = options.strategy.take();
        let mut feed = DatasetFeed::new(data, options.steps_per_epoch, "fit")?;
        // drawn where fit draws its shuffle's seed, so that fit_dataset on the same batches
        // takes the same dropout masks as fit
        let _ = options.seed.unwrap_or_else(next_seed);
        let arrays = match options.validation_data {
            Some((vx, vy)) => {
                let vx = self.inputs_of(vx, "fit: validation_data x")?;
                let vy = self.targets_of(vy, "fit: validation_data y")?;
                self.check_pair(&vx, &vy, "fit: validation_data")?;
                Some((vx, vy))
            }
            None => None,
        };
        let mut from_data = options
            .validation_dataset
            .map(|v| DatasetFeed::whole(v, "fit: validation_dataset"));
        let mut from_arrays = arrays
            .as_ref()
            .map(|(x, y)| ArrayFeed::new((x, y), options.batch_size, None));
        let checking: Option<&mut dyn Feed> = match (&mut from_data, &mut from_arrays) {
            (Some(f), _) => Some(f),
            (None, Some(f)) => Some(f),
            (None, None) => None,
        };
        self.run_fit(&mut feed, checking, options, user, strategy)
    }

    /// The part of `fit` after its arguments are checked: the progress bar, the history and
    /// the loop.
    fn run_fit(
        &mut self,
        feed: &mut dyn Feed,
        validation: Option<&mut dyn Feed>,
        options: FitOptions,
        user: Vec<&mut dyn crate::callbacks::Callback>,
        strategy: Option<&mut dyn Strategy>,
    ) -> Result<History> {
        let mut local = Local;
        let strategy: &mut dyn Replicas = match strategy {
            Some(s) => s,
            None => &mut local,
        };
        let chief = strategy.is_chief();
        // only the chief shows progress
        let verbose = if chief { options.verbose } else { 0 };
        if verbose > 0 && !self.announced {
            println!("Training on: {}", self.device);
            self.announced = true;
        }
        // replicas draw different dropout masks from one agreed seed
        let seed = strategy.agree(next_seed())?;
        let replica = strategy.shard().0 as u64;
        self.device.autodiff().seed(seed.wrapping_add(replica));
        let steps = strategy
            .updates_per_epoch(feed.steps())
            .unwrap_or(feed.steps());
        let mut progress = ProgbarLogger::new(Mode::Fit, verbose, steps, options.epochs);
        let mut history = History::default();
        let mut list = CallbackList::around(&mut progress, user, Some(&mut history));
        self.chief = chief;
        let result = training::fit(self, feed, validation, &options, &mut list, strategy);
        self.chief = true;
        result?;
        drop(list);
        Ok(history)
    }

    /// Whether this process writes files and shows progress during `fit`: true except on the
    /// workers of a multi-process strategy other than the chief (rank 0). Callbacks that
    /// write files (checkpoints, CSV logs, TensorBoard, backups) write only on the chief.
    pub fn is_chief(&self) -> bool {
        self.chief
    }

    /// Scores the model on `x`, `y` with batches of 32 and a progress bar, like Keras.
    pub fn evaluate(&self, x: &impl ToArrays, y: &impl ToArrays) -> Result<Logs> {
        self.evaluate_with(x, y, EvalOptions::default())
    }

    /// Scores the model on `x`, `y`: the loss and every compiled metric.
    pub fn evaluate_with(
        &self,
        x: &impl ToArrays,
        y: &impl ToArrays,
        options: EvalOptions,
    ) -> Result<Logs> {
        options.validate()?;
        let (x, y) = (
            self.inputs_of(x, "evaluate: x")?,
            self.targets_of(y, "evaluate: y")?,
        );
        self.check_pair(&x, &y, "evaluate")?;
        let mut feed = ArrayFeed::new((&x, &y), options.batch_size, None);
        let mut progress = ProgbarLogger::new(Mode::Evaluate, options.verbose, feed.steps(), 1);
        let mut list = CallbackList::around(&mut progress, options.callbacks, None);
        training::evaluate(self, &mut feed, &mut list, &mut Local)
    }

    /// Scores the model on one whole pass over the batches of `data`: the loss and every
    /// compiled metric. `options.batch_size` does not apply.
    pub fn evaluate_dataset(&self, data: &Dataset<Batch>, options: EvalOptions) -> Result<Logs> {
        options.validate()?;
        if self.compiled.is_none() {
            return Err(Error::NotCompiled { method: "evaluate" });
        }
        let mut feed = DatasetFeed::whole(data, "evaluate");
        let mut progress = ProgbarLogger::new(Mode::Evaluate, options.verbose, feed.steps(), 1);
        let mut list = CallbackList::around(&mut progress, options.callbacks, None);
        training::evaluate(self, &mut feed, &mut list, &mut Local)
    }

    /// The model's output for `x`, computed in batches of 32, silently. For a model with
    /// several outputs, use [`Model::predict_outputs`].
    pub fn predict(&self, x: &impl ToArrays) -> Result<ArrayD<f32>> {
        self.predict_with(x, EvalOptions::default().verbose(0))
    }

    /// The model's output for `x`, shaped `[samples, ...output shape]`.
    pub fn predict_with(&self, x: &impl ToArrays, options: EvalOptions) -> Result<ArrayD<f32>> {
        let outputs = self.graph().outputs().len();
        if outputs != 1 {
            return Err(Error::config(
                format!("model `{}`", self.name),
                format!(
                    "`predict` gives one output but this model has {outputs}; use `predict_outputs`"
                ),
            ));
        }
        Ok(self.predict_outputs_with(x, options)?.swap_remove(0))
    }

    /// Every output of the model for `x`, in the order of [`Model::output_names`], computed in
    /// batches of 32, silently.
    pub fn predict_outputs(&self, x: &impl ToArrays) -> Result<Vec<ArrayD<f32>>> {
        self.predict_outputs_with(x, EvalOptions::default().verbose(0))
    }

    /// Every output of the model for `x`, each shaped `[samples, ...output shape]`.
    pub fn predict_outputs_with(
        &self,
        x: &impl ToArrays,
        options: EvalOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        options.validate()?;
        let x = self.inputs_of(x, "predict: x")?;
        self.check_inputs(&x, "predict")?;
        let samples = samples_of(&x);
        let steps = samples.div_ceil(options.batch_size);
        let mut progress = ProgbarLogger::new(Mode::Predict, options.verbose, steps, 1);
        let mut list = CallbackList::around(&mut progress, options.callbacks, None);
        let batches = (0..samples)
            .step_by(options.batch_size)
            .map(|s| Ok(rows(&x, s, (s + options.batch_size).min(samples))));
        training::predict(self, batches, samples, &mut list)
    }

    /// Every output of the model for the inputs of one whole pass over `data` (targets, if
    /// the batches hold any, are not read), each shaped `[samples, ...output shape]`.
    /// `options.batch_size` does not apply. Each batch is checked against the model's inputs.
    pub fn predict_dataset(
        &self,
        data: &Dataset<Batch>,
        options: EvalOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        options.validate()?;
        let steps = data.len().unwrap_or(0);
        let mut progress = ProgbarLogger::new(Mode::Predict, options.verbose, steps, 1);
        let mut list = CallbackList::around(&mut progress, options.callbacks, None);
        let batches = data.pass(0).enumerate().map(|(step, batch)| {
            let batch = batch?;
            self.check_inputs(&batch.x, "predict")
                .map_err(|e| Error::data(format!("predict: batch {step} of the dataset: {e}")))?;
            Ok(batch.x)
        });
        training::predict(self, batches, 0, &mut list)
    }

    /// One gradient step on exactly these samples; returns the batch's loss and metrics
    /// (computed before the update).
    pub fn train_on_batch(&mut self, x: &impl ToArrays, y: &impl ToArrays) -> Result<Logs> {
        let (x, y) = (
            self.inputs_of(x, "train_on_batch: x")?,
            self.targets_of(y, "train_on_batch: y")?,
        );
        self.check_pair(&x, &y, "train_on_batch")?;
        let device = self.device.autodiff();
        // check_pair returned an error above for an uncompiled model
        let compiled = self.compiled.as_mut().expect("checked by check_pair");
        let all: Vec<usize> = (0..samples_of(&x)).collect();
        let mut buffer = Vec::new();
        let xb = training::inputs(&x, &all, &mut buffer, &device)?;
        let targets = compiled.targets(&y, &all, &mut buffer, &device)?;
        let values = training::train_step(&mut self.network, compiled, xb, &targets)?;
        let mut running = training::Running::new(compiled);
        running.add(values, all.len());
        Ok(running.logs())
    }

    /// The loss and metrics on exactly these samples, without updating the model.
    pub fn test_on_batch(&self, x: &impl ToArrays, y: &impl ToArrays) -> Result<Logs> {
        let batch = samples_of(&self.inputs_of(x, "test_on_batch: x")?).max(1);
        self.evaluate_with(x, y, EvalOptions::default().batch_size(batch).verbose(0))
    }

    /// The outputs for exactly these samples, in one batch.
    pub fn predict_on_batch(&self, x: &impl ToArrays) -> Result<ArrayD<f32>> {
        let batch = samples_of(&self.inputs_of(x, "predict_on_batch: x")?).max(1);
        self.predict_with(x, EvalOptions::default().batch_size(batch).verbose(0))
    }

    /// The names of the model's inputs, in order.
    pub fn input_names(&self) -> Vec<String> {
        self.graph()
            .inputs()
            .iter()
            .map(|i| i.name.clone())
            .collect()
    }

    /// The names of the model's outputs, in order: the name of the layer giving each, as in
    /// Keras. Targets, losses and metrics can be given by these names.
    pub fn output_names(&self) -> Vec<String> {
        let graph = self.graph();
        graph
            .outputs()
            .iter()
            .map(|s| match *s {
                crate::graph::Source::Input(k) => graph.inputs()[k].name.clone(),
                crate::graph::Source::Node(j, _) => graph.layers()[graph.nodes()[j].layer]
                    .name()
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect()
    }

    fn inputs_of<'a>(
        &self,
        x: &'a (impl ToArrays + ?Sized),
        what: &str,
    ) -> Result<Vec<HostArray<'a>>> {
        x.to_arrays()?.resolve(&self.input_names(), what, "inputs")
    }

    fn targets_of<'a>(
        &self,
        y: &'a (impl ToArrays + ?Sized),
        what: &str,
    ) -> Result<Vec<HostArray<'a>>> {
        y.to_arrays()?
            .resolve(&self.output_names(), what, "outputs")
    }

    fn check_inputs(&self, xs: &[HostArray], method: &str) -> Result<()> {
        for (x, input) in xs.iter().zip(self.graph().inputs()) {
            if x.is_empty() {
                return Err(Error::data(format!(
                    "{method}: x holds no samples for input `{}`",
                    input.name
                )));
            }
            if x.sample_shape() != input.shape.dims() {
                return Err(Error::data(format!(
                    "{method}: x has samples of shape {:?} but input `{}` of model `{}` expects \
                     {}; reshape x or change the model's input",
                    x.sample_shape(),
                    input.name,
                    self.name,
                    input.shape
                )));
            }
        }
        if let Some(x) = xs.iter().find(|x| x.len() != xs[0].len()) {
            return Err(Error::data(format!(
                "{method}: the input arrays hold {} and {} samples; give every input the same \
                 samples",
                xs[0].len(),
                x.len()
            )));
        }
        for (x, input) in xs.iter().zip(self.graph().inputs()) {
            if let Some(bad) = x.first_non_finite() {
                return Err(Error::data(format!(
                    "{method}: {bad} of input `{}`; NaN and infinite inputs would poison the \
                     weights and the predictions: clean or impute the data",
                    input.name
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn check_pair(
        &self,
        x: &[HostArray],
        y: &[HostArray],
        method: &'static str,
    ) -> Result<()> {
        let compiled = self
            .compiled
            .as_ref()
            .ok_or(Error::NotCompiled { method })?;
        self.check_inputs(x, method)?;
        if let Some(y) = y.iter().find(|y| y.len() != x[0].len()) {
            return Err(Error::data(format!(
                "{method}: x has {} samples but y has {}; give one target per sample",
                x[0].len(),
                y.len()
            )));
        }
        compiled.check_targets(y)
    }
}

/// The samples of arrays that were checked to hold the same number.
fn samples_of(arrays: &[HostArray]) -> usize {
    arrays.first().map_or(0, HostArray::len)
}

/// Rows `start..end` of each array, borrowed.
fn rows<'a>(arrays: &'a [HostArray<'a>], start: usize, end: usize) -> Vec<HostArray<'a>> {
    arrays.iter().map(|a| a.rows(start, end)).collect()
}
