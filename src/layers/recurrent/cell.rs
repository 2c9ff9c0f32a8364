//! One step of a recurrent cell (SimpleRNN, LSTM, GRU) in Keras' weight layouts, and the loop
//! that runs it over a sequence.

use crate::error::Result;
use crate::graph::Value;
use crate::layers::recurrent::RecurrentOptions;
use crate::layers::{Activation, Initializer, Mask, WeightSpecs, Weights};
use crate::ops::{Act, Scan, ScanCell};
use crate::shape::Shape;
use burn::tensor::Tensor;

/// Which cell a layer steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CellKind {
    /// `h = act(x·W + h·U + b)`.
    Simple,
    /// Keras' LSTM, gates i, f, c, o.
    Lstm,
    /// Keras' GRU, gates z, r, h; `reset_after` applies the reset gate after the recurrent
    /// product (with its own recurrent bias, Keras' default) or before it.
    Gru { reset_after: bool },
}

/// A cell's settings: what one step computes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cell {
    pub kind: CellKind,
    pub units: usize,
    pub activation: Activation,
    pub recurrent_activation: Activation,
    pub use_bias: bool,
}

/// The initializers of a cell's weights.
pub(crate) struct Inits {
    pub kernel: Initializer,
    pub recurrent: Initializer,
    pub bias: Initializer,
}

/// A cell's weights for one forward pass.
struct Params {
    kernel: Tensor<2>,
    recurrent: Tensor<2>,
    input_bias: Option<Tensor<1>>,
    recurrent_bias: Option<Tensor<1>>,
}

impl Cell {
    /// How many blocks of `units` the kernels hold: 1, 4 (i, f, c, o) or 3 (z, r, h).
    pub fn gates(&self) -> usize {
        match self.kind {
            CellKind::Simple => 1,
            CellKind::Lstm => 4,
            CellKind::Gru { .. } => 3,
        }
    }

    /// The output shape for a `[time, features]` input.
    pub fn output_shape(&self, input: &Shape, options: &RecurrentOptions) -> Shape {
        if options.return_sequences {
            Shape::new(vec![input.dims()[0], self.units])
        } else {
            Shape::new(vec![self.units])
        }
    }

    /// Declares `kernel [features, k·units]`, `recurrent_kernel [units, k·units]` and `bias`
    /// (`[k·units]`, or `[2, 3·units]` for a GRU with `reset_after`), as Keras names and lays
    /// them out.
    pub fn declare(&self, features: usize, inits: &Inits, weights: &mut WeightSpecs) {
        let width = self.gates() * self.units;
        weights.add_weight("kernel", [features, width], inits.kernel, true);
        weights.add_weight(
            "recurrent_kernel",
            [self.units, width],
            inits.recurrent,
            true,
        );
        if self.use_bias {
            match self.kind {
                CellKind::Gru { reset_after: true } => {
                    weights.add_weight("bias", [2, width], inits.bias, true)
                }
                _ => weights.add_weight("bias", [width], inits.bias, true),
            };
        }
    }

    fn params(&self, w: &Weights) -> Result<Params> {
        let (input_bias, recurrent_bias) = match (self.use_bias, self.kind) {
            (false, _) => (None, None),
            (true, CellKind::Gru { reset_after: true }) => {
                let b = w.get::<2>("bias")?;
                let width = b.dims()[1];
                (
                    Some(b.clone().narrow(0, 0, 1).reshape([width])),
                    Some(b.narrow(0, 1, 1).reshape([width])),
                )
            }
            (true, _) => (Some(w.get::<1>("bias")?), None),
        };
        Ok(Params {
            kernel: w.get("kernel")?,
            recurrent: w.get("recurrent_kernel")?,
            input_bias,
            recurrent_bias,
        })
    }

    /// `h · U` (plus the recurrent bias): one product, or one per gate when each gate sees
    /// `h` through its own dropout mask.
    fn recurrent(&self, h: &Tensor<2>, u: &Tensor<2>, masks: &[Tensor<2>]) -> Tensor<2> {
        match masks {
            [] => h.clone().matmul(u.clone()),
            [m] => (h.clone() * m.clone()).matmul(u.clone()),
            per_gate => Tensor::cat(
                per_gate
                    .iter()
                    .enumerate()
                    .map(|(g, m)| {
                        let ug = u.clone().narrow(1, g * self.units, self.units);
                        (h.clone() * m.clone()).matmul(ug)
                    })
                    .collect(),
                1,
            ),
        }
    }

    /// One step: the new states (the first is the output `h`) from the input's projection
    /// `xw` (`x·W` plus the input bias) and the previous states.
    fn step(
        &self,
        xw: Tensor<2>,
        states: &[Tensor<2>],
        p: &Params,
        masks: &[Tensor<2>],
    ) -> Vec<Tensor<2>> {
        let n = self.units;
        let act = self.activation;
        let rec = self.recurrent_activation;
        let h = &states[0];
        match self.kind {
            CellKind::Simple => vec![act.tensor(xw + self.recurrent(h, &p.recurrent, masks))],
            CellKind::Lstm => {
                let z = xw + self.recurrent(h, &p.recurrent, masks);
                let i = rec.tensor(z.clone().narrow(1, 0, n));
                let f = rec.tensor(z.clone().narrow(1, n, n));
                let g = act.tensor(z.clone().narrow(1, 2 * n, n));
                let o = rec.tensor(z.narrow(1, 3 * n, n));
                let c = f * states[1].clone() + i * g;
                vec![o * act.tensor(c.clone()), c]
            }
            CellKind::Gru { reset_after } => {
                let x_zr = xw.clone().narrow(1, 0, 2 * n);
                let x_h = xw.narrow(1, 2 * n, n);
                let (rec_zr, hh) = if reset_after {
                    let mut r_all = self.recurrent(h, &p.recurrent, masks);
                    if let Some(b) = &p.recurrent_bias {
                        r_all = r_all + b.clone().unsqueeze();
                    }
                    let rec_zr = r_all.clone().narrow(1, 0, 2 * n);
                    let rec_h = r_all.narrow(1, 2 * n, n);
                    let r =
                        rec.tensor(x_zr.clone().narrow(1, n, n) + rec_zr.clone().narrow(1, n, n));
                    (rec_zr, act.tensor(x_h + r * rec_h))
                } else {
                    let u_zr = p.recurrent.clone().narrow(1, 0, 2 * n);
                    let u_h = p.recurrent.clone().narrow(1, 2 * n, n);
                    let (m_zr, m_h): (Vec<Tensor<2>>, Vec<Tensor<2>>) = match masks {
                        [] => (vec![], vec![]),
                        [m] => (vec![m.clone()], vec![m.clone()]),
                        per_gate => (per_gate[..2].to_vec(), vec![per_gate[2].clone()]),
                    };
                    let rec_zr = self.recurrent(h, &u_zr, &m_zr);
                    let r =
                        rec.tensor(x_zr.clone().narrow(1, n, n) + rec_zr.clone().narrow(1, n, n));
                    let h_h = match m_h.first() {
                        Some(m) => h.clone() * m.clone(),
                        None => h.clone(),
                    };
                    (rec_zr, act.tensor(x_h + (r * h_h).matmul(u_h)))
                };
                let z = rec.tensor(x_zr.narrow(1, 0, n) + rec_zr.narrow(1, 0, n));
                vec![z.clone() * h.clone() + (z.neg().add_scalar(1.0)) * hh]
            }
        }
    }

    /// How many states the cell carries: `h`, and `c` for an LSTM.
    pub fn state_count(&self) -> usize {
        if self.kind == CellKind::Lstm { 2 } else { 1 }
    }

    /// Runs the cell over `x` `[batch, time, features]` from the states `initial` (`[batch,
    /// units]` each; zeros when empty): the output, `[batch, time, units]` when
    /// `return_sequences` and the last step's `[batch, units]` otherwise, and the final
    /// states.
    ///
    /// The input's projection for every step is one product; each step adds one recurrent
    /// product. Masked steps (mask 0) keep the previous states and repeat the previous output
    /// (or give zeros, with `zero_output_for_mask`), as Keras' backends do. Dropout masks are
    /// drawn once per call and shared by every step.
    pub fn run(
        &self,
        w: &Weights,
        x: Tensor<3>,
        mask: Option<&Mask>,
        initial: &[Tensor<2>],
        options: &RecurrentOptions,
        training: bool,
    ) -> Result<Ran> {
        self.run_as(w, x, mask, initial, options, training, true)
    }

    /// The scan this cell runs as one operation ([`crate::ops::recurrent_scan`]), when its
    /// activations are among those the scan differentiates.
    fn scan(&self, options: &RecurrentOptions) -> Option<Scan> {
        let act = |a: Activation| match a {
            Activation::Linear => Some(Act::Linear),
            Activation::Tanh => Some(Act::Tanh),
            Activation::Sigmoid => Some(Act::Sigmoid),
            Activation::Relu => Some(Act::Relu),
            Activation::LeakyRelu => Some(Act::LeakyRelu),
            Activation::Softmax | Activation::Gelu => None,
        };
        Some(Scan {
            cell: match self.kind {
                CellKind::Simple => ScanCell::Simple,
                CellKind::Lstm => ScanCell::Lstm,
                CellKind::Gru { reset_after: true } => ScanCell::GruResetAfter,
                CellKind::Gru { reset_after: false } => ScanCell::GruResetBefore,
            },
            units: self.units,
            activation: act(self.activation)?,
            recurrent_activation: act(self.recurrent_activation)?,
            go_backwards: options.go_backwards,
            zero_output_for_mask: options.zero_output_for_mask,
        })
    }

    /// [`run`](Self::run), as one scan operation when `fused` allows and the cell can (no
    /// recurrent dropout in training, activations the scan knows), else step by step in
    /// tensor operations.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_as(
        &self,
        w: &Weights,
        x: Tensor<3>,
        mask: Option<&Mask>,
        initial: &[Tensor<2>],
        options: &RecurrentOptions,
        training: bool,
        fused: bool,
    ) -> Result<Ran> {
        let p = self.params(w)?;
        let [batch, time, features] = x.dims();
        let device = x.device();
        let zeros = Tensor::<2>::zeros([batch, self.units], &device);
        let initial: Vec<Tensor<2>> = if initial.is_empty() {
            vec![zeros.clone(); self.state_count()]
        } else {
            initial.to_vec()
        };
        let width = self.gates() * self.units;
        // Keras draws one dropout mask per gate when it has a recurrent dropout
        // (`implementation=1`), one mask for all gates otherwise
        let per_gate = self.kind != CellKind::Simple && options.recurrent_dropout > 0.0;
        let draw = |rate: f64, dims: [usize; 2]| -> Result<Vec<Tensor<2>>> {
            if !training || rate == 0.0 {
                return Ok(Vec::new());
            }
            let count = if per_gate { self.gates() } else { 1 };
            (0..count)
                .map(|_| {
                    let ones = Tensor::<2>::ones(dims, &device);
                    crate::ops::dropout(ones, rate, crate::random::next_seed())
                })
                .collect()
        };
        let input_masks = draw(options.dropout, [batch, features])?;
        let recurrent_masks = draw(options.recurrent_dropout, [batch, self.units])?;

        let flat = |x: Tensor<3>| x.reshape([batch * time, features]);
        let mut xw = match input_masks.as_slice() {
            [] => flat(x).matmul(p.kernel.clone()),
            [m] => flat(x * m.clone().unsqueeze_dim(1)).matmul(p.kernel.clone()),
            per_gate => Tensor::cat(
                per_gate
                    .iter()
                    .enumerate()
                    .map(|(g, m)| {
                        let kg = p.kernel.clone().narrow(1, g * self.units, self.units);
                        flat(x.clone() * m.clone().unsqueeze_dim(1)).matmul(kg)
                    })
                    .collect(),
                1,
            ),
        };
        if let Some(b) = &p.input_bias {
            xw = xw + b.clone().unsqueeze();
        }
        let xw = xw.reshape([batch, time, width]);
        if let Some(scan) = self
            .scan(options)
            .filter(|_| fused && recurrent_masks.is_empty())
        {
            let bias = p
                .recurrent_bias
                .clone()
                .unwrap_or_else(|| Tensor::zeros([width], &device));
            let mask = match mask {
                Some(m) => m.clone(),
                None => Tensor::ones([batch, time], &device),
            };
            let init = Tensor::stack(initial, 1);
            let out = crate::ops::recurrent_scan(xw, p.recurrent.clone(), bias, mask, init, scan);
            let row = |t: usize| out.clone().narrow(1, t, 1).reshape([batch, self.units]);
            let states = (0..self.state_count()).map(|k| row(time + k)).collect();
            let output = if options.return_sequences {
                Value::R3(out.narrow(1, 0, time))
            } else {
                Value::R2(row(time - 1))
            };
            return Ok(Ran { output, states });
        }

        let mut states = initial;
        // the output before the first step, which a masked first step repeats: Keras' backends
        // start from zeros
        let mut output = zeros.clone();
        let mut outputs = Vec::with_capacity(if options.return_sequences { time } else { 0 });
        for s in 0..time {
            let t = if options.go_backwards {
                time - 1 - s
            } else {
                s
            };
            let xw_t = xw.clone().narrow(1, t, 1).reshape([batch, width]);
            let new = self.step(xw_t, &states, &p, &recurrent_masks);
            match mask {
                None => {
                    output = new[0].clone();
                    states = new;
                }
                Some(m) => {
                    let keep = m.clone().narrow(1, t, 1);
                    let skip = keep.clone().neg().add_scalar(1.0);
                    let blend = |a: Tensor<2>, b: Tensor<2>| a * keep.clone() + b * skip.clone();
                    let held = if options.zero_output_for_mask {
                        zeros.clone()
                    } else {
                        output
                    };
                    output = blend(new[0].clone(), held);
                    states = new
                        .into_iter()
                        .zip(states)
                        .map(|(n, o)| blend(n, o))
                        .collect();
                }
            }
            if options.return_sequences {
                outputs.push(output.clone());
            }
        }
        let output = if options.return_sequences {
            Value::R3(Tensor::stack(outputs, 1))
        } else {
            Value::R2(output)
        };
        Ok(Ran { output, states })
    }
}

/// What running a cell over a sequence gives: its output and its final states.
pub(crate) struct Ran {
    pub output: Value,
    pub states: Vec<Tensor<2>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The scan operation and the step-by-step tensor operations agree, outputs, final states
    /// and gradients (initial states' included), for every cell, both directions, with a mask
    /// (both kinds of masked output, and a sample whose first step is masked), from zero and
    /// from given initial states, and for activations other than the defaults.
    #[test]
    fn the_scan_is_the_step_by_step_loop() {
        let device = crate::backend::test_device().autodiff();
        let (batch, time, features, units) = (3, 5, 4, 2);
        let kinds = [
            CellKind::Simple,
            CellKind::Lstm,
            CellKind::Gru { reset_after: true },
            CellKind::Gru { reset_after: false },
        ];
        let mask = Tensor::<2>::from_floats(
            [
                [1.0, 1.0, 0.0, 1.0, 0.0],
                [0.0, 1.0, 1.0, 1.0, 1.0],
                [1.0; 5],
            ],
            &device,
        );
        for kind in kinds {
            for (backwards, zero, masked, act, given) in [
                (false, false, false, Activation::Tanh, false),
                (true, false, true, Activation::Tanh, false),
                (false, true, true, Activation::Relu, false),
                (true, true, true, Activation::LeakyRelu, false),
                (false, false, true, Activation::Tanh, true),
                (true, false, false, Activation::Tanh, true),
                (false, true, true, Activation::Tanh, true),
            ] {
                let cell = Cell {
                    kind,
                    units,
                    activation: act,
                    recurrent_activation: Activation::Sigmoid,
                    use_bias: true,
                };
                let mut specs = WeightSpecs::default();
                let inits = Inits {
                    kernel: Initializer::GlorotUniform,
                    recurrent: Initializer::Orthogonal,
                    bias: Initializer::GlorotUniform,
                };
                cell.declare(features, &inits, &mut specs);
                let w = Weights::new("rnn", specs, &device).unwrap();
                let options = RecurrentOptions {
                    return_sequences: true,
                    go_backwards: backwards,
                    zero_output_for_mask: zero,
                    ..Default::default()
                };
                let x =
                    Tensor::<3>::random([batch, time, features], Distribution::Default, &device)
                        .require_grad();
                let mask = masked.then_some(&mask);
                let initial: Vec<Tensor<2>> = if given {
                    (0..cell.state_count())
                        .map(|_| {
                            Tensor::<2>::random([batch, units], Distribution::Default, &device)
                                .require_grad()
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let case = format!(
                    "{kind:?} backwards {backwards} zero {zero} mask {masked} {act:?} \
                     initial {given}"
                );
                let mut results = Vec::new();
                for fused in [true, false] {
                    let ran = cell
                        .run_as(&w, x.clone(), mask, &initial, &options, true, fused)
                        .unwrap();
                    let y = ran.output.into_tensor::<3>().unwrap();
                    // a weighting, so that each output's gradient differs
                    let n = batch * time * units;
                    let ramp: Vec<f32> = (0..n).map(|i| (i as f32 / 7.0).sin()).collect();
                    let weights = Tensor::<3>::from_data(
                        burn::tensor::TensorData::new(ramp, [batch, time, units]),
                        &device,
                    );
                    let mut loss = (y.clone() * weights).sum();
                    for (k, state) in ran.states.iter().enumerate() {
                        loss = loss + state.clone().mul_scalar(0.5 + k as f32).sin().sum();
                    }
                    let grads = loss.backward();
                    let mut values: Vec<f32> = y.into_data().try_to_vec().unwrap();
                    for state in &ran.states {
                        values.extend(state.clone().into_data().try_to_vec::<f32>().unwrap());
                    }
                    for state in &initial {
                        values.extend(
                            state
                                .grad(&grads)
                                .unwrap()
                                .into_data()
                                .try_to_vec::<f32>()
                                .unwrap(),
                        );
                    }
                    values.extend(
                        x.grad(&grads)
                            .unwrap()
                            .into_data()
                            .try_to_vec::<f32>()
                            .unwrap(),
                    );
                    for name in ["kernel", "recurrent_kernel", "bias"] {
                        values.extend(w.grad(name, &grads).unwrap());
                    }
                    results.push(values);
                }
                let worst = results[0]
                    .iter()
                    .zip(&results[1])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-5, "{case}: the scan is {worst} away");
            }
        }
    }

    /// Keras draws a recurrent layer's dropout masks once per batch: with the same input at
    /// every step and no recurrence, every step's output is the same in training, and differs
    /// from the output without dropout.
    #[test]
    fn dropout_masks_are_drawn_once_per_batch() {
        let device = crate::backend::test_device().autodiff();
        let (batch, time, features, units) = (4, 6, 16, 8);
        let cell = Cell {
            kind: CellKind::Simple,
            units,
            activation: Activation::Linear,
            recurrent_activation: Activation::Sigmoid,
            use_bias: false,
        };
        let mut specs = WeightSpecs::default();
        let inits = Inits {
            kernel: Initializer::GlorotUniform,
            recurrent: Initializer::Zeros,
            bias: Initializer::Zeros,
        };
        cell.declare(features, &inits, &mut specs);
        let w = Weights::new("rnn", specs, &device).unwrap();
        let x = Tensor::<3>::ones([batch, time, features], &device);
        let options = RecurrentOptions {
            return_sequences: true,
            dropout: 0.5,
            ..Default::default()
        };
        let run = |training: bool| -> Vec<f32> {
            let y = cell
                .run(&w, x.clone(), None, &[], &options, training)
                .unwrap();
            y.output
                .into_tensor::<3>()
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let (dropped, kept) = (run(true), run(false));
        for b in 0..batch {
            let first = &dropped[b * time * units..][..units];
            for t in 1..time {
                assert_eq!(
                    &dropped[(b * time + t) * units..][..units],
                    first,
                    "sample {b} step {t}"
                );
            }
        }
        assert_ne!(dropped, kept);
    }
}
