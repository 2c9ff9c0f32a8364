//! `MultiWorkerMirroredStrategy`: synchronous data parallel over MPI, one process per worker.

use crate::distribute::CommStats;
use crate::distribute::Strategy;
use crate::distribute::flat::{WeightSlots, read_scores, scores_len, write_scores};
use crate::distribute::mpi::GradLayout;
use crate::distribute::mpi::World;
use crate::distribute::replicas::Replicas;
use crate::error::{Error, Result};
use crate::graph::Network;
use crate::models::Model;
use crate::training::feed::Step;
use crate::training::{Compiled, Scores};
use burn::module::Module;
use burn::optim::GradientsParams;

/// Synchronous data-parallel training across processes over MPI, as Keras'
/// `MultiWorkerMirroredStrategy` and Horovod: launch the same program on every worker with
/// `mpirun -np N` (or Slurm's `srun`), make the strategy once, and give it to `fit`.
///
/// - At the start of `fit`, rank 0's weights, optimizer state (when it resumes from a
///   backup) and epoch are broadcast: every worker starts from the chief's.
/// - Every epoch's shuffled order is the same on every worker; each reads its part of each
///   global batch (`batch_size` is the global batch), computes the gradients of its part, and
///   one MPI all-reduce per step sums the gradients (weighted by each part's share of the
///   batch), the batch's scores and the moving statistics' updates, fused in one buffer.
///   Every worker then applies the same optimizer step: the replicas stay bitwise identical.
/// - Batch normalization uses each worker's own batch statistics, as Keras does; the moving
///   statistics take the mean of the workers' updates, so they stay identical too.
/// - Logs (and so callbacks, History, early stopping) are over the global batch and the
///   whole validation set (each worker scores its part of each validation batch). Only
///   rank 0 shows progress and writes files ([`Model::is_chief`]).
/// - An error on one worker ends the whole job (`MPI_Abort`) with a message naming its rank,
///   rather than leaving the others waiting; `mpirun` ends the job when a worker dies.
///
/// ```no_run
/// # fn main() -> kiln::Result<()> {
/// use kiln::distribute::{MultiWorkerMirroredStrategy, Strategy};
/// use kiln::prelude::*;
/// let mut strategy = MultiWorkerMirroredStrategy::new()?;
/// # let (mut model, x, y): (Model, ndarray::Array2<f32>, ndarray::Array2<f32>) = todo!();
/// model.fit(&x, &y, FitOptions::default().batch_size(128).strategy(&mut strategy))?;
/// if strategy.rank() == 0 {
///     model.save("model.safetensors")?;
/// }
/// # Ok(())
/// # }
/// ```
pub struct MultiWorkerMirroredStrategy {
    world: World,
    grads: Option<GradLayout>,
    state: Option<WeightSlots>,
    /// The moving statistics after the last step, the same on every worker.
    prior: Vec<f32>,
    /// Which scores are weighed by a count (a mask's) rather than by samples.
    counted: Option<Vec<bool>>,
    buffers: (Vec<f32>, Vec<f32>),
}

impl MultiWorkerMirroredStrategy {
    /// Joins the MPI job this process was launched in (a job of one process when started
    /// without `mpirun`). MPI starts once per process: make one strategy and keep it.
    pub fn new() -> Result<Self> {
        Ok(MultiWorkerMirroredStrategy {
            world: World::start("MultiWorkerMirroredStrategy")?,
            grads: None,
            state: None,
            prior: Vec::new(),
            counted: None,
            buffers: (Vec::new(), Vec::new()),
        })
    }

    /// Sums `local` (this worker's buffer) over the workers into the second buffer.
    fn reduce(&mut self) {
        let (send, receive) = &mut self.buffers;
        receive.resize(send.len(), 0.0);
        self.world.sum(send, receive);
    }
}

impl Strategy for MultiWorkerMirroredStrategy {
    fn rank(&self) -> usize {
        self.world.rank()
    }

    fn processes(&self) -> usize {
        self.world.size()
    }

    fn comm_stats(&self) -> Option<CommStats> {
        Some(self.world.stats)
    }
}

/// Sets every worker's parameter ids to rank 0's, so that optimizer state keyed by them
/// means the same weight everywhere.
fn agree_param_ids(world: &World, network: &mut Network) {
    let mut ids: Vec<u64> = network
        .param_ids()
        .into_iter()
        .map(|(_, id)| id.val())
        .collect();
    world.broadcast(&mut ids[..]);
    for ((_, id), value) in network.param_ids().into_iter().zip(ids) {
        *id = burn::module::ParamId::from(value);
    }
}

/// Broadcasts rank 0's optimizer state and step count.
fn agree_optimizer(world: &World, compiled: &mut Compiled) -> Result<()> {
    let mut iterations = [compiled.optimizer.iterations()];
    let mut bytes = if world.rank() == 0 {
        compiled
            .optimizer
            .state_bytes()
            .map_err(|e| Error::config("optimizer state", e))?
    } else {
        Vec::new()
    };
    world.broadcast(&mut iterations);
    world.broadcast_bytes(&mut bytes);
    if world.rank() != 0 && iterations[0] > 0 {
        compiled
            .optimizer
            .restore(bytes, iterations[0])
            .map_err(|e| Error::config("optimizer state from rank 0", e))?;
    }
    Ok(())
}

/// Sets every worker's weights to rank 0's.
pub(crate) fn agree_weights(world: &World, network: &mut Network) -> Result<()> {
    let all = WeightSlots::of(network);
    let mut values = vec![0.0f32; all.len()];
    if world.rank() == 0 {
        all.read(network, &mut values);
    }
    world.broadcast(&mut values[..]);
    if world.rank() != 0 {
        all.write(network, &values)?;
    }
    Ok(())
}

/// Refuses workers whose models differ (in their weights' sizes).
pub(crate) fn check_same_model(world: &World, network: &Network) -> Result<()> {
    let size = WeightSlots::of(network).len() as u64;
    let (min, max) = world.min_max(size);
    if min != max {
        return Err(Error::config(
            format!("worker rank {}", world.rank()),
            format!(
                "the workers' models differ: their weights number from {min} to {max} values \
                 ({size} here); run the same model on every worker"
            ),
        ));
    }
    Ok(())
}

impl Replicas for MultiWorkerMirroredStrategy {
    fn may_leave_the_thread(&self) -> bool {
        false
    }

    fn shard(&self) -> (usize, usize) {
        (self.world.rank(), self.world.size())
    }

    fn is_chief(&self) -> bool {
        self.world.rank() == 0
    }

    fn replicas(&self) -> usize {
        self.world.size()
    }

    fn agree(&mut self, value: u64) -> Result<u64> {
        let mut value = [value];
        self.world.broadcast(&mut value);
        Ok(value[0])
    }

    fn begin(&mut self, model: &mut Model) -> Result<()> {
        check_same_model(&self.world, &model.network)?;
        agree_weights(&self.world, &mut model.network)?;
        agree_param_ids(&self.world, &mut model.network);
        let compiled = model
            .compiled
            .as_mut()
            .ok_or(Error::NotCompiled { method: "fit" })?;
        agree_optimizer(&self.world, compiled)?;
        let mut resume = [model.resume_epoch.map_or(-1, |e| e as i64)];
        self.world.broadcast(&mut resume);
        model.resume_epoch = usize::try_from(resume[0]).ok();
        self.grads = Some(GradLayout::of(&model.network));
        let state = WeightSlots::state_of(&model.network);
        self.prior = vec![0.0; state.len()];
        state.read(&model.network, &mut self.prior);
        self.state = Some(state);
        Ok(())
    }

    fn train_step(&mut self, model: &mut Model, step: Step) -> Result<Option<(Scores, usize)>> {
        let (Some(grads), Some(state)) = (self.grads.take(), self.state.take()) else {
            return Err(Error::config(
                "MultiWorkerMirroredStrategy",
                "fit did not begin the strategy",
            ));
        };
        let result = self.synchronous_step(model, step, &grads, &state);
        (self.grads, self.state) = (Some(grads), Some(state));
        result
    }

    fn test_step(&mut self, network: &Network, compiled: &Compiled, step: Step) -> Result<Scores> {
        let names = compiled.names().count();
        let samples = step.samples;
        self.buffers.0.clear();
        self.buffers.0.resize(scores_len(names), 0.0);
        if samples > 0 {
            let outputs = network.forward(step.x)?;
            let scores = compiled.score(&outputs, &step.targets).1;
            self.counted
                .get_or_insert_with(|| scores.weights.iter().map(Option::is_some).collect());
            write_scores(&scores, samples, &mut self.buffers.0);
        }
        self.reduce();
        let counted = self.counted.clone().unwrap_or_else(|| vec![false; names]);
        Ok(read_scores(
            &counted,
            &self.buffers.1,
            &network.devices().first().cloned().unwrap_or_default(),
        ))
    }

    fn fail(&mut self, error: Error) -> Error {
        if self.world.size() > 1 {
            self.world.abort(&error);
        }
        error
    }
}

impl MultiWorkerMirroredStrategy {
    /// One synchronous step: the buffer holds the gradients and their presence flags, the
    /// scores, the moving statistics' updates and a count of workers that had samples.
    fn synchronous_step(
        &mut self,
        model: &mut Model,
        step: Step,
        layout: &GradLayout,
        state: &WeightSlots,
    ) -> Result<Option<(Scores, usize)>> {
        let compiled: &mut Compiled = model
            .compiled
            .as_mut()
            .ok_or(Error::NotCompiled { method: "fit" })?;
        let names = compiled.names().count();
        let (g, s, m) = (layout.len(), scores_len(names), state.len());
        let send = &mut self.buffers.0;
        send.clear();
        send.resize(g + s + m + 1, 0.0);
        if step.samples > 0 {
            let outputs = model.network.forward(step.x)?;
            let (loss, scores) = compiled.score(&outputs, &step.targets);
            if !state.is_empty() {
                state.read(&model.network, &mut send[g + s..g + s + m]);
                for (d, p) in send[g + s..g + s + m].iter_mut().zip(&self.prior) {
                    *d -= p;
                }
            }
            write_scores(&scores, step.samples, &mut send[g..g + s]);
            self.counted
                .get_or_insert_with(|| scores.weights.iter().map(Option::is_some).collect());
            if loss.is_tracked() {
                let share = step.samples as f64 / step.global as f64;
                let backward = loss.mul_scalar(share).backward();
                let grads = GradientsParams::from_grads(backward, &model.network);
                layout.flatten(&model.network, grads, &mut send[..g]);
            }
            send[g + s + m] = 1.0;
        }
        self.reduce();
        let sums = &self.buffers.1;
        let device = model.device.burn().clone();
        if !state.is_empty() {
            let active = sums[g + s + m].max(1.0);
            for (p, d) in self.prior.iter_mut().zip(&sums[g + s..g + s + m]) {
                *p += d / active;
            }
            state.write(&mut model.network, &self.prior)?;
        }
        let grads = layout.unflatten(&model.network, &sums[..g], &device);
        if !grads.is_empty() {
            model.network = compiled.optimizer.step(model.network.take(), grads);
        }
        let counted = self.counted.clone().unwrap_or_else(|| vec![false; names]);
        let scores = read_scores(&counted, &sums[g..g + s], &device);
        Ok(Some((scores, step.global)))
    }
}
