//! `Network`: the built graph, a real Burn module, and its executor.

use crate::error::Result;
use crate::graph::{Graph, Layout, Source, Value, fusion};
use crate::layers::{Activation, LayerModule, Mask};
use burn::module::Module;
use burn::tensor::TensorData;
use ndarray::{ArrayD, IxDyn};
use std::sync::Arc;

/// What the network computes for one output.
#[derive(Clone, Debug)]
pub struct Output {
    /// The output as the model gives it.
    pub value: Value,
    /// When the output ends in softmax or sigmoid, the logits before it.
    pub logits: Option<Logits>,
    /// The output's time-step mask (a sequence returned by a recurrent layer fed a masked
    /// input): losses and metrics count only its unmasked steps, as in Keras.
    pub mask: Option<Mask>,
}

/// The input of a final softmax or sigmoid, which losses use to compute crossentropy stably.
#[derive(Clone, Debug)]
pub struct Logits {
    /// The activation applied to `value` to give the output (softmax or sigmoid).
    pub activation: Activation,
    /// The logits.
    pub value: Value,
}

impl Logits {
    /// The logits of an activation's input `z`, kept for softmax and sigmoid only.
    pub(crate) fn of(activation: Activation, z: &Value) -> Option<Logits> {
        matches!(activation, Activation::Softmax | Activation::Sigmoid).then(|| Logits {
            activation,
            value: z.clone(),
        })
    }
}

/// A built model: one Burn module per layer and the graph that runs them.
///
/// This is a Burn [`Module`]: it can be moved between devices, visited, mapped and optimized
/// like any other.
#[derive(Module, Debug)]
pub struct Network {
    /// The built layers, in the order of [`Graph::layers`].
    pub layers: Vec<LayerModule>,
    #[module(skip)]
    graph: Arc<Graph>,
}

/// Refuses a graph whose weights cannot fit in the machine's memory, before any is allocated:
/// an architecture read from a file may claim any size (`"units": 1000000000000`).
fn check_size(graph: &Graph) -> Result<()> {
    let params = graph.total_params().total();
    let bytes = (params as u64).saturating_mul(4);
    let limit = crate::backend::physical_memory().unwrap_or(u64::MAX);
    if params < usize::MAX && bytes <= limit {
        return Ok(());
    }
    let largest = (0..graph.layers().len())
        .max_by_key(|&i| graph.layer_params(i).total())
        .unwrap_or_default();
    let layer = &graph.layers()[largest];
    let of_layer = graph.layer_params(largest).total();
    Err(crate::Error::config(
        format!(
            "layer `{}` ({})",
            layer.name().unwrap_or_default(),
            layer.class_name()
        ),
        format!(
            "the model's weights would take {} ({} of them in this layer), more than this \
             machine's memory ({}); check the sizes in the architecture",
            size(params),
            size(of_layer),
            crate::models::memory((limit / 4) as usize)
        ),
    ))
}

/// A number of f32 weights as bytes, or "more than can be counted".
fn size(params: usize) -> String {
    if params == usize::MAX {
        "more bytes than can be counted".into()
    } else {
        crate::models::memory(params)
    }
}

impl Network {
    /// Builds every layer of `graph` with fresh weights on `device`, once their sizes are
    /// known to fit in the machine's memory.
    pub fn build(graph: Arc<Graph>, device: &burn::tensor::Device) -> Result<Self> {
        check_size(&graph)?;
        let mut built: Vec<Option<LayerModule>> = (0..graph.layers().len()).map(|_| None).collect();
        for (i, node) in graph.nodes().iter().enumerate() {
            if built[node.layer].is_none() {
                let inputs = graph.node_input_shapes(i);
                built[node.layer] = Some(graph.layers()[node.layer].build(&inputs, device)?);
            }
        }
        let layers = built
            .into_iter()
            .zip(graph.layers())
            .map(|(m, layer)| match m {
                Some(m) => Ok(m),
                None => Err(crate::Error::config(
                    format!("layer `{}`", layer.name().unwrap_or_default()),
                    "it is not connected to the model's inputs",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Network { layers, graph })
    }

    /// The network, leaving in its place one with the same graph and no layers: for an
    /// optimizer step, which updates the weights in place only when nothing else holds them
    /// (a clone would share every weight and make the step copy each one).
    pub(crate) fn take(&mut self) -> Network {
        let hollow = Network {
            layers: Vec::new(),
            graph: Arc::clone(&self.graph),
        };
        std::mem::replace(self, hollow)
    }

    /// The architecture this network runs.
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    /// Every weight, named `layer/weight` as in Keras (`dense/kernel`), in layer order.
    pub fn get_weights(&self) -> Vec<(String, ArrayD<f32>)> {
        (0..self.layers.len())
            .flat_map(|i| self.layer_weights(i))
            .collect()
    }

    /// The weights of layer `index`, named as in [`Network::get_weights`].
    pub fn layer_weights(&self, index: usize) -> Vec<(String, ArrayD<f32>)> {
        self.layer_weight_data(index)
            .into_iter()
            .map(|(name, data)| {
                let shape = data.shape().to_vec();
                // weights are created as f32 (kiln's float type) and loaded files are checked to be F32;
                // the data is the parameter's own, so its shape holds its values
                let values: Vec<f32> = data.try_to_vec().expect("weights are f32");
                let array = ArrayD::from_shape_vec(IxDyn(&shape), values).expect("sizes match");
                (name, array)
            })
            .collect()
    }

    /// Every weight as Burn data, named as in [`Network::get_weights`].
    pub(crate) fn weight_data(&self) -> Vec<(String, TensorData)> {
        (0..self.layers.len())
            .flat_map(|i| self.layer_weight_data(i))
            .collect()
    }

    pub(crate) fn layer_weight_data(&self, index: usize) -> Vec<(String, TensorData)> {
        let name = self.graph.layers()[index].name().unwrap_or_default();
        self.layers[index]
            .weights()
            .into_iter()
            .map(|(weight, data)| (format!("{name}/{weight}"), data))
            .collect()
    }

    /// The identity of every trainable weight (what optimizer state is keyed by), by name.
    pub(crate) fn param_ids(&mut self) -> Vec<(String, &mut burn::module::ParamId)> {
        let mut out = Vec::new();
        for (layer, module) in self.graph.layers().iter().zip(&mut self.layers) {
            let name = layer.name().unwrap_or_default();
            for (weight, id) in module.param_ids() {
                out.push((format!("{name}/{weight}"), id));
            }
        }
        out
    }

    /// Sets the weight at `path` (`dense/kernel`, `encoder/dense/kernel`) from data in Keras'
    /// layout; returns whether there is such a weight.
    pub(crate) fn set_weight(&mut self, path: &str, data: TensorData) -> bool {
        let Some((layer, weight)) = path.split_once('/') else {
            return false;
        };
        match self
            .graph
            .layers()
            .iter()
            .position(|l| l.name() == Some(layer))
        {
            Some(index) => self.layers[index].set_weight(weight, data),
            None => false,
        }
    }

    /// Replaces the named weights (any subset of [`Network::get_weights`]); every name and
    /// shape is checked before anything changes.
    pub fn set_weights(&mut self, weights: &[(String, ArrayD<f32>)]) -> Result<()> {
        let current = self.get_weights();
        for (name, array) in weights {
            let Some((_, old)) = current.iter().find(|(n, _)| n == name) else {
                let known: Vec<&str> = current.iter().map(|(n, _)| n.as_str()).collect();
                return Err(crate::Error::config(
                    format!("weight `{name}`"),
                    format!("the model has no such weight; it has {known:?}"),
                ));
            };
            if old.shape() != array.shape() {
                return Err(crate::Error::Shape {
                    layer: name.clone(),
                    expected: format!("{:?}", old.shape()),
                    received: format!("{:?}", array.shape()),
                });
            }
        }
        for (name, array) in weights {
            let data = TensorData::new(
                array.iter().copied().collect::<Vec<f32>>(),
                array.shape().to_vec(),
            );
            let found = self.set_weight(name, data);
            debug_assert!(found, "names checked above");
        }
        Ok(())
    }

    /// Runs the graph on one batch per model input (channels last) and returns every model
    /// output (channels last).
    ///
    /// Spatial values move to channels-first before a layer that computes in that layout
    /// (average pooling, 1D layers) and stay there until a layer needs channels last: one
    /// permutation per change, not one per layer. Values are dropped as soon as no later node
    /// reads them.
    ///
    /// A layer's error (a custom layer's, say) is returned naming the layer.
    ///
    /// # Panics
    /// When `inputs` do not match the graph's inputs in number and sample shape, which
    /// [`crate::Model`]'s methods check (and report as errors) before calling this.
    pub fn forward(&self, inputs: Vec<Value>) -> Result<Vec<Output>> {
        let graph = &self.graph;
        let last_uses = graph.last_uses();
        let mut values: Vec<Option<Computed>> = (0..graph.nodes().len()).map(|_| None).collect();
        // set when a node was computed with the one before it (fusion)
        let mut computed_with_previous = false;
        for (i, node) in graph.nodes().iter().enumerate() {
            if std::mem::take(&mut computed_with_previous) {
                continue;
            }
            // the mask of the first input, read before the inputs are taken: each node's
            // first output carries one (Keras' `_keras_mask`), a recurrent layer's states none
            let mask = match node.inputs.first() {
                Some(Source::Node(j, 0)) => values[*j].as_ref().and_then(|c| c.mask.clone()),
                _ => None,
            };
            let mut xs = Vec::with_capacity(node.inputs.len());
            for (p, source) in node.inputs.iter().enumerate() {
                xs.push(match *source {
                    Source::Input(k) => (inputs[k].clone(), Layout::ChannelsLast),
                    // the last read of a node takes its outputs, so that their buffers can be
                    // reused
                    Source::Node(j, k)
                        if last_uses[j] == i
                            && !node.inputs[p + 1..]
                                .iter()
                                .any(|s| matches!(s, Source::Node(l, _) if *l == j)) =>
                    {
                        // Graph::new orders nodes so that every source is computed before it is read, and
                        // last_uses[j] == i with no later read in this node means no one reads it after
                        let mut computed = values[j]
                            .take()
                            .expect("node value read after its last use");
                        (computed.values.swap_remove(k), computed.layout)
                    }
                    Source::Node(j, k) => {
                        // j < i in the topological order Graph::new checked, and it is taken only at its last use
                        let computed = values[j].as_ref().expect("node value missing");
                        (computed.values[k].clone(), computed.layout)
                    }
                });
            }
            let layer = &graph.layers()[node.layer];
            let layout_out = layer.layout().unwrap_or(xs[0].1);
            let xs: Vec<Value> = xs
                .into_iter()
                .map(|(x, layout)| x.relayout(layout, layout_out))
                .collect();
            let batch = xs.first().map_or(0, Value::batch);
            let fused = match xs.as_slice() {
                [x] if mask.is_none() => fusion::conv_max_pool(graph, &self.layers, i, x),
                _ => None,
            };
            if let Some(pooled) = fused {
                let pool = &graph.layers()[graph.nodes()[i + 1].layer];
                check_output(
                    pool,
                    &pooled,
                    &graph.node_shapes(i + 1)[0],
                    batch,
                    layout_out,
                )?;
                values[i + 1] = Some(Computed {
                    values: vec![pooled],
                    logits: None,
                    mask: None,
                    layout: layout_out,
                });
                computed_with_previous = true;
                continue;
            }
            let shapes = graph.node_shapes(i);
            let crate::layers::Called {
                values: outs,
                logits,
                mask,
            } = layer.call_masked(
                &self.layers[node.layer],
                xs,
                layout_out,
                mask.as_ref(),
                shapes.len(),
            )?;
            for (value, shape) in outs.iter().zip(shapes) {
                check_output(layer, value, shape, batch, layout_out)?;
            }
            values[i] = Some(Computed {
                values: outs,
                logits,
                mask,
                layout: layout_out,
            });
        }
        Ok(graph
            .outputs()
            .iter()
            .map(|s| match *s {
                Source::Input(k) => Output {
                    value: inputs[k].clone(),
                    logits: None,
                    mask: None,
                },
                Source::Node(j, k) => {
                    // outputs are never taken by a last use (last_uses counts them past the last node)
                    let computed = values[j].as_ref().expect("output value missing");
                    let last = |v: Value| v.relayout(computed.layout, Layout::ChannelsLast);
                    Output {
                        value: last(computed.values[k].clone()),
                        logits: computed.logits.as_ref().filter(|_| k == 0).map(|l| Logits {
                            activation: l.activation,
                            value: last(l.value.clone()),
                        }),
                        mask: computed.mask.clone().filter(|_| k == 0),
                    }
                }
            })
            .collect())
    }
}

/// What the executor keeps of a node until its last reader: its outputs, the logits and mask
/// of the first, and the layout they are in.
struct Computed {
    values: Vec<Value>,
    logits: Option<Logits>,
    mask: Option<Mask>,
    layout: Layout,
}

/// Checks that a layer gave the shape it promised (a layer of the user's may not): the
/// batch, then the node's inferred shape in `layout`. An error names the layer and both.
fn check_output(
    layer: &crate::Layer,
    value: &Value,
    shape: &crate::Shape,
    batch: usize,
    layout: Layout,
) -> Result<()> {
    let mut expected = shape.batched(batch);
    if layout == Layout::ChannelsFirst && expected.len() > 2 {
        let channels = expected.pop().expect("rank checked");
        expected.insert(1, channels);
    }
    let got = value.dims();
    if got == expected {
        return Ok(());
    }
    Err(crate::Error::Shape {
        layer: layer.name().unwrap_or_default().into(),
        expected: format!(
            "the output its output_shape promised, {expected:?} ({layout:?}, batch first)"
        ),
        received: format!("{got:?} from its call"),
    })
}
