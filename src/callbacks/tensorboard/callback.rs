//! `TensorBoard`: a training run written as TensorBoard event files, to watch live.

use super::events::EventFile;
use crate::callbacks::{BatchLogs, Callback};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::training::Logs;
use std::path::PathBuf;

/// How often the training scalars are written (Keras' `update_freq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFreq {
    /// Once per epoch (`epoch_loss`…), the default.
    Epoch,
    /// Also every this many training batches (`batch_loss`…, at the optimizer's step count).
    Batches(usize),
}

/// Writes training as TensorBoard reads it, as Keras' `TensorBoard` callback lays it out:
/// event files under `log_dir/train` and `log_dir/validation`, flushed as they are written so
/// `tensorboard --logdir <log_dir>` shows a run while it trains.
///
/// - every epoch's logs as scalars `epoch_<name>` at step `epoch` (validation logs, without
///   their `val_`, under `validation`), and the learning rate as `epoch_learning_rate`;
/// - with [`update_freq`](Self::update_freq) `Batches(n)`, the running values as `batch_<name>`
///   every `n` optimizer steps, at the step count (which a run resumed by
///   [`BackupAndRestore`](crate::callbacks::BackupAndRestore) continues, as its epochs);
/// - each evaluation during `fit` as `evaluation_<name>_vs_iterations` under `validation`;
/// - every weight's histogram (`dense/kernel/histogram`) every
///   [`histogram_freq`](Self::histogram_freq) epochs;
/// - the model's summary table as text (`model_summary`, step 0);
/// - with [`write_graph`](Self::write_graph) (the default), the model's graph for the graph
///   dashboard: the conceptual graph (tag `keras`, Keras 3's model JSON, as Keras writes it),
///   and a layer-level op graph (a node per layer, its class as the op).
///
/// ```no_run
/// use kiln::callbacks::{TensorBoard, UpdateFreq};
/// # fn run(model: &mut kiln::Model, x: &ndarray::ArrayD<f32>, y: &ndarray::ArrayD<f32>) -> kiln::Result<()> {
/// let mut board = TensorBoard::new("runs/logs").histogram_freq(1).update_freq(UpdateFreq::Batches(100));
/// model.fit(x, y, kiln::FitOptions::default().epochs(3).callback(&mut board))?;
/// # Ok(()) }
/// ```
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    histogram_freq: usize,
    write_graph: bool,
    train: Option<EventFile>,
    validation: Option<EventFile>,
}

impl TensorBoard {
    /// Writes under `log_dir` (Keras' default is `logs`).
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        TensorBoard {
            log_dir: log_dir.into(),
            update_freq: UpdateFreq::Epoch,
            histogram_freq: 0,
            write_graph: true,
            train: None,
            validation: None,
        }
    }

    /// How often the training scalars are written (default: once per epoch).
    pub fn update_freq(mut self, freq: UpdateFreq) -> Self {
        self.update_freq = freq;
        self
    }

    /// Whether to write the model's graph for TensorBoard's graph dashboard (default true, as
    /// Keras).
    pub fn write_graph(mut self, yes: bool) -> Self {
        self.write_graph = yes;
        self
    }

    /// Writes the weights' histograms every `epochs` epochs (default 0: never).
    pub fn histogram_freq(mut self, epochs: usize) -> Self {
        self.histogram_freq = epochs;
        self
    }

    fn train(&mut self) -> Result<&mut EventFile> {
        match &mut self.train {
            Some(file) => Ok(file),
            None => Err(Error::config(
                "TensorBoard",
                "it writes only during fit, after on_train_begin",
            )),
        }
    }

    /// The validation writer, created when there is first something to write.
    fn validation(&mut self) -> Result<&mut EventFile> {
        match &mut self.validation {
            Some(file) => Ok(file),
            empty => Ok(empty.insert(EventFile::create(&self.log_dir.join("validation"))?)),
        }
    }
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, model: &mut Model) -> Result<()> {
        if let UpdateFreq::Batches(0) = self.update_freq {
            return Err(Error::config(
                "TensorBoard update_freq",
                "Batches(0) writes never; give at least 1, or UpdateFreq::Epoch",
            ));
        }
        self.validation = None;
        if !model.is_chief() {
            // another worker of a distributed fit: the chief writes the events
            self.train = None;
            return Ok(());
        }
        let mut train = EventFile::create(&self.log_dir.join("train"))?;
        // indented four spaces, the table stays a table in TensorBoard's markdown
        let table: String = model
            .summary()
            .to_string()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect();
        train.text("model_summary", &table, 0)?;
        if self.write_graph {
            let json = super::keras_graph::keras_model_json(model.name(), model.graph());
            train.keras_model("keras", &json, 0)?;
            train.graph(&super::keras_graph::op_graph(model.graph()))?;
        }
        self.train = Some(train);
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        _: usize,
        logs: &BatchLogs<'_>,
        model: &mut Model,
    ) -> Result<()> {
        let UpdateFreq::Batches(n) = self.update_freq else {
            return Ok(());
        };
        if !model.is_chief() {
            return Ok(());
        }
        let step = model.iterations();
        if !step.is_multiple_of(n as u64) {
            return Ok(());
        }
        let train = self.train()?;
        for (name, value) in logs.logs().iter() {
            train.scalar(&format!("batch_{name}"), value as f32, step as i64)?;
        }
        Ok(())
    }

    fn on_test_end(&mut self, logs: &Logs, model: &Model) -> Result<()> {
        if self.train.is_none() {
            // an evaluate outside fit
            return Ok(());
        }
        let step = model.iterations() as i64;
        let validation = self.validation()?;
        for (name, value) in logs.iter() {
            validation.scalar(
                &format!("evaluation_{name}_vs_iterations"),
                value as f32,
                step,
            )?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, model: &mut Model) -> Result<()> {
        if !model.is_chief() {
            return Ok(());
        }
        let step = epoch as i64;
        let learning_rate = model.learning_rate();
        let histograms = self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq);
        let train = self.train()?;
        for (name, value) in logs.iter().filter(|(n, _)| !n.starts_with("val_")) {
            train.scalar(&format!("epoch_{name}"), value as f32, step)?;
        }
        if let Some(lr) = learning_rate {
            train.scalar("epoch_learning_rate", lr as f32, step)?;
        }
        if histograms {
            for (name, weights) in model.get_weights() {
                let values: Vec<f32> = weights.iter().copied().collect();
                train.histogram(&format!("{name}/histogram"), &values, step)?;
            }
        }
        let validation: Vec<(&str, f64)> = logs
            .iter()
            .filter_map(|(n, v)| n.strip_prefix("val_").map(|n| (n, v)))
            .collect();
        if !validation.is_empty() {
            let file = self.validation()?;
            for (name, value) in validation {
                file.scalar(&format!("epoch_{name}"), value as f32, step)?;
            }
        }
        Ok(())
    }

    fn on_train_end(&mut self, _: &Logs, _: &mut Model) -> Result<()> {
        self.train = None;
        self.validation = None;
        Ok(())
    }
}
