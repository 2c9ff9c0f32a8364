//! `ParameterServerStrategy`: asynchronous training over MPI, the TensorFlow cluster lesson's
//! second mode. Rank 0 holds the weights; the other ranks are workers.

use crate::distribute::CommStats;
use crate::distribute::Strategy;
use crate::distribute::flat::{WeightSlots, read_scores, scores_len, write_scores};
use crate::distribute::mpi::GradLayout;
use crate::distribute::mpi::World;
use crate::distribute::mpi::workers::{agree_weights, check_same_model};
use crate::distribute::replicas::Replicas;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::training::feed::Step;
use crate::training::{Compiled, Scores};
use burn::optim::GradientsParams;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::Communicator;
use std::time::Instant;

/// Server to worker: `[control, every weight…]`.
const TAG_WEIGHTS: i32 = 11;
/// Worker to server: `[gradients and presence flags…, scores…, moving statistics…, samples]`.
const TAG_PUSH: i32 = 12;
const CONTINUE: f32 = 0.0;
const DONE: f32 = 1.0;

/// Asynchronous data-parallel training over MPI with one parameter server, as TensorFlow's
/// `ParameterServerStrategy` and the cluster lesson that trains MNIST on one parameter server
/// and several workers. Launch `mpirun -np N` (N ≥ 2): rank 0 is the server, ranks 1…N-1
/// the workers.
///
/// - The server holds the weights and the optimizer. Each worker pulls the current weights,
///   computes the gradients of its next batch and pushes them; the server applies each push
///   as it arrives (one optimizer step per push) and answers with the fresh weights.
/// - Each worker reads its part of every global batch (`batch_size` is the global batch, as
///   in the synchronous strategy), so an epoch is one pass over the data and the server
///   applies `workers × steps` updates per epoch, each from one worker's part.
/// - **Staleness**: a worker's gradients were computed on the weights it pulled; by the time
///   the server applies them, the pushes of the other workers that arrived in between have
///   been applied. With workers of equal speed that is about `workers - 1` updates; a slow
///   worker's gradients may be staler, up to one epoch's updates, never more: epochs end
///   together (the server answers a worker's last push of an epoch only once every worker's
///   epoch has been applied, validated and passed to the callbacks). Runs with the same seed
///   are not bitwise repeatable, as the order of arrival changes.
/// - Progress, logs, validation, callbacks and files are the server's (the chief's); its
///   logs cover every update of the epoch. Workers log their own batches. When training ends
///   (or the server's callbacks stop it at an epoch's end), every worker receives the final
///   weights: after `fit`, every rank holds the server's model.
///
/// ```no_run
/// # fn main() -> kiln::Result<()> {
/// use kiln::distribute::ParameterServerStrategy;
/// use kiln::prelude::*;
/// let mut strategy = ParameterServerStrategy::new()?;
/// # let (mut model, x, y): (Model, ndarray::Array2<f32>, ndarray::Array2<f32>) = todo!();
/// model.fit(&x, &y, FitOptions::default().batch_size(128).strategy(&mut strategy))?;
/// # Ok(())
/// # }
/// ```
pub struct ParameterServerStrategy {
    world: World,
    grads: Option<GradLayout>,
    state: Option<WeightSlots>,
    weights: Option<WeightSlots>,
    counted: Option<Vec<bool>>,
    /// Server: per worker, the pushes applied this epoch.
    pushes: Vec<usize>,
    /// Server: the steps of each worker per epoch.
    steps: usize,
    /// Worker: whether the server said training is over.
    done: bool,
}

impl ParameterServerStrategy {
    /// Joins the MPI job this process was launched in, which needs at least 2 processes
    /// (the server and a worker).
    pub fn new() -> Result<Self> {
        let world = World::start("ParameterServerStrategy")?;
        if world.size() < 2 {
            return Err(Error::config(
                "ParameterServerStrategy",
                format!(
                    "the job has {} process; it needs a server and at least one worker \
                     (mpirun -np 2 or more)",
                    world.size()
                ),
            ));
        }
        Ok(ParameterServerStrategy {
            world,
            grads: None,
            state: None,
            weights: None,
            counted: None,
            pushes: Vec::new(),
            steps: 0,
            done: false,
        })
    }

    /// Whether this process is the parameter server (rank 0).
    pub fn is_server(&self) -> bool {
        self.world.rank() == 0
    }

    fn layouts(&self) -> Result<(&GradLayout, &WeightSlots, &WeightSlots)> {
        match (&self.grads, &self.state, &self.weights) {
            (Some(g), Some(s), Some(w)) => Ok((g, s, w)),
            _ => Err(Error::config(
                "ParameterServerStrategy",
                "fit did not begin the strategy",
            )),
        }
    }

    /// Server: sends the current weights to worker `rank`, with `control`.
    fn send_weights(&mut self, model: &Model, rank: usize, control: f32) -> Result<()> {
        let (_, _, weights) = self.layouts()?;
        let mut message = vec![control; 1 + weights.len()];
        weights.read(&model.network, &mut message[1..]);
        self.world
            .comm()
            .process_at_rank(rank as i32)
            .send_with_tag(&message[..], TAG_WEIGHTS);
        Ok(())
    }

    /// Worker: receives weights from the server into `model`; returns the control value.
    fn pull(&mut self, model: &mut Model) -> Result<f32> {
        let start = Instant::now();
        let (message, _) = self
            .world
            .comm()
            .process_at_rank(0)
            .receive_vec_with_tag::<f32>(TAG_WEIGHTS);
        self.world.stats.calls += 1;
        self.world.stats.bytes += std::mem::size_of_val(&message[..]) as u64;
        self.world.stats.seconds += start.elapsed().as_secs_f64();
        let (_, _, weights) = self.layouts()?;
        if message.len() != 1 + weights.len() {
            return Err(Error::config(
                "ParameterServerStrategy",
                format!(
                    "the server sent {} weights; this worker's model has {}",
                    message.len() - 1,
                    weights.len()
                ),
            ));
        }
        weights.write(&mut model.network, &message[1..])?;
        Ok(message[0])
    }

    /// Worker: one step on its part of a batch, pushed to the server.
    fn worker_step(&mut self, model: &mut Model, step: Step) -> Result<Option<(Scores, usize)>> {
        if self.done || self.pull(model)? == DONE {
            self.done = true;
            return Ok(None);
        }
        let compiled: &mut Compiled = model
            .compiled
            .as_mut()
            .ok_or(Error::NotCompiled { method: "fit" })?;
        let names = compiled.names().count();
        let (layout, state, _) = match (&self.grads, &self.state, &self.weights) {
            (Some(g), Some(s), Some(w)) => (g, s, w),
            _ => unreachable!("pull checked the layouts"),
        };
        let (g, s, m) = (layout.len(), scores_len(names), state.len());
        let mut push = vec![0.0f32; g + s + m + 1];
        let samples = step.samples;
        let mut local = None;
        if samples > 0 {
            let outputs = model.network.forward(step.x)?;
            let (loss, scores) = compiled.score(&outputs, &step.targets);
            state.read(&model.network, &mut push[g + s..g + s + m]);
            write_scores(&scores, samples, &mut push[g..g + s]);
            if loss.is_tracked() {
                let grads = GradientsParams::from_grads(loss.backward(), &model.network);
                layout.flatten(&model.network, grads, &mut push[..g]);
            }
            push[g + s + m] = samples as f32;
            local = Some(scores);
        }
        self.world
            .comm()
            .process_at_rank(0)
            .send_with_tag(&push[..], TAG_PUSH);
        let device = model.device.burn();
        let scores = match local {
            Some(scores) => scores,
            None => read_scores(&vec![false; names], &vec![0.0; s], device),
        };
        Ok(Some((scores, samples)))
    }

    /// Server: receives one push from any worker, applies it, and answers the worker unless
    /// the push ends its epoch.
    fn server_step(&mut self, model: &mut Model) -> Result<Option<(Scores, usize)>> {
        let workers = self.workers();
        if self.pushes.iter().all(|&p| p == 0) {
            // an epoch starts: every worker is waiting for the weights
            for rank in 1..=workers {
                self.send_weights(model, rank, CONTINUE)?;
            }
        }
        let start = Instant::now();
        let (push, status) = self
            .world
            .comm()
            .any_process()
            .receive_vec_with_tag::<f32>(TAG_PUSH);
        self.world.stats.calls += 1;
        self.world.stats.bytes += std::mem::size_of_val(&push[..]) as u64;
        self.world.stats.seconds += start.elapsed().as_secs_f64();
        let worker = status.source_rank() as usize;
        let compiled: &mut Compiled = model
            .compiled
            .as_mut()
            .ok_or(Error::NotCompiled { method: "fit" })?;
        let names = compiled.names().count();
        let (layout, state, _) = match (&self.grads, &self.state, &self.weights) {
            (Some(g), Some(s), Some(w)) => (g, s, w),
            _ => {
                return Err(Error::config(
                    "ParameterServerStrategy",
                    "fit did not begin the strategy",
                ));
            }
        };
        let (g, s, m) = (layout.len(), scores_len(names), state.len());
        if push.len() != g + s + m + 1 {
            return Err(Error::config(
                format!("ParameterServerStrategy: worker rank {worker}"),
                format!(
                    "it pushed {} values; the server's model takes {}",
                    push.len(),
                    g + s + m + 1
                ),
            ));
        }
        let samples = push[g + s + m] as usize;
        let device = model.device.burn().clone();
        if samples > 0 {
            if !state.is_empty() {
                state.write(&mut model.network, &push[g + s..g + s + m])?;
            }
            let grads = layout.unflatten(&model.network, &push[..g], &device);
            if !grads.is_empty() {
                model.network = compiled.optimizer.step(model.network.take(), grads);
            }
        }
        self.pushes[worker - 1] += 1;
        if self.pushes[worker - 1] < self.steps {
            self.send_weights(model, worker, CONTINUE)?;
        }
        if self.pushes.iter().all(|&p| p == self.steps) {
            self.pushes.iter_mut().for_each(|p| *p = 0);
        }
        let counted = self.counted.clone().unwrap_or_else(|| vec![false; names]);
        Ok(Some((
            read_scores(&counted, &push[g..g + s], &device),
            samples,
        )))
    }
}

impl Strategy for ParameterServerStrategy {
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

impl Replicas for ParameterServerStrategy {
    fn may_leave_the_thread(&self) -> bool {
        false
    }

    fn shard(&self) -> (usize, usize) {
        match self.world.rank() {
            // the server reads only validation batches, whole
            0 => (0, 1),
            r => (r - 1, self.workers()),
        }
    }

    fn is_chief(&self) -> bool {
        self.is_server()
    }

    fn replicas(&self) -> usize {
        self.world.size() - 1
    }

    fn agree(&mut self, value: u64) -> Result<u64> {
        let mut value = [value];
        self.world.broadcast(&mut value);
        Ok(value[0])
    }

    fn begin(&mut self, model: &mut Model) -> Result<()> {
        check_same_model(&self.world, &model.network)?;
        agree_weights(&self.world, &mut model.network)?;
        let mut resume = [model.resume_epoch.map_or(-1, |e| e as i64)];
        self.world.broadcast(&mut resume);
        model.resume_epoch = usize::try_from(resume[0]).ok();
        self.grads = Some(GradLayout::of(&model.network));
        self.state = Some(WeightSlots::state_of(&model.network));
        self.weights = Some(WeightSlots::of(&model.network));
        self.pushes = vec![0; self.workers()];
        self.done = false;
        // the server scores pushes as the workers' models score batches
        self.counted = None;
        Ok(())
    }

    fn updates_per_epoch(&mut self, steps: usize) -> Option<usize> {
        self.steps = steps;
        self.is_server().then(|| steps * self.workers())
    }

    fn validates(&self) -> bool {
        self.is_server()
    }

    fn train_step(&mut self, model: &mut Model, step: Step) -> Result<Option<(Scores, usize)>> {
        if self.is_server() {
            if self.steps == 0 {
                return Err(Error::config(
                    "ParameterServerStrategy",
                    "the epoch has no steps",
                ));
            }
            self.server_step(model)
        } else {
            self.worker_step(model, step)
        }
    }

    fn end(&mut self, model: &mut Model) -> Result<()> {
        if self.is_server() {
            let mid_epoch = self.pushes.iter().any(|&p| p > 0);
            for worker in 1..=self.workers() {
                if mid_epoch && self.pushes[worker - 1] < self.steps {
                    // stopped mid-epoch: the worker computes one more push, answered by DONE
                    let _ = self
                        .world
                        .comm()
                        .process_at_rank(worker as i32)
                        .receive_vec_with_tag::<f32>(TAG_PUSH);
                }
                self.send_weights(model, worker, DONE)?;
            }
        } else if !self.done {
            self.pull(model)?;
            self.done = true;
        }
        Ok(())
    }

    fn fail(&mut self, error: Error) -> Error {
        self.world.abort(&error)
    }
}
