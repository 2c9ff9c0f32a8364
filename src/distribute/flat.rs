//! A network's weights and a step's scores as one flat `f32` buffer and back: what replicas
//! exchange, in one message (one all-reduce) per step rather than one per tensor.

use crate::error::{Error, Result};
use crate::graph::Network;
use crate::training::Scores;
use burn::tensor::{Device, Tensor, TensorData};

/// A layer's weights taken into a buffer: the layer's index, and each weight's name
/// (`layer/weight`) and shape.
type LayerSlots = (usize, Vec<(String, Vec<usize>)>);

/// Weights of a network (all, or only the state a forward pass changes) in one buffer, in
/// [`Network::get_weights`]' order, and back.
#[derive(Clone, Debug)]
pub(crate) struct WeightSlots {
    layers: Vec<LayerSlots>,
    len: usize,
}

impl WeightSlots {
    /// Every weight of `network`.
    #[cfg(feature = "mpi")]
    pub(crate) fn of(network: &Network) -> Self {
        Self::select(network, |_| true)
    }

    /// The weights of `network` that are not trainable parameters (batch normalization's
    /// moving statistics, a normalization's mean): the state a forward pass may change.
    pub(crate) fn state_of(network: &Network) -> Self {
        let trainable: Vec<String> = network
            .clone()
            .param_ids()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        Self::select(network, |name| !trainable.iter().any(|t| t == name))
    }

    fn select(network: &Network, keep: impl Fn(&str) -> bool) -> Self {
        let mut layers = Vec::new();
        let mut len = 0;
        for index in 0..network.layers.len() {
            let names: Vec<(String, Vec<usize>)> = network
                .layer_weight_data(index)
                .into_iter()
                .filter(|(name, _)| keep(name))
                .map(|(name, data)| (name, data.shape().to_vec()))
                .collect();
            len += names
                .iter()
                .map(|(_, s)| s.iter().product::<usize>())
                .sum::<usize>();
            if !names.is_empty() {
                layers.push((index, names));
            }
        }
        WeightSlots { layers, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Reads the weights into `out` (of [`Self::len`] values).
    pub(crate) fn read(&self, network: &Network, out: &mut [f32]) {
        let mut offset = 0;
        for (index, names) in &self.layers {
            for (name, data) in network.layer_weight_data(*index) {
                if !names.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                // weights are created f32 and loaded files are checked to be F32
                let values = data.as_slice::<f32>().expect("weights are f32");
                out[offset..offset + values.len()].copy_from_slice(values);
                offset += values.len();
            }
        }
    }

    /// Sets the weights from `values` (of [`Self::len`] values).
    pub(crate) fn write(&self, network: &mut Network, values: &[f32]) -> Result<()> {
        let mut offset = 0;
        for (name, shape) in self.layers.iter().flat_map(|(_, names)| names) {
            let size: usize = shape.iter().product();
            let data = TensorData::new(values[offset..offset + size].to_vec(), shape.clone());
            offset += size;
            if !network.set_weight(name, data) {
                return Err(Error::config(
                    format!("weight `{name}`"),
                    "the replicas' models differ: one lacks this weight",
                ));
            }
        }
        Ok(())
    }
}

/// A step's scores as sums: for each value its weighted sum, then each weight (the samples, or
/// a mask's count), so that buffers of several replicas add up to the global batch's.
pub(crate) fn scores_len(names: usize) -> usize {
    2 * names
}

/// Writes `scores` of a part of `samples` samples into `out` (of [`scores_len`] values).
pub(crate) fn write_scores(scores: &Scores, samples: usize, out: &mut [f32]) {
    let n = scores.values.len();
    if samples == 0 || n == 0 {
        out.fill(0.0);
        return;
    }
    let read = |ts: Vec<Tensor<1>>| -> Vec<f32> {
        // kiln computes in f32 on every backend it offers
        Tensor::cat(ts, 0)
            .into_data()
            .try_to_vec()
            .expect("scores are f32")
    };
    let means = read(scores.values.clone());
    let counted: Vec<Tensor<1>> = scores.weights.iter().flatten().cloned().collect();
    let mut counts = if counted.is_empty() {
        Vec::new()
    } else {
        read(counted)
    }
    .into_iter();
    for (i, (mean, weight)) in means.iter().zip(&scores.weights).enumerate() {
        let w = match weight {
            // read from exactly the weights that are Some, in order
            Some(_) => counts.next().expect("one count per weight"),
            None => samples as f32,
        };
        out[i] = mean * w;
        out[n + i] = w;
    }
}

/// The scores of summed buffers: each value's mean over its summed weight, weighed as
/// `template` (a local step's scores) weighs it.
pub(crate) fn read_scores(template: &[bool], sums: &[f32], device: &Device) -> Scores {
    let n = template.len();
    let mut values = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for (i, counted) in template.iter().enumerate() {
        let (sum, weight) = (sums[i], sums[n + i]);
        let mean = if weight > 0.0 { sum / weight } else { 0.0 };
        values.push(Tensor::<1>::from_floats([mean], device));
        weights.push(counted.then(|| Tensor::<1>::from_floats([weight], device)));
    }
    Scores { values, weights }
}
