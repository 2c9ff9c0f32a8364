//! PyTorch's layout: a Sequential model's weights as the `state_dict` of the equivalent
//! `torch.nn.Sequential`.
//!
//! Each kiln layer becomes one torch module, plus one for a fused activation (`Dense(10,
//! relu)` is `Linear` then `ReLU`), and weights are named by module index (`0.weight`,
//! `0.bias`). Kernels take torch's layouts (`Linear.weight` `[out, in]`, `Conv2d.weight`
//! `[out, in, kh, kw]`, `Conv1d.weight` `[out, in, k]`), batch normalization its buffer names
//! (`running_mean`, `running_var`, `num_batches_tracked`). PyTorch computes channels first, so
//! the torch model takes images as `[batch, channels, height, width]`, and a `Linear` after a
//! `Flatten` of such a tensor reads the features in `(c, h, w)` order: its columns are permuted
//! to match. Keras' batch normalization defaults to `epsilon=1e-3` where torch's `BatchNorm2d`
//! defaults to `eps=1e-5`: build the torch module with the layer's epsilon.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::io::tensors::Out;
use crate::layers::{ElementOrder, Torch, TorchTensor};
use ndarray::ArrayD;

/// The weights (named `layer/weight` in Keras' layouts) renamed and laid out for PyTorch: each
/// layer lays out its own ([`crate::layers::LayerConfig::torch`]).
pub(crate) fn torch_tensors(
    graph: &Graph,
    weights: Vec<(String, ArrayD<f32>)>,
) -> Result<Vec<(String, Out)>> {
    if !graph.is_chain() {
        return Err(Error::config(
            "PyTorch layout",
            "it names weights by position in a torch.nn.Sequential, so it takes Sequential \
             models only; save this model in Keras' layout",
        ));
    }
    let mut weights = weights;
    let mut out = Vec::new();
    let mut index = 0;
    for (i, layer) in graph.layers().iter().enumerate() {
        let name = layer.name().unwrap_or_default().to_string();
        let prefix = format!("{name}/");
        let (own, rest): (Vec<_>, Vec<_>) = weights
            .into_iter()
            .partition(|(n, _)| n.starts_with(&prefix));
        weights = rest;
        let own = own
            .into_iter()
            .map(|(n, w)| (n[prefix.len()..].to_string(), w))
            .collect();
        let torch = Torch {
            name,
            input: graph.node_input_shape(i),
            flattened: flattened_input(graph, i),
        };
        let module = layer.torch(own, &torch)?;
        for (leaf, t) in module.tensors {
            let t = match t {
                TorchTensor::F32(a) => Out::F32(a),
                TorchTensor::I64(a) => Out::I64(a),
            };
            out.push((format!("{index}.{leaf}"), t));
        }
        index += module.modules;
    }
    Ok(out)
}

/// The input shape of the `Flatten` that layer `i` reads through layers that keep the element
/// order, if any.
fn flattened_input(graph: &Graph, i: usize) -> Option<crate::Shape> {
    let mut j = i;
    while j > 0 {
        j -= 1;
        match graph.layers()[j].element_order() {
            ElementOrder::Keeps => continue,
            ElementOrder::Flattens => return Some(graph.node_input_shape(j)),
            ElementOrder::New => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::InputSpec;
    use crate::layers::{Activation, Conv2D, Dense, Dropout, Flatten, Layer};
    use crate::shape::Shape;
    use ndarray::IxDyn;

    fn graph(layers: Vec<Layer>, input: &[usize]) -> Graph {
        let input = InputSpec {
            name: "x".into(),
            shape: Shape::new(input.to_vec()),
        };
        Graph::sequential(input, layers).unwrap()
    }

    #[test]
    fn indices_count_fused_activations_as_torch_modules() {
        let g = graph(
            vec![
                Conv2D::new(2, 1).activation(Activation::Relu).into(),
                Flatten::new().into(),
                Dropout::new(0.5).into(),
                Dense::new(3).activation(Activation::Softmax).into(),
            ],
            &[2, 2, 1],
        );
        let weights = vec![
            ("conv2d/kernel".into(), ArrayD::zeros(IxDyn(&[1, 1, 1, 2]))),
            ("conv2d/bias".into(), ArrayD::zeros(IxDyn(&[2]))),
            ("dense/kernel".into(), ArrayD::zeros(IxDyn(&[8, 3]))),
            ("dense/bias".into(), ArrayD::zeros(IxDyn(&[3]))),
        ];
        let names: Vec<_> = torch_tensors(&g, weights)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        // Conv2d 0, ReLU 1, Flatten 2, Dropout 3, Linear 4, Softmax 5
        assert_eq!(names, ["0.weight", "0.bias", "4.weight", "4.bias"]);
    }

    #[test]
    fn a_linear_after_flatten_reads_channels_first() {
        // input (h=1, w=2, c=2): kiln features are (w0c0, w0c1, w1c0, w1c1),
        // torch features (c0w0, c0w1, c1w0, c1w1)
        let g = graph(
            vec![Flatten::new().into(), Dense::new(1).into()],
            &[1, 2, 2],
        );
        let kernel = ArrayD::from_shape_vec(IxDyn(&[4, 1]), vec![10.0, 11.0, 20.0, 21.0]).unwrap();
        let out = torch_tensors(&g, vec![("dense/kernel".into(), kernel)]).unwrap();
        let Out::F32(w) = &out[0].1 else { panic!() };
        assert_eq!(w.shape(), &[1, 4]);
        assert_eq!(
            w.iter().copied().collect::<Vec<_>>(),
            [10.0, 20.0, 11.0, 21.0]
        );
    }

    #[test]
    fn graphs_and_reshapes_have_no_torch_sequential_equivalent() {
        let g = graph(
            vec![
                crate::layers::Reshape::new([4]).into(),
                Dense::new(1).into(),
            ],
            &[2, 2],
        );
        let e = torch_tensors(&g, Vec::new()).unwrap_err().to_string();
        assert!(e.contains("reshape"), "{e}");
    }
}
