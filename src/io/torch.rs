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
use crate::layers::{Activation, Layer};
use ndarray::{Array2, ArrayD, Axis, IxDyn};
use std::collections::HashMap;

/// The weights (named `layer/weight` in Keras' layouts) renamed and laid out for PyTorch.
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
    let mut weights: HashMap<String, ArrayD<f32>> = weights.into_iter().collect();
    let mut out = Vec::new();
    let mut index = 0;
    for (i, layer) in graph.layers().iter().enumerate() {
        let name = layer.name().unwrap_or_default();
        let mut take = |w: &str| weights.remove(&format!("{name}/{w}"));
        let mut tensors: Vec<(&str, Out)> = Vec::new();
        let (kernel, activation) = match layer {
            Layer::Dense(d) => {
                let kernel = take("kernel").expect("dense layers have a kernel");
                let kernel = kernel.into_dimensionality().expect("dense kernels are 2-D");
                (Some(linear_weight(graph, i, kernel)?), d.activation)
            }
            Layer::Conv2D(c) => (
                take("kernel").map(|k| permuted(k, &[3, 2, 0, 1])),
                c.activation,
            ),
            Layer::Conv1D(c) => (
                take("kernel").map(|k| permuted(k, &[2, 1, 0])),
                c.activation,
            ),
            Layer::BatchNormalization(_) => {
                for (keras, torch) in [
                    ("gamma", "weight"),
                    ("beta", "bias"),
                    ("moving_mean", "running_mean"),
                    ("moving_variance", "running_var"),
                ] {
                    let w = take(keras).expect("batch norm has its four weights");
                    tensors.push((torch, Out::F32(w)));
                }
                tensors.push(("num_batches_tracked", Out::I64(ArrayD::zeros(IxDyn(&[])))));
                (None, Activation::Linear)
            }
            Layer::Reshape(_) => {
                return Err(Error::config(
                    format!("layer `{name}`"),
                    "Reshape has no PyTorch equivalent in channels-first layout; save this \
                     model in Keras' layout",
                ));
            }
            Layer::Model(_) => {
                return Err(Error::config(
                    format!("layer `{name}`"),
                    "a nested model has no place in a flat torch.nn.Sequential; save this \
                     model in Keras' layout",
                ));
            }
            _ => (None, Activation::Linear),
        };
        if let Some(k) = kernel {
            tensors.push(("weight", Out::F32(k)));
            if let Some(b) = take("bias") {
                tensors.push(("bias", Out::F32(b)));
            }
        }
        out.extend(
            tensors
                .into_iter()
                .map(|(leaf, t)| (format!("{index}.{leaf}"), t)),
        );
        index += 1 + usize::from(activation != Activation::Linear);
    }
    Ok(out)
}

fn permuted(a: ArrayD<f32>, axes: &[usize]) -> ArrayD<f32> {
    a.permuted_axes(IxDyn(axes)).as_standard_layout().to_owned()
}

/// `Linear.weight` (`[out, in]`) for the dense layer `i`: the kernel transposed, its rows
/// reordered when the layer reads a flattened channels-last tensor.
fn linear_weight(graph: &Graph, i: usize, kernel: Array2<f32>) -> Result<ArrayD<f32>> {
    let name = graph.layers()[i].name().unwrap_or_default();
    let input = graph.node_input_shape(i);
    if input.dims().len() > 1 {
        return Err(Error::config(
            format!("layer `{name}`"),
            format!(
                "a Dense layer on input {input} has no channels-first PyTorch equivalent; \
                 Flatten first or save in Keras' layout"
            ),
        ));
    }
    // find the Flatten this layer reads, past layers that keep the element order
    let mut j = i;
    let flattened = loop {
        if j == 0 {
            break None;
        }
        j -= 1;
        match &graph.layers()[j] {
            Layer::Dropout(_) | Layer::Activation(_) => continue,
            Layer::Flatten(_) => break Some(graph.node_input_shape(j)),
            _ => break None,
        }
    };
    let kernel = match flattened {
        Some(shape) if shape.dims().len() >= 2 => {
            let dims = shape.dims();
            let channels = *dims.last().expect("rank checked");
            let spatial: usize = dims[..dims.len() - 1].iter().product();
            // torch feature (c, s) is kiln feature (s, c)
            let order: Vec<usize> = (0..channels)
                .flat_map(|c| (0..spatial).map(move |s| s * channels + c))
                .collect();
            kernel.select(Axis(0), &order)
        }
        _ => kernel,
    };
    Ok(kernel.t().as_standard_layout().to_owned().into_dyn())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::InputSpec;
    use crate::layers::{Conv2D, Dense, Dropout, Flatten};
    use crate::shape::Shape;

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
