//! The loops behind `fit`, `evaluate` and `predict`.

use crate::callbacks::{BatchLogs, CallbackList};
use crate::data::{Batcher, HostArray, batch_ranges};
use crate::error::{Error, Result};
use crate::graph::{Network, Value};
use crate::models::Model;
use crate::training::compiled::{Compiled, Running, Scores};
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

/// One gradient step on one batch; returns the updated network and the batch's values, or a
/// layer's error (the network unchanged).
pub(crate) fn train_step(
    network: Network,
    compiled: &mut Compiled,
    xs: Vec<Value>,
    targets: &[Target],
) -> Result<(Network, Scores)> {
    let outputs = network.forward(xs)?;
    let (loss, values) = compiled.score(&outputs, targets);
    if !loss.is_tracked() {
        // nothing to train: the model has no trainable weights
        return Ok((network, values));
    }
    let grads = GradientsParams::from_grads(loss.backward(), &network);
    Ok((compiled.optimizer.step(network, grads), values))
}

/// Trains `model` on `x`, `y` for the epochs of `options`, validating on `validation`, and
/// calls `callbacks` at every hook.
pub(crate) fn fit(
    model: &mut Model,
    (x, y): (&[HostArray], &[HostArray]),
    validation: Option<(&[HostArray], &[HostArray])>,
    options: &FitOptions,
    callbacks: &mut CallbackList,
    shuffle_seed: u64,
) -> Result<()> {
    let train_device = model.device.autodiff();
    let mut batcher = Batcher::new(
        x[0].len(),
        options.batch_size,
        options.shuffle.then_some(shuffle_seed),
    );
    let (mut xbuf, mut ybuf) = (Vec::new(), Vec::new());
    model.stop_requested = false;
    model.resume_epoch = None;
    callbacks.each(|c| c.on_train_begin(model))?;
    // a restored backup resumes after its epoch, with the shuffles of the epochs it skips drawn
    let start = model
        .resume_epoch
        .take()
        .map_or(options.initial_epoch, |e| e.max(options.initial_epoch));
    for _ in options.initial_epoch..start.min(options.epochs) {
        let _ = batcher.epoch(); // shuffles when called; the batches are not needed
    }
    let mut last = Logs::default();
    for epoch in start..options.epochs {
        callbacks.each(|c| c.on_epoch_begin(epoch, model))?;
        let mut running = Running::new(model.compiled());
        for (step, indices) in batcher.epoch().enumerate() {
            callbacks.each(|c| c.on_train_batch_begin(step, model))?;
            let xb = inputs(x, indices, &mut xbuf, &train_device)?;
            // fit returned an error before the loop for an uncompiled model
            let compiled = model.compiled.as_mut().expect("fit checks compile");
            let targets = compiled.targets(y, indices, &mut ybuf, &train_device)?;
            let (updated, values) = train_step(model.network.clone(), compiled, xb, &targets)?;
            model.network = updated;
            running.add(values, indices.len());
            let read = || running.logs();
            let logs = BatchLogs::new(&read);
            callbacks.each(|c| c.on_train_batch_end(step, &logs, model))?;
            if model.stop_requested {
                break;
            }
        }
        let mut logs = running.logs();
        if let Some((vx, vy)) = validation {
            let scores = evaluate(model, vx, vy, options.batch_size, callbacks)?;
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

/// Scores `model` (in inference mode) on `x`, `y`, calling the test hooks of `callbacks`.
pub(crate) fn evaluate(
    model: &Model,
    x: &[HostArray],
    y: &[HostArray],
    batch_size: usize,
    callbacks: &mut CallbackList,
) -> Result<Logs> {
    let device = model.device.burn();
    let network = model.network.valid();
    let compiled = model.compiled();
    let mut running = Running::new(compiled);
    let (mut xbuf, mut ybuf) = (Vec::new(), Vec::new());
    callbacks.each(|c| c.on_test_begin(model))?;
    for (step, (start, end)) in batch_ranges(x[0].len(), batch_size).enumerate() {
        callbacks.each(|c| c.on_test_batch_begin(step, model))?;
        let indices: Vec<usize> = (start..end).collect();
        let xb = inputs(x, &indices, &mut xbuf, device)?;
        let targets = compiled.targets(y, &indices, &mut ybuf, device)?;
        let outputs = network.forward(xb)?;
        let (_, values) = compiled.score(&outputs, &targets);
        running.add(values, indices.len());
        let read = || running.logs();
        let logs = BatchLogs::new(&read);
        callbacks.each(|c| c.on_test_batch_end(step, &logs, model))?;
    }
    let logs = running.logs();
    callbacks.each(|c| c.on_test_end(&logs, model))?;
    Ok(logs)
}

/// The outputs of `model` (in inference mode) for `x`, batch by batch, calling the predict
/// hooks of `callbacks`: one array per model output.
pub(crate) fn predict(
    model: &Model,
    x: &[HostArray],
    batch_size: usize,
    callbacks: &mut CallbackList,
) -> Result<Vec<ArrayD<f32>>> {
    let device = model.device.burn();
    let network = model.network.valid();
    let samples = x[0].len();
    let shapes = network.graph().output_shapes();
    let mut values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| Vec::with_capacity(samples * s.size()))
        .collect();
    let mut xbuf = Vec::new();
    callbacks.each(|c| c.on_predict_begin(model))?;
    for (step, (start, end)) in batch_ranges(samples, batch_size).enumerate() {
        callbacks.each(|c| c.on_predict_batch_begin(step, model))?;
        let indices: Vec<usize> = (start..end).collect();
        let xb = inputs(x, &indices, &mut xbuf, device)?;
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
