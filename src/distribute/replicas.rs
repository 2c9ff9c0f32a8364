//! What the training loop asks of a strategy: which part of each batch this process reads, and
//! how one step on that part becomes an update of the model.

use crate::error::{Error, Result};
use crate::graph::Network;
use crate::models::Model;
use crate::training::feed::Step;
use crate::training::{Compiled, Scores, train_step};

/// One process' replicas of a model. The loop of `fit` is the same for every strategy; it
/// calls these hooks around its steps.
pub trait Replicas {
    /// The part of each global batch this process reads: `(index, parts)`. Samples
    /// `[index·n/parts, (index+1)·n/parts)` of a batch of `n` are its.
    fn shard(&self) -> (usize, usize) {
        (0, 1)
    }

    /// Whether this process is the chief: the one that shows progress and writes files.
    fn is_chief(&self) -> bool {
        true
    }

    /// The replicas training together, across processes (in a parameter-server run, the
    /// workers).
    fn replicas(&self) -> usize {
        1
    }

    /// The chief's value of `value` (a seed), on every process.
    fn agree(&mut self, value: u64) -> Result<u64> {
        Ok(value)
    }

    /// Called once callbacks have begun (a backup may have been restored): makes every
    /// process start from the chief's weights, optimizer state and epoch.
    fn begin(&mut self, _model: &mut Model) -> Result<()> {
        Ok(())
    }

    /// With a parameter server, the updates the server applies per epoch of `steps` batches
    /// (it reads no batches itself); `None` where this process trains on batches.
    fn updates_per_epoch(&mut self, _steps: usize) -> Option<usize> {
        None
    }

    /// Whether this process validates at the end of each epoch.
    fn validates(&self) -> bool {
        true
    }

    /// Whether the training loop may run on a thread of the CPU's pool rather than the
    /// calling thread: not where MPI, initialized on the calling thread, must be called there.
    fn may_leave_the_thread(&self) -> bool {
        true
    }

    /// One training step on this process' part of a global batch: updates `model` and returns
    /// the global batch's scores, or `None` when the run was stopped elsewhere (the chief's
    /// early stopping, seen by a parameter server's worker).
    /// The scores come with the samples they cover.
    fn train_step(&mut self, model: &mut Model, step: Step) -> Result<Option<(Scores, usize)>>;

    /// Scores this process' part of a validation batch on `network` (the model in inference
    /// mode): the global batch's scores.
    fn test_step(&mut self, network: &Network, compiled: &Compiled, step: Step) -> Result<Scores> {
        let outputs = network.forward(step.x)?;
        Ok(compiled.score(&outputs, &step.targets).1)
    }

    /// Called when training ends on this process, normally or not.
    fn end(&mut self, _model: &mut Model) -> Result<()> {
        Ok(())
    }

    /// An error on this process: where the other processes would wait for it forever, ends
    /// the job (naming this process) instead of returning.
    fn fail(&mut self, error: Error) -> Error {
        error
    }
}

/// Training in one process on one device: the plain step.
pub(crate) struct Local;

impl Replicas for Local {
    fn train_step(&mut self, model: &mut Model, step: Step) -> Result<Option<(Scores, usize)>> {
        let compiled: &mut Compiled = model
            .compiled
            .as_mut()
            .ok_or(Error::NotCompiled { method: "fit" })?;
        let values = train_step(&mut model.network, compiled, step.x, &step.targets)?;
        Ok(Some((values, step.samples)))
    }
}
