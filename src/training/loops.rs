//! The loops behind `fit`, `evaluate` and `predict`.

use crate::callbacks::{BatchLogs, CallbackList};
use crate::data::{Batcher, HostArray, batch_ranges};
use crate::error::Result;
use crate::graph::{Network, Value};
use crate::models::Model;
use crate::training::compiled::{Compiled, Running};
use crate::training::loss::Target;
use crate::training::{FitOptions, Logs};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};

/// The inputs of samples `indices` of `x`, on `device`.
fn inputs(
    x: &HostArray,
    indices: &[usize],
    buffer: &mut Vec<f32>,
    device: &burn::tensor::Device,
) -> Value {
    x.gather_into(indices, buffer);
    let mut dims = x.shape().to_vec();
    dims[0] = indices.len();
    Value::from_host(std::mem::take(buffer), &dims, device)
}

/// One gradient step on one batch; returns the updated network and the batch's values.
pub(crate) fn train_step(
    network: Network,
    compiled: &mut Compiled,
    x: Value,
    target: &Target,
) -> (Network, Vec<Tensor<1>>) {
    let outputs = network.forward(vec![x]);
    let (loss, values) = compiled.score(&outputs[0], target);
    if !loss.is_tracked() {
        // nothing to train: the model has no trainable weights
        return (network, values);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &network);
    (compiled.optimizer.step(network, grads), values)
}

/// Trains `model` on `x`, `y` for the epochs of `options`, validating on `validation`, and
/// calls `callbacks` at every hook.
pub(crate) fn fit(
    model: &mut Model,
    (x, y): (&HostArray, &HostArray),
    validation: Option<(&HostArray, &HostArray)>,
    options: &FitOptions,
    callbacks: &mut CallbackList,
    shuffle_seed: u64,
) -> Result<()> {
    let train_device = model.device.autodiff();
    let mut batcher = Batcher::new(
        x.len(),
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
            let xb = inputs(x, indices, &mut xbuf, &train_device);
            let compiled = model.compiled.as_mut().expect("fit checks compile");
            let target = compiled.target(y, indices, &mut ybuf, &train_device);
            let (updated, values) = train_step(model.network.clone(), compiled, xb, &target);
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
    x: &HostArray,
    y: &HostArray,
    batch_size: usize,
    callbacks: &mut CallbackList,
) -> Result<Logs> {
    let device = model.device.burn();
    let network = model.network.valid();
    let compiled = model.compiled();
    let mut running = Running::new(compiled);
    let (mut xbuf, mut ybuf) = (Vec::new(), Vec::new());
    callbacks.each(|c| c.on_test_begin(model))?;
    for (step, (start, end)) in batch_ranges(x.len(), batch_size).enumerate() {
        callbacks.each(|c| c.on_test_batch_begin(step, model))?;
        let indices: Vec<usize> = (start..end).collect();
        let xb = inputs(x, &indices, &mut xbuf, device);
        let target = compiled.target(y, &indices, &mut ybuf, device);
        let outputs = network.forward(vec![xb]);
        let (_, values) = compiled.score(&outputs[0], &target);
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
/// hooks of `callbacks`.
pub(crate) fn predict(
    model: &Model,
    x: &HostArray,
    batch_size: usize,
    callbacks: &mut CallbackList,
) -> Result<ArrayD<f32>> {
    let device = model.device.burn();
    let network = model.network.valid();
    let output_shape = network.graph().output_shapes()[0].clone();
    let mut values = Vec::with_capacity(x.len() * output_shape.size());
    let mut xbuf = Vec::new();
    callbacks.each(|c| c.on_predict_begin(model))?;
    for (step, (start, end)) in batch_ranges(x.len(), batch_size).enumerate() {
        callbacks.each(|c| c.on_predict_batch_begin(step, model))?;
        let indices: Vec<usize> = (start..end).collect();
        let xb = inputs(x, &indices, &mut xbuf, device);
        let out = network.forward(vec![xb]).swap_remove(0).value;
        let batch: Vec<f32> = out
            .flatten()
            .into_data()
            .try_to_vec()
            .expect("outputs are f32");
        values.extend_from_slice(&batch);
        callbacks.each(|c| c.on_predict_batch_end(step, model))?;
    }
    callbacks.each(|c| c.on_predict_end(model))?;
    Ok(
        ArrayD::from_shape_vec(IxDyn(&output_shape.batched(x.len())), values)
            .expect("one output row per sample"),
    )
}
