//! The recurrent scan on the host: every step of a SimpleRNN, LSTM or GRU cell over a sequence,
//! and its backward pass through time, in plain loops around small matrix products.
//!
//! A recurrent step is a `[batch, units] × [units, gates · units]` product and a few
//! elementwise operations on tensors of a few thousand values: recorded as tensor operations,
//! each step costs more in dispatch and autodiff bookkeeping than in arithmetic, and reading one
//! step out of the input's projection costs a whole-sequence gradient in the backward pass.
//! Here the loop runs once per sequence, and keeps what the backward pass needs.
//!
//! Its `expect`s cannot fire: the slices come from the scan's own tensors, whose sizes the
//! layer fixed from its config when it was built (`[units, width]`, `[batch, states · units]`),
//! and every array `as_slice`d here is created in this file in standard (contiguous) layout.

use crate::backend::FlushSubnormals;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis, s};

/// An activation whose derivative follows from its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    Linear,
    Tanh,
    Sigmoid,
    Relu,
    LeakyRelu,
}

/// Keras' slope of `leaky_relu`.
const SLOPE: f32 = 0.2;

/// `exp(x)` within 2 ulp, in operations that vectorize (Cephes' `expf`: `x = k·ln 2 + r`, a
/// degree-7 polynomial in `r`, `2^k` from the exponent bits).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that k·ln 2 is exact for the k that occur
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let k = (x * LOG2E + ROUND) - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((k as i32 + 127) << 23) as u32)
}

/// `1 / (1 + exp(-x))`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`: Cephes' `tanhf`, an odd polynomial below 0.625, `1 - 2 / (exp(2|x|) + 1)` above.
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let p = -5.704_988_7e-3_f32;
    let p = p * z + 2.063_908_9e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 1.333_144_2e-1;
    let p = p * z - 3.333_328_2e-1;
    let small = p * z * x + x;
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 { small } else { large }
}

impl Act {
    /// Applies the function to every value of `xs`, in a loop per function.
    fn apply(self, xs: &mut [f32]) {
        match self {
            Act::Linear => {}
            Act::Tanh => xs.iter_mut().for_each(|v| *v = tanh(*v)),
            Act::Sigmoid => xs.iter_mut().for_each(|v| *v = sigmoid(*v)),
            other => xs.iter_mut().for_each(|v| *v = other.f(*v)),
        }
    }

    fn f(self, x: f32) -> f32 {
        match self {
            Act::Linear => x,
            Act::Tanh => tanh(x),
            Act::Sigmoid => sigmoid(x),
            Act::Relu => x.max(0.0),
            Act::LeakyRelu => {
                if x > 0.0 {
                    x
                } else {
                    SLOPE * x
                }
            }
        }
    }

    /// The derivative at the input that gave `y`.
    fn df(self, y: f32) -> f32 {
        match self {
            Act::Linear => 1.0,
            Act::Tanh => 1.0 - y * y,
            Act::Sigmoid => y * (1.0 - y),
            Act::Relu => (y > 0.0) as u8 as f32,
            Act::LeakyRelu => {
                if y > 0.0 {
                    1.0
                } else {
                    SLOPE
                }
            }
        }
    }
}

/// Which cell the scan steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanCell {
    /// `h = act(x + h·U)`.
    Simple,
    /// Gates i, f, c, o.
    Lstm,
    /// Gates z, r, h; the reset gate multiplies `h·U_h + b_h` (`reset_after`).
    GruResetAfter,
    /// Gates z, r, h; the reset gate multiplies `h` before its product with `U_h`.
    GruResetBefore,
}

/// What the scan computes: the cell, its activations, and how it reads the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    pub(crate) cell: ScanCell,
    pub(crate) units: usize,
    pub(crate) activation: Act,
    pub(crate) recurrent_activation: Act,
    pub(crate) go_backwards: bool,
    pub(crate) zero_output_for_mask: bool,
}

impl Scan {
    /// How many states the cell carries: `h`, and `c` for an LSTM.
    pub(crate) fn states(&self) -> usize {
        if self.cell == ScanCell::Lstm { 2 } else { 1 }
    }

    fn gates(&self) -> usize {
        match self.cell {
            ScanCell::Simple => 1,
            ScanCell::Lstm => 4,
            ScanCell::GruResetAfter | ScanCell::GruResetBefore => 3,
        }
    }

    /// The time index read at step `s` of `time`.
    fn time_of(&self, s: usize, time: usize) -> usize {
        if self.go_backwards { time - 1 - s } else { s }
    }
}

/// What the forward pass keeps for the backward pass, step by step (`[time, batch, ...]` in
/// the order of the steps).
#[derive(Clone, Debug)]
pub(crate) struct Tape {
    batch: usize,
    time: usize,
    /// The state `h` before each step.
    h_prev: Vec<f32>,
    /// The cell state `c` before each step (LSTM).
    c_prev: Vec<f32>,
    /// The gates' activations: i, f, c̃, o (LSTM), z, r, h̃ (GRU), the new `h` (SimpleRNN).
    gates: Vec<f32>,
    /// `act(c)` (LSTM), the recurrent candidate `h·U_h + b_h` (GRU `reset_after`), `r·h` (GRU).
    extra: Vec<f32>,
    /// The mask, `[batch, time]`.
    mask: Vec<f32>,
}

/// The sizes of a scan's tensors: `xw [batch, time, gates·units]`, `u [units, gates·units]`,
/// `bias [gates·units]`, `mask [batch, time]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub batch: usize,
    pub time: usize,
}

/// Runs `scan` over `xw` (the inputs' projections, input bias included) with recurrent kernel
/// `u` and recurrent bias `bias` (GRU `reset_after`; ignored by the others), from the states
/// `init` (`[batch, states, units]`: `h`, then `c` for an LSTM), skipping masked steps: the
/// outputs in the order of the steps followed by the final states (`[batch, time + states,
/// units]`), and the tape.
pub(crate) fn forward(
    scan: &Scan,
    dims: Dims,
    xw: &[f32],
    u: &[f32],
    bias: &[f32],
    mask: &[f32],
    init: &[f32],
) -> (Vec<f32>, Tape) {
    let _flush = FlushSubnormals::on_this_thread();
    let Dims { batch, time } = dims;
    let n = scan.units;
    let w = scan.gates() * n;
    let states = scan.states();
    let rows = time + states;
    let u = ArrayView2::from_shape((n, w), u).expect("u is [units, width]");
    let (act, rec) = (scan.activation, scan.recurrent_activation);
    let init =
        ArrayView2::from_shape((batch, states * n), init).expect("init is [batch, states, units]");
    let mut h = init.slice(s![.., ..n]).to_owned();
    let mut c = if scan.cell == ScanCell::Lstm {
        init.slice(s![.., n..]).to_owned()
    } else {
        Array2::<f32>::zeros((batch, n))
    };
    let mut r_all = Array2::<f32>::zeros((batch, w));
    let mut q = Array2::<f32>::zeros((batch, n));
    let mut out = vec![0.0f32; batch * rows * n];
    let mut tape = Tape {
        batch,
        time,
        h_prev: vec![0.0; time * batch * n],
        c_prev: if scan.cell == ScanCell::Lstm {
            vec![0.0; time * batch * n]
        } else {
            Vec::new()
        },
        gates: vec![0.0; time * batch * w],
        extra: vec![0.0; time * batch * n],
        mask: mask.to_vec(),
    };
    let mut h_new = vec![0.0f32; n];
    let mut c_new = vec![0.0f32; n];
    // whether a step of each sample has run yet
    let mut seen = vec![false; batch];
    for s in 0..time {
        let t = scan.time_of(s, time);
        let step = s * batch;
        tape.h_prev[step * n..(step + batch) * n]
            .copy_from_slice(h.as_slice().expect("contiguous"));
        if scan.cell == ScanCell::Lstm {
            tape.c_prev[step * n..(step + batch) * n]
                .copy_from_slice(c.as_slice().expect("contiguous"));
        }
        general_mat_mul(1.0, &h, &u, 0.0, &mut r_all);
        // the gates that need no other product: z = x + h·U (+ the recurrent bias), activated
        let gated = match scan.cell {
            ScanCell::Simple => 0,
            ScanCell::Lstm => 4 * n,
            ScanCell::GruResetAfter | ScanCell::GruResetBefore => 2 * n,
        };
        for b in 0..batch {
            let x = &xw[(b * time + t) * w..][..w];
            let ra = r_all.row(b);
            let ra = ra.as_slice().expect("contiguous");
            let gates = &mut tape.gates[(step + b) * w..][..w];
            for j in 0..gated {
                gates[j] = x[j] + ra[j];
            }
            if scan.cell == ScanCell::GruResetAfter {
                for j in 0..gated {
                    gates[j] += bias[j];
                }
            }
            match scan.cell {
                ScanCell::Simple => {}
                ScanCell::Lstm => {
                    rec.apply(&mut gates[..2 * n]);
                    act.apply(&mut gates[2 * n..3 * n]);
                    rec.apply(&mut gates[3 * n..]);
                }
                ScanCell::GruResetAfter | ScanCell::GruResetBefore => {
                    rec.apply(&mut gates[..2 * n])
                }
            }
        }
        if scan.cell == ScanCell::GruResetBefore {
            // q = (r·h)·U_h
            let rh = &mut tape.extra[step * n..(step + batch) * n];
            for b in 0..batch {
                let gates = &tape.gates[(step + b) * w..][..w];
                for j in 0..n {
                    rh[b * n + j] = gates[n + j] * h[[b, j]];
                }
            }
            let rh = ArrayView2::from_shape((batch, n), &*rh).expect("sizes");
            general_mat_mul(1.0, &rh, &u.slice(s![.., 2 * n..]), 0.0, &mut q);
        }
        for b in 0..batch {
            let x = &xw[(b * time + t) * w..][..w];
            let ra = r_all.row(b);
            let ra = ra.as_slice().expect("contiguous");
            let m = mask[b * time + t];
            let gates = &mut tape.gates[(step + b) * w..][..w];
            let extra = &mut tape.extra[(step + b) * n..][..n];
            let h_row = h.row(b);
            let h_prev = h_row.as_slice().expect("contiguous");
            match scan.cell {
                ScanCell::Simple => {
                    for j in 0..n {
                        gates[j] = x[j] + ra[j];
                    }
                    act.apply(&mut gates[..n]);
                    h_new.copy_from_slice(&gates[..n]);
                }
                ScanCell::Lstm => {
                    let c_row = c.row(b);
                    let c_prev = c_row.as_slice().expect("contiguous");
                    for j in 0..n {
                        c_new[j] = gates[n + j] * c_prev[j] + gates[j] * gates[2 * n + j];
                    }
                    extra.copy_from_slice(&c_new);
                    act.apply(extra);
                    let mut c_row = c.row_mut(b);
                    for j in 0..n {
                        c_row[j] = m * c_new[j] + (1.0 - m) * c_row[j];
                        h_new[j] = gates[3 * n + j] * extra[j];
                    }
                }
                ScanCell::GruResetAfter => {
                    for j in 0..n {
                        extra[j] = ra[2 * n + j] + bias[2 * n + j];
                        gates[2 * n + j] = x[2 * n + j] + gates[n + j] * extra[j];
                    }
                    act.apply(&mut gates[2 * n..]);
                }
                ScanCell::GruResetBefore => {
                    for j in 0..n {
                        gates[2 * n + j] = x[2 * n + j] + q[[b, j]];
                    }
                    act.apply(&mut gates[2 * n..]);
                }
            }
            if matches!(
                scan.cell,
                ScanCell::GruResetAfter | ScanCell::GruResetBefore
            ) {
                for j in 0..n {
                    let z = gates[j];
                    h_new[j] = z * h_prev[j] + (1.0 - z) * gates[2 * n + j];
                }
            }
            let o = &mut out[(b * rows + s) * n..][..n];
            // a masked step repeats the previous output, which is `h` once a step has run and
            // zeros before (Keras' `prev_output` starts at zeros, whatever the initial state)
            let repeat = !scan.zero_output_for_mask && seen[b];
            let mut h_row = h.row_mut(b);
            for j in 0..n {
                let held = if repeat { h_row[j] } else { 0.0 };
                o[j] = m * h_new[j] + (1.0 - m) * held;
                h_row[j] = m * h_new[j] + (1.0 - m) * h_row[j];
            }
            seen[b] |= m != 0.0;
        }
    }
    for b in 0..batch {
        out[(b * rows + time) * n..][..n].copy_from_slice(h.row(b).as_slice().expect("contiguous"));
        if scan.cell == ScanCell::Lstm {
            out[(b * rows + time + 1) * n..][..n]
                .copy_from_slice(c.row(b).as_slice().expect("contiguous"));
        }
    }
    (out, tape)
}

/// The gradients of a scan's `xw`, `u`, `bias` and initial states from the gradient `grad` of
/// its outputs and final states (`[batch, time + states, units]`), through every step back to
/// the first.
pub(crate) fn backward(scan: &Scan, tape: &Tape, u: &[f32], grad: &[f32]) -> Grads {
    // a gradient carried back through many steps by gates near one half decays into the
    // subnormal range (the spam BiGRU's first epoch took 11 to 14 s, its third 3 to 4 s)
    let _flush = FlushSubnormals::on_this_thread();
    let (batch, time) = (tape.batch, tape.time);
    let n = scan.units;
    let w = scan.gates() * n;
    let states = scan.states();
    let rows = time + states;
    let u = ArrayView2::from_shape((n, w), u).expect("u is [units, width]");
    let (act, rec) = (scan.activation, scan.recurrent_activation);
    let mut dxw = vec![0.0f32; batch * time * w];
    let mut du = Array2::<f32>::zeros((n, w));
    let mut dbias = vec![0.0f32; w];
    // the gradients of the states after the last step: the final states'
    let final_grad =
        |k: usize| Array2::from_shape_fn((batch, n), |(b, j)| grad[(b * rows + time + k) * n + j]);
    let mut dh = final_grad(0);
    let mut dc = if scan.cell == ScanCell::Lstm {
        final_grad(1)
    } else {
        Array2::<f32>::zeros((batch, n))
    };
    let mut dh_prev = Array2::<f32>::zeros((batch, n));
    // the gradient of the recurrent product's output, `h·U` (+ bias)
    let mut dr = Array2::<f32>::zeros((batch, w));
    // GRU without reset_after: the gradient of `q = (r·h)·U_h`
    let mut dq = Array2::<f32>::zeros((batch, n));
    // each sample's first step that runs: masked steps before it output zeros, not `h`
    let first: Vec<usize> = (0..batch)
        .map(|b| {
            (0..time)
                .find(|&s| tape.mask[b * time + scan.time_of(s, time)] != 0.0)
                .unwrap_or(time)
        })
        .collect();
    for s in (0..time).rev() {
        let t = scan.time_of(s, time);
        let step = s * batch;
        let h_prev = ArrayView2::from_shape((batch, n), &tape.h_prev[step * n..][..batch * n])
            .expect("sizes");
        for b in 0..batch {
            let m = tape.mask[b * time + t];
            let gates = &tape.gates[(step + b) * w..][..w];
            let extra = &tape.extra[(step + b) * n..][..n];
            let g_out = &grad[(b * rows + s) * n..][..n];
            let dx = &mut dxw[(b * time + t) * w..][..w];
            for j in 0..n {
                let hp = h_prev[[b, j]];
                let carried = dh[[b, j]];
                let dh_new = m * (g_out[j] + carried);
                let mut back = (1.0 - m) * carried;
                if !scan.zero_output_for_mask && first[b] < s {
                    back += (1.0 - m) * g_out[j];
                }
                match scan.cell {
                    ScanCell::Simple => {
                        let da = dh_new * act.df(gates[j]);
                        dx[j] = da;
                        dr[[b, j]] = da;
                    }
                    ScanCell::Lstm => {
                        let (i, f, g, o) =
                            (gates[j], gates[n + j], gates[2 * n + j], gates[3 * n + j]);
                        let ac = extra[j];
                        let cp = tape.c_prev[(step + b) * n + j];
                        let dc_new = m * dc[[b, j]] + dh_new * o * act.df(ac);
                        dc[[b, j]] = (1.0 - m) * dc[[b, j]] + dc_new * f;
                        let di = dc_new * g * rec.df(i);
                        let df = dc_new * cp * rec.df(f);
                        let dg = dc_new * i * act.df(g);
                        let d_o = dh_new * ac * rec.df(o);
                        for (k, v) in [di, df, dg, d_o].into_iter().enumerate() {
                            dx[k * n + j] = v;
                            dr[[b, k * n + j]] = v;
                        }
                    }
                    ScanCell::GruResetAfter | ScanCell::GruResetBefore => {
                        let (z, r, hh) = (gates[j], gates[n + j], gates[2 * n + j]);
                        back += dh_new * z;
                        let dz = dh_new * (hp - hh) * rec.df(z);
                        let da = dh_new * (1.0 - z) * act.df(hh);
                        dx[j] = dz;
                        dx[2 * n + j] = da;
                        dr[[b, j]] = dz;
                        if scan.cell == ScanCell::GruResetAfter {
                            let dr_gate = da * extra[j] * rec.df(r);
                            dx[n + j] = dr_gate;
                            dr[[b, n + j]] = dr_gate;
                            dr[[b, 2 * n + j]] = da * r;
                        } else {
                            // the reset gate's gradient needs `da·U_hᵀ`: below
                            dq[[b, j]] = da;
                            dr[[b, n + j]] = 0.0;
                            dr[[b, 2 * n + j]] = 0.0;
                        }
                    }
                }
                dh_prev[[b, j]] = back;
            }
        }
        if scan.cell == ScanCell::GruResetBefore {
            // q = (r·h)·U_h: dU_h += (r·h)ᵀ·dq; d(r·h) = dq·U_hᵀ gives dr and dh
            let rh = ArrayView2::from_shape((batch, n), &tape.extra[step * n..][..batch * n])
                .expect("sizes");
            let u_h = u.slice(s![.., 2 * n..]);
            general_mat_mul(1.0, &rh.t(), &dq, 1.0, &mut du.slice_mut(s![.., 2 * n..]));
            let mut drh = Array2::<f32>::zeros((batch, n));
            general_mat_mul(1.0, &dq, &u_h.t(), 0.0, &mut drh);
            for b in 0..batch {
                let gates = &tape.gates[(step + b) * w..][..w];
                let dx = &mut dxw[(b * time + t) * w..][..w];
                for j in 0..n {
                    let r = gates[n + j];
                    let dr_gate = drh[[b, j]] * h_prev[[b, j]] * rec.df(r);
                    dx[n + j] = dr_gate;
                    dr[[b, n + j]] = dr_gate;
                    dh_prev[[b, j]] += drh[[b, j]] * r;
                }
            }
        }
        // through the recurrent product: dU += h_prevᵀ·dr, dh_prev += dr·Uᵀ
        general_mat_mul(1.0, &h_prev.t(), &dr, 1.0, &mut du);
        general_mat_mul(1.0, &dr, &u.t(), 1.0, &mut dh_prev);
        if scan.cell == ScanCell::GruResetAfter {
            for (d, col) in dbias.iter_mut().zip(dr.axis_iter(Axis(1))) {
                *d += col.sum();
            }
        }
        std::mem::swap(&mut dh, &mut dh_prev);
    }
    // after the first step, `dh` and `dc` are the initial states' gradients
    let mut dinit = vec![0.0f32; batch * states * n];
    for b in 0..batch {
        let row = &mut dinit[b * states * n..][..states * n];
        row[..n].copy_from_slice(dh.row(b).as_slice().expect("contiguous"));
        if scan.cell == ScanCell::Lstm {
            row[n..].copy_from_slice(dc.row(b).as_slice().expect("contiguous"));
        }
    }
    Grads {
        xw: dxw,
        u: du.into_raw_vec_and_offset().0,
        bias: dbias,
        init: dinit,
    }
}

/// The gradients [`backward`] gives, each laid out as its tensor.
pub(crate) struct Grads {
    pub xw: Vec<f32>,
    pub u: Vec<f32>,
    pub bias: Vec<f32>,
    pub init: Vec<f32>,
}
