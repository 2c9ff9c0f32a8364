//! Fusions the executor makes in inference, where no gradient is kept: a `Conv2D` whose output
//! only the `MaxPooling2D` after it reads runs with that pooling as one operation
//! ([`convolve_max_pool`](crate::ops::convolve_max_pool)), which never writes the whole
//! convolved batch. Training runs every layer as it is.

use crate::graph::{Graph, Layout, Source, Value};
use crate::layers::{Conv2D, LayerModule, MaxPooling2D};

/// Node `i + 1`'s output computed from node `i`'s input `x`, when node `i` is a `Conv2D`
/// (ReLU or linear) read by node `i + 1` alone, a `MaxPooling2D` of disjoint windows, and `x`
/// is not tracked by autodiff. `None` when they do not fuse: the executor runs them apart.
pub(super) fn conv_max_pool(
    graph: &Graph,
    modules: &[LayerModule],
    i: usize,
    x: &Value,
) -> Option<Value> {
    if x.device().is_autodiff() {
        return None;
    }
    let (conv, pool) = (&graph.nodes()[i], graph.nodes().get(i + 1)?);
    let layers = graph.layers();
    // no one else reads the convolution (a model output is never last used by a node)
    let alone = graph.last_uses()[i] == i + 1 && pool.inputs == [Source::Node(i, 0)];
    let kinds = layers[conv.layer].is::<Conv2D>() && layers[pool.layer].is::<MaxPooling2D>();
    // the pooling runs in its input's layout: the convolution's, channels last
    let layout = layers[pool.layer]
        .layout()
        .is_none_or(|l| l == Layout::ChannelsLast);
    if !(alone && kinds && layout) {
        return None;
    }
    let (LayerModule::Conv(c), LayerModule::Pool(p)) = (&modules[conv.layer], &modules[pool.layer])
    else {
        return None;
    };
    c.forward_max_pooled(x, p.disjoint_max_pool()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    fn model(layers: Vec<crate::Layer>, device: Device) -> crate::Model {
        layers
            .into_iter()
            .fold(Sequential::new().input([8, 8, 2]), Sequential::add)
            .device(device)
            .build()
            .unwrap()
    }

    fn fuses(model: &crate::Model, i: usize, device: &burn::tensor::Device) -> bool {
        let network = &model.network;
        let x = Value::R4(burn::tensor::Tensor::zeros([2, 8, 8, 2], device));
        conv_max_pool(network.graph(), &network.layers, i, &x).is_some()
    }

    #[test]
    fn only_a_convolution_and_the_disjoint_max_pooling_after_it_fuse() {
        let device = Device::cpu().unwrap();
        let cpu = device.burn().clone();
        let conv = || Conv2D::new(4, 3).activation(Relu).into();
        let fused = model(vec![conv(), MaxPooling2D::new(2).into()], device.clone());
        assert!(fuses(&fused, 0, &cpu));
        assert!(!fuses(&fused, 1, &cpu), "the pooling is not a convolution");
        assert!(!fuses(&fused, 0, &device.autodiff()), "training keeps both");
        let overlapping = MaxPooling2D::new(3).strides(2).into();
        assert!(!fuses(
            &model(vec![conv(), overlapping], device.clone()),
            0,
            &cpu
        ));
        let sigmoid = Conv2D::new(4, 3).activation(Sigmoid).into();
        assert!(!fuses(
            &model(vec![sigmoid, MaxPooling2D::new(2).into()], device.clone()),
            0,
            &cpu
        ));
        let average = AveragePooling2D::new(2).into();
        assert!(!fuses(
            &model(vec![conv(), average], device.clone()),
            0,
            &cpu
        ));
    }
}
