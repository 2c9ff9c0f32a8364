//! `MirroredStrategy`: one replica per device in one process, as Keras' `MirroredStrategy`.

use crate::backend::Device;
use crate::distribute::Strategy;
use crate::distribute::flat::{WeightSlots, read_scores, scores_len, write_scores};
use crate::distribute::replicas::Replicas;
use crate::error::{Error, Result};
use crate::graph::map_value;
use crate::models::Model;
use crate::training::Target;
use crate::training::feed::{Step, part};
use crate::training::{Compiled, Scores};
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};

/// Trains one replica of the model per device, in one process: each step splits the batch
/// among the devices, each computes the gradients of its part, the gradients move to the
/// first device (the model's) and are summed there with Burn's own machinery
/// (`GradientsParams::to_device`, `GradientsAccumulator`, as burn-train's multi-device
/// training does), the optimizer steps once, and the next step sends the new weights back
/// to every device.
///
/// Each part's loss is weighed by its share of the batch, so the summed gradients are the
/// gradients of the whole batch: with one device, or with parts on devices that compute
/// alike, training follows the one-device run up to rounding. Batch normalization uses each
/// part's own statistics (as Keras' replicas do) and keeps the mean of their updates of the
/// moving statistics. Scores are over the whole batch.
///
/// The replicas run one after another from one thread; on GPUs their work overlaps, since
/// each device runs its queue on its own. For every GPU of a machine, pass
/// [`Device::gpus`](crate::Device::gpus) (the model on the first); devices may mix backends
/// (a GPU replica beside the CPU), and one device may appear more than once.
///
/// ```
/// use kiln::distribute::MirroredStrategy;
/// use kiln::layers::Dense;
/// use kiln::prelude::*;
/// use ndarray::{ArrayD, IxDyn};
/// let devices = vec![Device::cpu()?, Device::cpu()?];
/// let mut strategy = MirroredStrategy::new(devices.clone())?;
/// let mut model = Sequential::new()
///     .input([1])
///     .add(Dense::new(1))
///     .device(devices[0].clone())
///     .compile(Optimizer::sgd(0.1), Loss::MeanSquaredError, &[])?;
/// let x = ArrayD::from_shape_fn(IxDyn(&[64, 1]), |i| i[0] as f32 / 64.0);
/// let y = x.mapv(|v| 2.0 * v + 1.0);
/// let options = FitOptions::default().epochs(40).batch_size(16).verbose(0);
/// let history = model.fit(&x, &y, options.strategy(&mut strategy))?;
/// assert!(history.get("loss").unwrap().last().unwrap() < &0.01);
/// # Ok::<(), kiln::Error>(())
/// ```
pub struct MirroredStrategy {
    devices: Vec<Device>,
    state: Option<WeightSlots>,
}

impl MirroredStrategy {
    /// One replica on each of `devices`; the model must live on the first.
    pub fn new(devices: Vec<Device>) -> Result<Self> {
        if devices.is_empty() {
            return Err(Error::config(
                "MirroredStrategy",
                "it needs at least one device",
            ));
        }
        Ok(MirroredStrategy {
            devices,
            state: None,
        })
    }

    /// The devices, the model's first.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }
}

impl Strategy for MirroredStrategy {}

/// Rows `rows` of each of a step's inputs and targets, moved to `device`.
fn rows_of(step: &Step, rows: std::ops::Range<usize>, device: &burn::tensor::Device) -> Step {
    let (start, len) = (rows.start, rows.len());
    let x = step
        .x
        .iter()
        .map(|v| map_value!(v.clone(), t => t.narrow(0, start, len).to_device(device)))
        .collect();
    let targets = step
        .targets
        .iter()
        .map(|t| match t {
            Target::Dense(v) => {
                Target::Dense(map_value!(v.clone(), t => t.narrow(0, start, len).to_device(device)))
            }
            Target::Sparse(t) => Target::Sparse(t.clone().narrow(0, start, len).to_device(device)),
        })
        .collect();
    Step {
        x,
        targets,
        samples: len,
        global: step.global,
    }
}

impl Replicas for MirroredStrategy {
    fn replicas(&self) -> usize {
        self.devices.len()
    }

    fn begin(&mut self, model: &mut Model) -> Result<()> {
        if model.device != self.devices[0] {
            return Err(Error::config(
                "MirroredStrategy",
                format!(
                    "the model lives on {} but the strategy's first device is {}; build the \
                     model on the first device",
                    model.device, self.devices[0]
                ),
            ));
        }
        let state = WeightSlots::state_of(&model.network);
        self.state = (!state.is_empty()).then_some(state);
        Ok(())
    }

    fn train_step(&mut self, model: &mut Model, step: Step) -> Result<Option<(Scores, usize)>> {
        let main = model.device.autodiff();
        let compiled: &mut Compiled = model
            .compiled
            .as_mut()
            .ok_or(Error::NotCompiled { method: "fit" })?;
        let ranges: Vec<usize> = (0..step.samples).collect();
        let parts = self.devices.len();
        let names = compiled.names().count();
        let mut sums = vec![0.0f32; scores_len(names)];
        let mut part_sums = vec![0.0f32; scores_len(names)];
        let mut counted = Vec::new();
        let mut accumulator = GradientsAccumulator::<crate::graph::Network>::new();
        let state = self.state.as_ref();
        let mut before = vec![0.0f32; state.map_or(0, WeightSlots::len)];
        let mut deltas = vec![0.0f32; before.len()];
        let mut after = vec![0.0f32; before.len()];
        if let Some(state) = state {
            state.read(&model.network, &mut before);
        }
        for (i, device) in self.devices.iter().enumerate() {
            let rows = part(&ranges, (i, parts));
            if rows.is_empty() {
                continue;
            }
            let range = rows[0]..rows[0] + rows.len();
            let device = device.autodiff();
            let piece = rows_of(&step, range, &device);
            let replica = if i == 0 {
                model.network.clone()
            } else {
                model.network.clone().fork(&device)
            };
            let outputs = replica.forward(piece.x)?;
            let (loss, scores) = compiled.score(&outputs, &piece.targets);
            if let Some(state) = state {
                state.read(&replica, &mut after);
                for ((d, a), b) in deltas.iter_mut().zip(&after).zip(&before) {
                    *d += a - b;
                }
                // the next replica starts from the step's moving statistics
                state.write(&mut model.network, &before)?;
            }
            write_scores(&scores, piece.samples, &mut part_sums);
            for (s, p) in sums.iter_mut().zip(&part_sums) {
                *s += p;
            }
            if counted.is_empty() {
                counted = scores.weights.iter().map(Option::is_some).collect();
            }
            if !loss.is_tracked() {
                continue;
            }
            let share = piece.samples as f64 / step.samples as f64;
            let grads = GradientsParams::from_grads(loss.mul_scalar(share).backward(), &replica);
            let grads = grads.to_device(&main, &model.network);
            accumulator.accumulate(&model.network, grads);
        }
        if let Some(state) = state {
            let replicas = parts.min(step.samples) as f32;
            let mean: Vec<f32> = before
                .iter()
                .zip(&deltas)
                .map(|(b, d)| b + d / replicas)
                .collect();
            state.write(&mut model.network, &mean)?;
        }
        let grads = accumulator.grads();
        if !grads.is_empty() {
            model.network = compiled.optimizer.step(model.network.take(), grads);
        }
        let scores = read_scores(&counted, &sums, model.device.burn());
        Ok(Some((scores, step.samples)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{BatchNormalization, Dense};
    use crate::prelude::*;
    use ndarray::{Array2, ArrayD};

    fn data() -> (Array2<f32>, Array2<f32>) {
        let x = Array2::from_shape_fn((203, 6), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
        let y = Array2::from_shape_fn((203, 3), |(i, j)| {
            let class = (x[[i, 0]] + x[[i, 3]] > 0.9) as usize + (x[[i, 5]] > 0.5) as usize;
            f32::from(j == class)
        });
        (x, y)
    }

    fn model(device: Device, batch_norm: bool) -> Model {
        let mut model = Sequential::new()
            .input([6])
            .add(Dense::new(16).activation(Relu));
        if batch_norm {
            model = model.add(BatchNormalization::new());
        }
        model
            .add(Dense::new(3).activation(Softmax))
            .device(device)
            .compile(
                Optimizer::adam(1e-2),
                Loss::CategoricalCrossentropy,
                &[Metric::Accuracy],
            )
            .unwrap()
    }

    fn options<'a>() -> FitOptions<'a> {
        FitOptions::default()
            .epochs(3)
            .batch_size(32)
            .seed(9)
            .verbose(0)
    }

    #[test]
    fn batch_normalization_keeps_the_mean_of_the_replicas_updates() {
        let (x, y) = data();
        let cpu = Device::cpu().unwrap();
        let mut m = model(cpu.clone(), true);
        let mut strategy = MirroredStrategy::new(vec![cpu.clone(), cpu]).unwrap();
        // one step on 32 samples: each replica's moving mean moves from 0 by 0.01 of its
        // half's batch mean; the model keeps the mean of the two
        let (x1, y1) = (
            x.slice(ndarray::s![..32, ..]).to_owned(),
            y.slice(ndarray::s![..32, ..]).to_owned(),
        );
        let before = m.get_weights();
        let dense: ArrayD<f32> = {
            // the first layer's kernel and bias come first
            let (kernel, bias) = (&before[0].1, &before[1].1);
            let h = x1.dot(
                &kernel
                    .clone()
                    .into_dimensionality::<ndarray::Ix2>()
                    .unwrap(),
            ) + &bias.clone().into_dimensionality::<ndarray::Ix1>().unwrap();
            h.mapv(|v| v.max(0.0)).into_dyn()
        };
        let halves = [
            dense.slice(ndarray::s![..16, ..]),
            dense.slice(ndarray::s![16.., ..]),
        ];
        let want: Vec<f32> = (0..16)
            .map(|j| {
                halves
                    .iter()
                    .map(|h| 0.01 * h.column(j).mean().unwrap())
                    .sum::<f32>()
                    / 2.0
            })
            .collect();
        m.fit(
            &x1,
            &y1,
            FitOptions::default()
                .batch_size(32)
                .shuffle(false)
                .verbose(0)
                .strategy(&mut strategy),
        )
        .unwrap();
        let moving = m
            .get_weights()
            .into_iter()
            .find(|(n, _)| n.ends_with("moving_mean"))
            .unwrap()
            .1;
        for (got, want) in moving.iter().zip(&want) {
            assert!((got - want).abs() < 1e-6, "moving mean {got}, want {want}");
        }
    }

    #[test]
    fn a_model_on_another_device_is_refused() {
        let (x, y) = data();
        let mut m = model(Device::cpu().unwrap(), false);
        let mut strategy = MirroredStrategy::new(vec![Device::cpu_ndarray().unwrap()]).unwrap();
        let e = m
            .fit(&x, &y, options().strategy(&mut strategy))
            .unwrap_err();
        assert!(e.to_string().contains("first device"), "{e}");
        assert!(MirroredStrategy::new(Vec::new()).is_err());
    }
}
