//! The loops behind `fit`, `evaluate` and `predict`.

use crate::backend::Device;
use crate::data::{Batcher, HostArray, batch_ranges};
use crate::graph::{Network, Value};
use crate::training::compiled::{Compiled, Running};
use crate::training::loss::Target;
use crate::training::progress::Progress;
use crate::training::{FitOptions, History, Logs};
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

/// Trains `network` on `x`, `y` for the epochs of `options`, validating on `validation`.
pub(crate) fn fit(
    mut network: Network,
    compiled: &mut Compiled,
    device: &Device,
    (x, y): (&HostArray, &HostArray),
    validation: Option<(&HostArray, &HostArray)>,
    options: &FitOptions,
    shuffle_seed: u64,
) -> (Network, History) {
    let train_device = device.autodiff();
    let mut batcher = Batcher::new(
        x.len(),
        options.batch_size,
        options.shuffle.then_some(shuffle_seed),
    );
    let steps = batcher.steps();
    let mut history = History::default();
    let (mut xbuf, mut ybuf) = (Vec::new(), Vec::new());
    for epoch in options.initial_epoch..options.epochs {
        Progress::epoch_header(options.verbose, epoch, options.epochs);
        let mut progress = Progress::new(options.verbose, steps);
        let mut running = Running::new(compiled);
        for (step, indices) in batcher.epoch().enumerate() {
            let xb = inputs(x, indices, &mut xbuf, &train_device);
            let target = compiled.target(y, indices, &mut ybuf, &train_device);
            let (updated, values) = train_step(network, compiled, xb, &target);
            network = updated;
            running.add(values, indices.len());
            if progress.wants_update() && step + 1 < steps {
                progress.update(step + 1, &running.logs());
            }
        }
        let mut logs = running.logs();
        if let Some((vx, vy)) = validation {
            let scores = evaluate(
                &network.valid(),
                compiled,
                device,
                vx,
                vy,
                options.batch_size,
                0,
            );
            logs.extend(scores.prefixed("val_"));
        }
        progress.finish(&logs);
        history.push(epoch, &logs);
    }
    (network, history)
}

/// Scores `network` (in inference mode) on `x`, `y`.
pub(crate) fn evaluate(
    network: &Network,
    compiled: &Compiled,
    device: &Device,
    x: &HostArray,
    y: &HostArray,
    batch_size: usize,
    verbose: u8,
) -> Logs {
    let device = device.burn();
    let mut running = Running::new(compiled);
    let steps = x.len().div_ceil(batch_size);
    let mut progress = Progress::new(verbose, steps);
    let (mut xbuf, mut ybuf) = (Vec::new(), Vec::new());
    for (step, (start, end)) in batch_ranges(x.len(), batch_size).enumerate() {
        let indices: Vec<usize> = (start..end).collect();
        let xb = inputs(x, &indices, &mut xbuf, device);
        let target = compiled.target(y, &indices, &mut ybuf, device);
        let outputs = network.forward(vec![xb]);
        let (_, values) = compiled.score(&outputs[0], &target);
        running.add(values, indices.len());
        if progress.wants_update() && step + 1 < steps {
            progress.update(step + 1, &running.logs());
        }
    }
    let logs = running.logs();
    progress.finish(&logs);
    logs
}

/// The outputs of `network` (in inference mode) for `x`, batch by batch.
pub(crate) fn predict(
    network: &Network,
    device: &Device,
    x: &HostArray,
    batch_size: usize,
    verbose: u8,
) -> ArrayD<f32> {
    let device = device.burn();
    let output_shape = network.graph().output_shapes()[0].clone();
    let steps = x.len().div_ceil(batch_size);
    let mut progress = Progress::new(verbose, steps);
    let mut values = Vec::with_capacity(x.len() * output_shape.size());
    let mut xbuf = Vec::new();
    for (step, (start, end)) in batch_ranges(x.len(), batch_size).enumerate() {
        let indices: Vec<usize> = (start..end).collect();
        let xb = inputs(x, &indices, &mut xbuf, device);
        let out = network.forward(vec![xb]).swap_remove(0).value;
        let batch: Vec<f32> = out
            .flatten()
            .into_data()
            .try_to_vec()
            .expect("outputs are f32");
        values.extend_from_slice(&batch);
        if progress.wants_update() && step + 1 < steps {
            progress.update(step + 1, &Logs::default());
        }
    }
    progress.finish(&Logs::default());
    ArrayD::from_shape_vec(IxDyn(&output_shape.batched(x.len())), values)
        .expect("one output row per sample")
}
