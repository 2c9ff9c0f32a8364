//! Options of `fit`, `evaluate` and `predict`, with Keras' defaults.

use crate::callbacks::Callback;
use crate::data::{Batch, Dataset, ToArrays};
use crate::distribute::Strategy;
use crate::error::{Error, Result};

/// How `fit` trains. Defaults as in Keras: 1 epoch, batches of 32, shuffled, no validation,
/// verbose 1 (a progress bar).
///
/// ```
/// let opts = kiln::FitOptions::default().epochs(5).batch_size(128).validation_split(0.1);
/// assert_eq!(opts.epochs, 5);
/// assert!(opts.shuffle);
/// ```
pub struct FitOptions<'a> {
    /// Train until this epoch (default 1).
    pub epochs: usize,
    /// Samples per gradient step (default 32).
    pub batch_size: usize,
    /// Reshuffle the training samples every epoch (default true).
    pub shuffle: bool,
    /// Hold out this last fraction of the samples for validation (default 0).
    pub validation_split: f64,
    /// Validate on these inputs and targets each epoch; overrides `validation_split`.
    pub validation_data: Option<(&'a dyn ToArrays, &'a dyn ToArrays)>,
    /// The epoch to start from, when resuming (default 0).
    pub initial_epoch: usize,
    /// 0 silent, 1 progress bar, 2 one line per epoch (default 1).
    pub verbose: u8,
    /// Seed of the shuffling (default: drawn from `kiln::set_random_seed`'s stream, or random).
    pub seed: Option<u64>,
    /// Called at every hook, in order, after the progress bar and before the `History`
    /// (default none).
    pub callbacks: Vec<&'a mut dyn Callback>,
    /// With [`Model::fit_dataset`](crate::Model::fit_dataset): batches per epoch, read on
    /// from one pass into the next (default: one whole pass per epoch; needed when the
    /// dataset's length is unknown).
    pub steps_per_epoch: Option<usize>,
    /// Validate on this dataset's batches each epoch (one whole pass).
    pub validation_dataset: Option<&'a Dataset<Batch>>,
    /// Train on several replicas (devices or processes) with this strategy (default: one
    /// replica on the model's device).
    pub strategy: Option<&'a mut dyn Strategy>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            validation_split: 0.0,
            validation_data: None,
            initial_epoch: 0,
            verbose: 1,
            seed: None,
            callbacks: Vec::new(),
            steps_per_epoch: None,
            validation_dataset: None,
            strategy: None,
        }
    }
}

impl<'a> FitOptions<'a> {
    /// Sets the number of epochs (default 1).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the batch size (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets whether to shuffle each epoch (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Holds out the last `fraction` of the samples for validation (default 0).
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = fraction;
        self
    }

    /// Validates on `x` and `y` each epoch.
    pub fn validation_data(mut self, x: &'a dyn ToArrays, y: &'a dyn ToArrays) -> Self {
        self.validation_data = Some((x, y));
        self
    }

    /// Trains `steps` batches of the dataset per epoch (with `fit_dataset`).
    pub fn steps_per_epoch(mut self, steps: usize) -> Self {
        self.steps_per_epoch = Some(steps);
        self
    }

    /// Validates on the batches of `data` each epoch.
    pub fn validation_dataset(mut self, data: &'a Dataset<Batch>) -> Self {
        self.validation_dataset = Some(data);
        self
    }

    /// Trains with `strategy`: a [`MirroredStrategy`](crate::distribute::MirroredStrategy) over
    /// several devices, or (with the `mpi` feature) processes over MPI. `batch_size` stays the
    /// global batch, split among the replicas.
    pub fn strategy(mut self, strategy: &'a mut dyn Strategy) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Starts counting epochs at `epoch` (default 0).
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.initial_epoch = epoch;
        self
    }

    /// Sets the verbosity: 0, 1 or 2 (default 1).
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Seeds the shuffling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Adds a callback (none by default); the caller keeps it and can read it after `fit`
    /// (`early_stopping.stopped_epoch()`).
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_batch_size(self.batch_size)?;
        check_verbose(self.verbose)?;
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(Error::config(
                "fit: validation_split",
                format!("{} is outside [0, 1)", self.validation_split),
            ));
        }
        if self.initial_epoch > self.epochs {
            return Err(Error::config(
                "fit: initial_epoch",
                format!(
                    "{} is after the last epoch ({}); raise epochs",
                    self.initial_epoch, self.epochs
                ),
            ));
        }
        Ok(())
    }
}

/// How `evaluate` and `predict` run. Defaults as in Keras: batches of 32, verbose 1.
///
/// ```
/// let opts = kiln::EvalOptions::default().batch_size(256).verbose(0);
/// assert_eq!(opts.batch_size, 256);
/// ```
pub struct EvalOptions<'a> {
    /// Samples per batch (default 32).
    pub batch_size: usize,
    /// 0 silent, 1 progress bar, 2 one line (default 1).
    pub verbose: u8,
    /// Called at the test (or predict) hooks, after the progress bar (default none).
    pub callbacks: Vec<&'a mut dyn Callback>,
}

impl Default for EvalOptions<'_> {
    fn default() -> Self {
        EvalOptions {
            batch_size: 32,
            verbose: 1,
            callbacks: Vec::new(),
        }
    }
}

impl<'a> EvalOptions<'a> {
    /// Adds a callback (none by default).
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Sets the batch size (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the verbosity (default 1).
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_batch_size(self.batch_size)?;
        check_verbose(self.verbose)
    }
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::config(
            "batch_size",
            "0 takes no samples; use 1 or more (32 is Keras' default)",
        ));
    }
    Ok(())
}

fn check_verbose(verbose: u8) -> Result<()> {
    if verbose > 2 {
        return Err(Error::config(
            "verbose",
            format!("{verbose} is not 0, 1 or 2"),
        ));
    }
    Ok(())
}
