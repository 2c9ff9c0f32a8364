//! The loops behind `fit`, `evaluate` and `predict`.

use crate::callbacks::{BatchLogs, CallbackList};
use crate::data::HostArray;
use crate::distribute::Replicas;
use crate::error::{Error, Result};
use crate::graph::{Network, Value};
use crate::models::Model;
use crate::training::compiled::{Compiled, Running, Scores};
use crate::training::feed::{Feed, Step};
use crate::training::loss::Target;
use crate::training::{FitOptions, Logs};
use burn::module::Module;
use burn::optim::GradientsParams;
use ndarray::{ArrayD, IxDyn};

/// The inputs of samples `indices` of `xs` (one array per model input), on `device`.
pub(crate) fn inputs(
    xs: &[HostArray],
    indices: &[usize],
    buffer: &mut Vec<f32>,
    device: &burn::tensor::Device,
) -> Result<Vec<Value>> {
    xs.iter()
        .map(|x| {
            x.gather_into(indices, buffer);
            let mut dims = x.shape().to_vec();
            dims[0] = indices.len();
            Value::from_host(std::mem::take(buffer), &dims, device)
        })
        .collect()
}

/// One gradient step on one batch: updates `network` and returns the batch's values, or a
/// layer's error (the network unchanged).
pub(crate) fn train_step(
    network: &mut Network,
    compiled: &mut Compiled,
    xs: Vec<Value>,
    targets: &[Target],
) -> Result<Scores> {
    let outputs = network.forward(xs)?;
    let (loss, values) = compiled.score(&outputs, targets);
    drop(outputs);
    if !loss.is_tracked() {
        // nothing to train: the model has no trainable weights
        return Ok(values);
    }
    let grads = GradientsParams::from_grads(loss.backward(), network);
    // taken, not cloned: the optimizer updates weights in place only when nothing shares them
    *network = compiled.optimizer.step(network.take(), grads);
    Ok(values)
}

/// Trains `model` on the batches of `feed` for the epochs of `options`, validating on
/// `validation` after each, and calls `callbacks` at every hook; `strategy` runs each step
/// (on this process' part of each batch).
pub(crate) fn fit(
    model: &mut Model,
    feed: &mut dyn Feed,
    validation: Option<&mut dyn Feed>,
    options: &FitOptions,
    callbacks: &mut CallbackList,
    strategy: &mut dyn Replicas,
) -> Result<()> {
    let (free, device) = (strategy.may_leave_the_thread(), model.device.burn().clone());
    on_pool_if(free, &device, || {
        match fit_steps(model, feed, validation, options, callbacks, strategy) {
            Ok(()) => strategy.end(model).map_err(|e| strategy.fail(e)),
            Err(e) => Err(strategy.fail(e)),
        }
    })
}

/// Runs `f` on the CPU's pool ([`on_pool`](crate::backend::on_pool)) when `free` (the strategy
/// lets the loop leave the calling thread), else on the calling thread.
fn on_pool_if<R>(free: bool, device: &burn::tensor::Device, f: impl FnOnce() -> R) -> R {
    if free {
        crate::backend::on_pool(device, f)
    } else {
        f()
    }
}

fn fit_steps(
    model: &mut Model,
    feed: &mut dyn Feed,
    mut validation: Option<&mut dyn Feed>,
    options: &FitOptions,
    callbacks: &mut CallbackList,
    strategy: &mut dyn Replicas,
) -> Result<()> {
    let train_device = model.device.autodiff();
    model.stop_requested = false;
    model.resume_epoch = None;
    callbacks.each(|c| c.on_train_begin(model))?;
    strategy.begin(model)?;
    // a restored backup resumes after its epoch
    let start = model
        .resume_epoch
        .take()
        .map_or(options.initial_epoch, |e| e.max(options.initial_epoch));
    for epoch in options.initial_epoch..start.min(options.epochs) {
        feed.skip(epoch);
    }
    let shard = strategy.shard();
    let mut last = Logs::default();
    for epoch in start..options.epochs {
        callbacks.each(|c| c.on_epoch_begin(epoch, model))?;
        let mut running = Running::new(model.compiled());
        feed.start(epoch);
        let updates = strategy.updates_per_epoch(feed.steps());
        let mut step = 0;
        loop {
            let batch = match updates {
                Some(n) if step < n => Ok(Step::empty()),
                Some(_) => break,
                None => match feed.next(step, model, &train_device, shard) {
                    Some(batch) => batch,
                    None => break,
                },
            };
            callbacks.each(|c| c.on_train_batch_begin(step, model))?;
            let Some((values, samples)) = strategy.train_step(model, batch?)? else {
                // stopped by the chief
                model.stop_requested = true;
                break;
            };
            running.add(values, samples);
            let read = || running.logs();
            let logs = BatchLogs::new(&read);
            callbacks.each(|c| c.on_train_batch_end(step, &logs, model))?;
            step += 1;
            if model.stop_requested {
                break;
            }
        }
        let mut logs = running.logs();
        if let Some(feed) = validation.as_deref_mut().filter(|_| strategy.validates()) {
            let scores = evaluate(model, feed, callbacks, strategy)?;
            logs.extend(scores.prefixed("val_"));
        }
        callbacks.each(|c| c.on_epoch_end(epoch, &logs, model))?;
        last = logs;
        if model.stop_requested {
            break;
        }
    }
    callbacks.each(|c| c.on_train_end(&last, model))
}

/// Scores `model` (in inference mode) on the batches of `feed`, calling the test hooks of
/// `callbacks`; `strategy` scores each step (this process' part of each batch).
pub(crate) fn evaluate(
    model: &Model,
    feed: &mut dyn Feed,
    callbacks: &mut CallbackList,
    strategy: &mut dyn Replicas,
) -> Result<Logs> {
    let free = strategy.may_leave_the_thread();
    on_pool_if(free, model.device.burn(), || {
        evaluate_here(model, feed, callbacks, strategy)
    })
}

fn evaluate_here(
    model: &Model,
    feed: &mut dyn Feed,
    callbacks: &mut CallbackList,
    strategy: &mut dyn Replicas,
) -> Result<Logs> {
    let device = model.device.burn();
    let network = model.network.valid();
    let compiled = model.compiled();
    let mut running = Running::new(compiled);
    callbacks.each(|c| c.on_test_begin(model))?;
    feed.start(0);
    let shard = strategy.shard();
    let mut step = 0;
    while let Some(batch) = feed.next(step, model, device, shard) {
        callbacks.each(|c| c.on_test_batch_begin(step, model))?;
        let batch = batch?;
        let samples = batch.global;
        let values = strategy.test_step(&network, compiled, batch)?;
        running.add(values, samples);
        let read = || running.logs();
        let logs = BatchLogs::new(&read);
        callbacks.each(|c| c.on_test_batch_end(step, &logs, model))?;
        step += 1;
    }
    let logs = running.logs();
    callbacks.each(|c| c.on_test_end(&logs, model))?;
    Ok(logs)
}

/// The outputs of `model` (in inference mode) for each batch of inputs `batches` gives
/// (`expected` samples in all, when known, else 0), calling the predict hooks of `callbacks`: one
/// array per model output.
///
/// It runs on the calling thread, not on rayon's pool: kiln's inference kernels share their
/// loops with helper threads that spin between jobs (`for_each_part`); a hand-over to the pool
/// and back cost a fifth of a 32-sample `predict` of the dense MNIST model.
pub(crate) fn predict<'b>(
    model: &Model,
    batches: impl Iterator<Item = Result<Vec<HostArray<'b>>>>,
    expected: usize,
    callbacks: &mut CallbackList,
) -> Result<Vec<ArrayD<f32>>> {
    let device = model.device.burn();
    let network = model.network.valid();
    let shapes = network.graph().output_shapes();
    let mut values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| Vec::with_capacity(expected.saturating_mul(s.size())))
        .collect();
    let (mut xbuf, mut samples) = (Vec::new(), 0);
    callbacks.each(|c| c.on_predict_begin(model))?;
    for (step, x) in batches.enumerate() {
        callbacks.each(|c| c.on_predict_batch_begin(step, model))?;
        let x = x?;
        let all: Vec<usize> = (0..x[0].len()).collect();
        let xb = inputs(&x, &all, &mut xbuf, device)?;
        samples += all.len();
        for (out, values) in network.forward(xb)?.into_iter().zip(&mut values) {
            let batch: Vec<f32> = out
                .value
                .flatten()
                .into_data()
                .try_to_vec()
                // kiln computes in f32 on every backend it offers
                .expect("outputs are f32");
            values.extend_from_slice(&batch);
        }
        callbacks.each(|c| c.on_predict_batch_end(step, model))?;
    }
    callbacks.each(|c| c.on_predict_end(model))?;
    shapes
        .iter()
        .zip(values)
        .map(|(shape, values)| {
            ArrayD::from_shape_vec(IxDyn(&shape.batched(samples)), values).map_err(|e| {
                Error::data(format!("predict: the outputs do not fill their shape: {e}"))
            })
        })
        .collect()
}
