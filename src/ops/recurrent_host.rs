//! The recurrent scan on the host: every step of a SimpleRNN, LSTM or GRU cell over a sequence,
//! and its backward pass through time, in plain loops around small matrix products.
//!
//! A recurrent step is a `[batch, units] × [units, gates · units]` product and a few
//! elementwise operations on tensors of a few thousand values: recorded as tensor operations,
//! each step costs more in dispatch and autodiff bookkeeping than in arithmetic, and reading one
//! step out of the input's projection costs a whole-sequence gradient in the backward pass.
//! Here the loop runs once per sequence, and keeps what the backward pass needs.
//!
//! The loops run over slices of one sample's values each (so that they vectorize), and the
//! products are [`add_product`]'s, on the calling thread: ndarray's (matrixmultiply's) sent
//! each step's product to a second thread and back. A long scan splits its batch across
//! threads ([`part_count`]).
//!
//! Its indexing cannot go out of bounds: the slices come from the scan's own tensors, whose
//! sizes the layer fixed from its config when it was built (`[units, width]`, `[batch, states
//! · units]`).

use super::row_times::add_product;
use super::simd::{Isa, Kernel, widest};
use crate::backend::{FlushSubnormals, map_items};

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

/// `exp(x)` within 2 ulp for `x` in [-87.3, 88] (clamped there, so that it stays finite and
/// normal), in operations that vectorize (Cephes' `expf`: `x = k·ln 2 + r`, a degree-7
/// polynomial in `r`, `2^k` from the exponent bits).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that k·ln 2 is exact for the k that occur
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let rounded = x * LOG2E + ROUND;
    let k = rounded - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // `rounded`'s low mantissa bits hold k (two's complement, offset by ROUND's bits): 2^k's
    // exponent comes from them in integer lanes, where `k as i32` would saturate lane by lane
    let two_k = (rounded
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127))
        << 23;
    y * f32::from_bits(two_k)
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
    #[inline(always)]
    fn apply(self, xs: &mut [f32]) {
        match self {
            Act::Linear => {}
            Act::Tanh => xs.iter_mut().for_each(|v| *v = tanh(*v)),
            Act::Sigmoid => xs.iter_mut().for_each(|v| *v = sigmoid(*v)),
            other => xs.iter_mut().for_each(|v| *v = other.f(*v)),
        }
    }

    #[inline(always)]
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
    #[inline(always)]
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

/// What the forward pass keeps for the backward pass: one [`PartTape`] per run of samples
/// the scan ran on its own thread, in the order of the samples.
#[derive(Clone, Debug)]
pub(crate) struct Tape {
    parts: Vec<PartTape>,
}

/// What one run of samples' forward pass keeps, step by step (`[time, batch, ...]` in the
/// order of the steps).
#[derive(Clone, Debug)]
struct PartTape {
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

/// The fewest samples a thread runs: the scan splits its batch into runs of samples, one per
/// thread, when each run holds at least this many.
const MIN_PART: usize = 8;

/// The least work, in multiply-adds of the recurrent products over the sequence, that a
/// thread takes on: handing a run to another thread and waiting for it costs about 100 µs on
/// the 2-core VM of BENCHMARKS.md (waking a sleeping thread, then being woken), as long as the
/// weather LSTM's whole 14-step forward pass at batch 16 (1 M multiply-adds).
const MIN_PART_WORK: usize = 4 << 20;

/// How many runs of samples to split a batch of `batch` into for a scan over `time` steps with
/// recurrent kernel `[units, width]`: one per thread, each of at least [`MIN_PART`] samples and
/// [`MIN_PART_WORK`] multiply-adds.
fn part_count(batch: usize, time: usize, units: usize, width: usize) -> usize {
    let work = batch * time * units * width;
    rayon::current_num_threads()
        .min(batch / MIN_PART)
        .min(work / MIN_PART_WORK)
        .max(1)
}

/// Runs `scan` over `xw` (the inputs' projections, input bias included) with recurrent kernel
/// `u` and recurrent bias `bias` (GRU `reset_after`; ignored by the others), from the states
/// `init` (`[batch, states, units]`: `h`, then `c` for an LSTM), skipping masked steps: the
/// outputs in the order of the steps followed by the final states (`[batch, time + states,
/// units]`), and the tape.
///
/// The samples of a batch are independent until the backward pass sums their gradients, so
/// runs of them go to separate threads, each through every step (no step waits for another
/// thread).
pub(crate) fn forward(
    scan: &Scan,
    dims: Dims,
    xw: &[f32],
    u: &[f32],
    bias: &[f32],
    mask: &[f32],
    init: &[f32],
) -> (Vec<f32>, Tape) {
    let (n, w) = (scan.units, scan.gates() * scan.units);
    let parts = part_count(dims.batch, dims.time, n, w);
    forward_in(scan, dims, xw, u, bias, mask, init, parts)
}

/// [`forward`] in `parts` runs of samples (the last may be shorter).
#[allow(clippy::too_many_arguments)]
fn forward_in(
    scan: &Scan,
    dims: Dims,
    xw: &[f32],
    u: &[f32],
    bias: &[f32],
    mask: &[f32],
    init: &[f32],
    parts: usize,
) -> (Vec<f32>, Tape) {
    let Dims { batch, time } = dims;
    let n = scan.units;
    let (w, states) = (scan.gates() * n, scan.states());
    let rows = time + states;
    let chunk = batch.div_ceil(parts.max(1)).max(1);
    let mut out = vec![0.0f32; batch * rows * n];
    let part = |(k, out): (usize, &mut [f32])| {
        let (b0, nb) = (k * chunk, out.len() / (rows * n));
        let d = Dims { batch: nb, time };
        widest(ForwardPart {
            scan,
            dims: d,
            xw: &xw[b0 * time * w..][..nb * time * w],
            u,
            bias,
            mask: &mask[b0 * time..][..nb * time],
            init: &init[b0 * states * n..][..nb * states * n],
            out,
        })
    };
    let parts = if chunk >= batch {
        // one run (perhaps of no samples), on this thread
        vec![part((0, &mut out[..]))]
    } else {
        let runs: Vec<(usize, &mut [f32])> = out.chunks_mut(chunk * rows * n).enumerate().collect();
        map_items(runs, part)
    };
    (out, Tape { parts })
}

/// [`forward_part`]'s arguments, as a kernel compiled for each processor ([`widest`]): the
/// gates' activations take the widest vectors.
struct ForwardPart<'a> {
    scan: &'a Scan,
    dims: Dims,
    xw: &'a [f32],
    u: &'a [f32],
    bias: &'a [f32],
    mask: &'a [f32],
    init: &'a [f32],
    out: &'a mut [f32],
}

impl Kernel for ForwardPart<'_> {
    type Output = PartTape;

    #[inline(always)]
    fn run<I: Isa>(self) -> PartTape {
        let ForwardPart {
            scan,
            dims,
            xw,
            u,
            bias,
            mask,
            init,
            out,
        } = self;
        forward_part(scan, dims, xw, u, bias, mask, init, out)
    }
}

/// [`forward`] for one run of samples, its outputs written to `out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_part(
    scan: &Scan,
    dims: Dims,
    xw: &[f32],
    u: &[f32],
    bias: &[f32],
    mask: &[f32],
    init: &[f32],
    out: &mut [f32],
) -> PartTape {
    let _flush = FlushSubnormals::on_this_thread();
    let Dims { batch, time } = dims;
    let n = scan.units;
    let w = scan.gates() * n;
    let states = scan.states();
    let rows = time + states;
    let (act, rec) = (scan.activation, scan.recurrent_activation);
    let lstm = scan.cell == ScanCell::Lstm;
    // the states, `[batch, units]` each, from `init` `[batch, states, units]`
    let state = |k: usize| -> Vec<f32> {
        let rows = init.chunks_exact(states * n);
        rows.flat_map(|r| &r[k * n..][..n]).copied().collect()
    };
    let mut h = state(0);
    let mut c = if lstm { state(1) } else { Vec::new() };
    let mut r_all = vec![0.0f32; batch * w];
    let mut q = vec![0.0f32; batch * n];
    let mut tape = PartTape {
        batch,
        time,
        h_prev: vec![0.0; time * batch * n],
        c_prev: if lstm {
            vec![0.0; time * batch * n]
        } else {
            Vec::new()
        },
        gates: vec![0.0; time * batch * w],
        extra: vec![0.0; time * batch * n],
        mask: mask.to_vec(),
    };
    let mut h_new = vec![0.0f32; n];
    // whether a step of each sample has run yet
    let mut seen = vec![false; batch];
    // the gates that need no other product: z = x + h·U (+ the recurrent bias), activated
    let gated = match scan.cell {
        ScanCell::Simple => 0,
        ScanCell::Lstm => 4 * n,
        ScanCell::GruResetAfter | ScanCell::GruResetBefore => 2 * n,
    };
    for s in 0..time {
        let t = scan.time_of(s, time);
        let step = s * batch;
        tape.h_prev[step * n..(step + batch) * n].copy_from_slice(&h);
        if lstm {
            tape.c_prev[step * n..(step + batch) * n].copy_from_slice(&c);
        }
        r_all.fill(0.0);
        add_product(&h, batch, n, u, w, &mut r_all, w, w);
        for b in 0..batch {
            let x = &xw[(b * time + t) * w..][..gated];
            let ra = &r_all[b * w..][..gated];
            let gates = &mut tape.gates[(step + b) * w..][..gated];
            for ((g, &xv), &rv) in gates.iter_mut().zip(x).zip(ra) {
                *g = xv + rv;
            }
            if scan.cell == ScanCell::GruResetAfter {
                for (g, &bv) in gates.iter_mut().zip(bias) {
                    *g += bv;
                }
            }
            match scan.cell {
                ScanCell::Simple => {}
                ScanCell::Lstm => {
                    rec.apply(&mut gates[..2 * n]);
                    act.apply(&mut gates[2 * n..3 * n]);
                    rec.apply(&mut gates[3 * n..]);
                }
                ScanCell::GruResetAfter | ScanCell::GruResetBefore => rec.apply(gates),
            }
        }
        if scan.cell == ScanCell::GruResetBefore {
            // q = (r·h)·U_h
            let rh = &mut tape.extra[step * n..(step + batch) * n];
            for b in 0..batch {
                let r_gate = &tape.gates[(step + b) * w + n..][..n];
                let h_row = &h[b * n..][..n];
                for ((v, &r), &hv) in rh[b * n..][..n].iter_mut().zip(r_gate).zip(h_row) {
                    *v = r * hv;
                }
            }
            q.fill(0.0);
            add_product(rh, batch, n, &u[2 * n..], w, &mut q, n, n);
        }
        for b in 0..batch {
            let x = &xw[(b * time + t) * w..][..w];
            let ra = &r_all[b * w..][..w];
            let m = mask[b * time + t];
            let gates = &mut tape.gates[(step + b) * w..][..w];
            let extra = &mut tape.extra[(step + b) * n..][..n];
            let h_row = &mut h[b * n..][..n];
            match scan.cell {
                ScanCell::Simple => {
                    for ((g, &xv), &rv) in gates.iter_mut().zip(x).zip(ra) {
                        *g = xv + rv;
                    }
                    act.apply(gates);
                    h_new.copy_from_slice(gates);
                }
                ScanCell::Lstm => {
                    let [gi, gf, gg, go] = quarters(gates, n);
                    let c_row = &mut c[b * n..][..n];
                    // the new cell state, kept in `extra` until it is activated there
                    for (j, e) in extra.iter_mut().enumerate() {
                        *e = gf[j] * c_row[j] + gi[j] * gg[j];
                    }
                    for (cv, &cn) in c_row.iter_mut().zip(extra.iter()) {
                        *cv = m * cn + (1.0 - m) * *cv;
                    }
                    act.apply(extra);
                    for ((hn, &o), &e) in h_new.iter_mut().zip(go).zip(extra.iter()) {
                        *hn = o * e;
                    }
                }
                ScanCell::GruResetAfter | ScanCell::GruResetBefore => {
                    let (zr, hh) = gates.split_at_mut(2 * n);
                    let (z, r, hh) = (&zr[..n], &zr[n..][..n], &mut hh[..n]);
                    let xh = &x[2 * n..][..n];
                    if scan.cell == ScanCell::GruResetAfter {
                        let (rah, bh) = (&ra[2 * n..][..n], &bias[2 * n..][..n]);
                        for j in 0..n {
                            extra[j] = rah[j] + bh[j];
                            hh[j] = xh[j] + r[j] * extra[j];
                        }
                    } else {
                        let q_row = &q[b * n..][..n];
                        for j in 0..n {
                            hh[j] = xh[j] + q_row[j];
                        }
                    }
                    act.apply(hh);
                    for j in 0..n {
                        h_new[j] = z[j] * h_row[j] + (1.0 - z[j]) * hh[j];
                    }
                }
            }
            let o = &mut out[(b * rows + s) * n..][..n];
            // a masked step repeats the previous output, which is `h` once a step has run and
            // zeros before (Keras' `prev_output` starts at zeros, whatever the initial state)
            let repeat = !scan.zero_output_for_mask && seen[b];
            for ((ov, hv), &hn) in o.iter_mut().zip(h_row.iter_mut()).zip(&h_new) {
                let held = if repeat { *hv } else { 0.0 };
                *ov = m * hn + (1.0 - m) * held;
                *hv = m * hn + (1.0 - m) * *hv;
            }
            seen[b] |= m != 0.0;
        }
    }
    for b in 0..batch {
        out[(b * rows + time) * n..][..n].copy_from_slice(&h[b * n..][..n]);
        if lstm {
            out[(b * rows + time + 1) * n..][..n].copy_from_slice(&c[b * n..][..n]);
        }
    }
    tape
}

/// The gradients of a scan's `xw`, `u`, `bias` and initial states from the gradient `grad` of
/// its outputs and final states (`[batch, time + states, units]`), through every step back to
/// the first: each run of samples of the forward pass on its own thread, their gradients of
/// `u` and `bias` summed.
pub(crate) fn backward(scan: &Scan, tape: &Tape, u: &[f32], grad: &[f32]) -> Grads {
    let n = scan.units;
    let (w, states) = (scan.gates() * n, scan.states());
    let Some(first) = tape.parts.first() else {
        return Grads {
            xw: Vec::new(),
            u: vec![0.0; n * w],
            bias: vec![0.0; w],
            init: Vec::new(),
        };
    };
    let time = first.time;
    let rows = time + states;
    let batch: usize = tape.parts.iter().map(|p| p.batch).sum();
    let mut dxw = vec![0.0f32; batch * time * w];
    let mut dinit = vec![0.0f32; batch * states * n];
    // the parts' sizes: every one but the last has the first's
    let chunk = first.batch;
    // Uᵀ, `[width, units]`, for every run's products with it
    let u_t: Vec<f32> = (0..w * n).map(|k| u[(k % n) * w + k / n]).collect();
    let run = |k: usize, dxw: &mut [f32], dinit: &mut [f32], part: &PartTape| {
        let grad = &grad[k * chunk * rows * n..][..part.batch * rows * n];
        widest(BackwardPart {
            scan,
            tape: part,
            u_t: &u_t,
            grad,
            dxw,
            dinit,
        })
    };
    let sums: Vec<(Vec<f32>, Vec<f32>)> = if let [part] = &tape.parts[..] {
        // one run, on this thread (as in the forward pass)
        vec![run(0, &mut dxw, &mut dinit, part)]
    } else {
        let runs = dxw.chunks_mut(chunk * time * w);
        let runs = runs.zip(dinit.chunks_mut(chunk * states * n));
        let runs: Vec<_> = runs.zip(&tape.parts).enumerate().collect();
        map_items(runs, |(k, ((dxw, dinit), part))| run(k, dxw, dinit, part))
    };
    let mut sums = sums.into_iter();
    let (mut du, mut dbias) = sums.next().expect("one part at least");
    for (u_part, bias_part) in sums {
        du.iter_mut().zip(u_part).for_each(|(a, b)| *a += b);
        dbias.iter_mut().zip(bias_part).for_each(|(a, b)| *a += b);
    }
    Grads {
        xw: dxw,
        u: du,
        bias: dbias,
        init: dinit,
    }
}

/// [`backward_part`]'s arguments, as a kernel compiled for each processor ([`widest`]).
struct BackwardPart<'a> {
    scan: &'a Scan,
    tape: &'a PartTape,
    u_t: &'a [f32],
    grad: &'a [f32],
    dxw: &'a mut [f32],
    dinit: &'a mut [f32],
}

impl Kernel for BackwardPart<'_> {
    type Output = (Vec<f32>, Vec<f32>);

    #[inline(always)]
    fn run<I: Isa>(self) -> Self::Output {
        let BackwardPart {
            scan,
            tape,
            u_t,
            grad,
            dxw,
            dinit,
        } = self;
        backward_part(scan, tape, u_t, grad, dxw, dinit)
    }
}

/// [`backward`] for one run of samples, with the recurrent kernel's transpose `u_t`
/// `[width, units]`: its gradients of `xw` and the initial states written to `dxw` and
/// `dinit`, and its share of `u`'s and `bias`'s.
#[inline(always)]
fn backward_part(
    scan: &Scan,
    tape: &PartTape,
    u_t: &[f32],
    grad: &[f32],
    dxw: &mut [f32],
    dinit: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    // a gradient carried back through many steps by gates near one half decays into the
    // subnormal range (the spam BiGRU's first epoch took 11 to 14 s, its third 3 to 4 s)
    let _flush = FlushSubnormals::on_this_thread();
    let (batch, time) = (tape.batch, tape.time);
    let n = scan.units;
    let w = scan.gates() * n;
    let states = scan.states();
    let rows = time + states;
    let lstm = scan.cell == ScanCell::Lstm;
    let (act, rec) = (scan.activation, scan.recurrent_activation);
    // h_prevᵀ (or (r·h)ᵀ), `[units, batch]`, for the products with it
    let mut transposed = vec![0.0f32; n * batch];
    let mut du = vec![0.0f32; n * w];
    let mut dbias = vec![0.0f32; w];
    // the gradients of the states after the last step, `[batch, units]`: the final states'
    let final_grad = |k: usize| -> Vec<f32> {
        let rows = (0..batch).map(|b| &grad[(b * rows + time + k) * n..][..n]);
        rows.flatten().copied().collect()
    };
    let mut dh = final_grad(0);
    let mut dc = if lstm { final_grad(1) } else { Vec::new() };
    let mut dh_prev = vec![0.0f32; batch * n];
    // the gradient of the recurrent product's output, `h·U` (+ bias)
    let mut dr = vec![0.0f32; batch * w];
    // GRU without reset_after: the gradient of `q = (r·h)·U_h`
    let mut dq = vec![0.0f32; batch * n];
    // the gradient of one sample's new `h`
    let mut dh_new = vec![0.0f32; n];
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
        let h_prev = &tape.h_prev[step * n..][..batch * n];
        for b in 0..batch {
            let m = tape.mask[b * time + t];
            let gates = &tape.gates[(step + b) * w..][..w];
            let extra = &tape.extra[(step + b) * n..][..n];
            let g_out = &grad[(b * rows + s) * n..][..n];
            let dx = &mut dxw[(b * time + t) * w..][..w];
            let dr_row = &mut dr[b * w..][..w];
            let carried = &dh[b * n..][..n];
            // the gradient carried to the previous step: what a masked step passes on
            let back = &mut dh_prev[b * n..][..n];
            for (((dn, bk), &cr), &go) in dh_new
                .iter_mut()
                .zip(back.iter_mut())
                .zip(carried)
                .zip(g_out)
            {
                *dn = m * (go + cr);
                *bk = (1.0 - m) * cr;
            }
            if !scan.zero_output_for_mask && first[b] < s {
                // a masked step's output repeated the previous one
                for (bk, &go) in back.iter_mut().zip(g_out) {
                    *bk += (1.0 - m) * go;
                }
            }
            match scan.cell {
                ScanCell::Simple => {
                    for ((d, &dn), &g) in dx.iter_mut().zip(&dh_new).zip(gates) {
                        *d = dn * act.df(g);
                    }
                    dr_row.copy_from_slice(dx);
                }
                ScanCell::Lstm => {
                    let row = LstmRow {
                        m,
                        dh_new: &dh_new,
                        gates,
                        act_c: extra,
                        c_prev: &tape.c_prev[(step + b) * n..][..n],
                        n,
                    };
                    let dc_row = &mut dc[b * n..][..n];
                    // Keras' LSTM: tanh and sigmoid, specialized so that the loop vectorizes
                    if (act, rec) == (Act::Tanh, Act::Sigmoid) {
                        row.backward(dc_row, dx, |y| 1.0 - y * y, |y| y * (1.0 - y));
                    } else {
                        row.backward(dc_row, dx, |y| act.df(y), |y| rec.df(y));
                    }
                    dr_row.copy_from_slice(dx);
                }
                ScanCell::GruResetAfter | ScanCell::GruResetBefore => {
                    let (z, r, hh) = (&gates[..n], &gates[n..][..n], &gates[2 * n..][..n]);
                    let hp = &h_prev[b * n..][..n];
                    let (dxz, rest) = dx.split_at_mut(n);
                    let (dxr, dxh) = rest.split_at_mut(n);
                    let (dxh, dq_row) = (&mut dxh[..n], &mut dq[b * n..][..n]);
                    for j in 0..n {
                        let dn = dh_new[j];
                        back[j] += dn * z[j];
                        dxz[j] = dn * (hp[j] - hh[j]) * rec.df(z[j]);
                        dxh[j] = dn * (1.0 - z[j]) * act.df(hh[j]);
                    }
                    let (drz, rest) = dr_row.split_at_mut(n);
                    let (drr, drh) = rest.split_at_mut(n);
                    drz.copy_from_slice(dxz);
                    if scan.cell == ScanCell::GruResetAfter {
                        for j in 0..n {
                            let da = dxh[j];
                            dxr[j] = da * extra[j] * rec.df(r[j]);
                            drh[j] = da * r[j];
                        }
                        drr.copy_from_slice(dxr);
                    } else {
                        // the reset gate's gradient needs `da·U_hᵀ`: below
                        dq_row.copy_from_slice(dxh);
                        drr.fill(0.0);
                        drh.fill(0.0);
                    }
                }
            }
        }
        if scan.cell == ScanCell::GruResetBefore {
            // q = (r·h)·U_h: dU_h += (r·h)ᵀ·dq; d(r·h) = dq·U_hᵀ gives dr and dh
            transpose(&tape.extra[step * n..][..batch * n], n, &mut transposed);
            add_product(&transposed, n, batch, &dq, n, &mut du[2 * n..], w, n);
            let mut drh = vec![0.0f32; batch * n];
            // U_hᵀ: rows 2n.. of Uᵀ
            add_product(&dq, batch, n, &u_t[2 * n * n..], n, &mut drh, n, n);
            for b in 0..batch {
                let r = &tape.gates[(step + b) * w + n..][..n];
                let dx = &mut dxw[(b * time + t) * w + n..][..n];
                let dr_gate = &mut dr[b * w + n..][..n];
                let (hp, drh) = (&h_prev[b * n..][..n], &drh[b * n..][..n]);
                let back = &mut dh_prev[b * n..][..n];
                for j in 0..n {
                    dx[j] = drh[j] * hp[j] * rec.df(r[j]);
                    dr_gate[j] = dx[j];
                    back[j] += drh[j] * r[j];
                }
            }
        }
        // through the recurrent product: dU += h_prevᵀ·dr, dh_prev += dr·Uᵀ
        transpose(h_prev, n, &mut transposed);
        add_product(&transposed, n, batch, &dr, w, &mut du, w, w);
        add_product(&dr, batch, w, u_t, n, &mut dh_prev, n, n);
        if scan.cell == ScanCell::GruResetAfter {
            for dr_row in dr.chunks_exact(w) {
                for (d, &v) in dbias.iter_mut().zip(dr_row) {
                    *d += v;
                }
            }
        }
        std::mem::swap(&mut dh, &mut dh_prev);
    }
    // after the first step, `dh` and `dc` are the initial states' gradients
    for b in 0..batch {
        let row = &mut dinit[b * states * n..][..states * n];
        row[..n].copy_from_slice(&dh[b * n..][..n]);
        if lstm {
            row[n..].copy_from_slice(&dc[b * n..][..n]);
        }
    }
    (du, dbias)
}

/// One sample's step of an LSTM's backward pass: its mask value, the gradient of its new `h`,
/// its gates `[i, f, c̃, o]`, `act(c)` and the cell state before the step.
struct LstmRow<'a> {
    m: f32,
    dh_new: &'a [f32],
    gates: &'a [f32],
    act_c: &'a [f32],
    c_prev: &'a [f32],
    n: usize,
}

impl LstmRow<'_> {
    /// Writes the gates' gradients to `dx` and carries the cell state's gradient `dc` back
    /// through the step, with the activations' derivatives `d_act` and `d_rec` at their
    /// outputs.
    #[inline(always)]
    fn backward(
        &self,
        dc: &mut [f32],
        dx: &mut [f32],
        d_act: impl Fn(f32) -> f32,
        d_rec: impl Fn(f32) -> f32,
    ) {
        let (m, n) = (self.m, self.n);
        let [gi, gf, gg, go] = quarters(self.gates, n);
        let (dh_new, act_c, c_prev) = (&self.dh_new[..n], &self.act_c[..n], &self.c_prev[..n]);
        let (dxi, rest) = dx.split_at_mut(n);
        let (dxf, rest) = rest.split_at_mut(n);
        let (dxg, dxo) = rest.split_at_mut(n);
        let (dc, dxo) = (&mut dc[..n], &mut dxo[..n]);
        for j in 0..n {
            let (i, f, g, o, ac) = (gi[j], gf[j], gg[j], go[j], act_c[j]);
            let dc_new = m * dc[j] + dh_new[j] * o * d_act(ac);
            dc[j] = (1.0 - m) * dc[j] + dc_new * f;
            dxi[j] = dc_new * g * d_rec(i);
            dxf[j] = dc_new * c_prev[j] * d_rec(f);
            dxg[j] = dc_new * i * d_act(g);
            dxo[j] = dh_new[j] * ac * d_rec(o);
        }
    }
}

/// The four gates' slices (`n` values each) of an LSTM's `gates`.
fn quarters(gates: &[f32], n: usize) -> [&[f32]; 4] {
    std::array::from_fn(|k| &gates[k * n..][..n])
}

/// `to` = the transpose `[columns, rows]` of `from` `[rows, columns]`.
fn transpose(from: &[f32], columns: usize, to: &mut [f32]) {
    let rows = from.len() / columns;
    for (r, row) in from.chunks_exact(columns).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            to[c * rows + r] = v;
        }
    }
}

/// The gradients [`backward`] gives, each laid out as its tensor.
pub(crate) struct Grads {
    pub xw: Vec<f32>,
    pub u: Vec<f32>,
    pub bias: Vec<f32>,
    pub init: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-1, 1) from a counter, different for each `salt`.
    fn values(len: usize, salt: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + salt * 104_729) % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn a_batch_split_into_runs_of_samples_gives_the_scan_of_the_whole_batch() {
        let (batch, time, n) = (7, 5, 6);
        for cell in [
            ScanCell::Simple,
            ScanCell::Lstm,
            ScanCell::GruResetAfter,
            ScanCell::GruResetBefore,
        ] {
            for go_backwards in [false, true] {
                let scan = Scan {
                    cell,
                    units: n,
                    activation: Act::Tanh,
                    recurrent_activation: Act::Sigmoid,
                    go_backwards,
                    zero_output_for_mask: false,
                };
                let w = scan.gates() * n;
                let dims = Dims { batch, time };
                let xw = values(batch * time * w, 1);
                let u: Vec<f32> = values(n * w, 2).iter().map(|v| v * 0.5).collect();
                let bias = values(w, 3);
                // sample 2 starts masked, sample 5 has a hole
                let mut mask = vec![1.0f32; batch * time];
                mask[2 * time] = 0.0;
                mask[5 * time + 3] = 0.0;
                let init = values(batch * scan.states() * n, 4);
                let grad = values(batch * (time + scan.states()) * n, 5);
                let (whole, tape) = forward_in(&scan, dims, &xw, &u, &bias, &mask, &init, 1);
                let whole_grads = backward(&scan, &tape, &u, &grad);
                for parts in [2, 3, 7] {
                    let (split, tape) =
                        forward_in(&scan, dims, &xw, &u, &bias, &mask, &init, parts);
                    assert_eq!(tape.parts.len(), parts);
                    let grads = backward(&scan, &tape, &u, &grad);
                    let close = |a: &[f32], b: &[f32], what: &str| {
                        assert_eq!(a.len(), b.len(), "{cell:?} {what}");
                        for (i, (x, y)) in a.iter().zip(b).enumerate() {
                            assert!(
                                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                                "{cell:?}, backwards {go_backwards}, {parts} parts, {what}[{i}]: {x} vs {y}"
                            );
                        }
                    };
                    close(&split, &whole, "outputs");
                    close(&grads.xw, &whole_grads.xw, "dxw");
                    close(&grads.u, &whole_grads.u, "du");
                    close(&grads.bias, &whole_grads.bias, "dbias");
                    close(&grads.init, &whole_grads.init, "dinit");
                }
            }
        }
    }

    #[test]
    fn the_activations_match_the_standard_library() {
        let mut x = -100.0f32;
        while x <= 100.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            // the clamp to [-87.3, 88] keeps exp finite and above the subnormals
            let want = want.clamp(f64::from(-87.3f32).exp(), f64::from(88.0f32).exp());
            assert!(
                (got - want).abs() <= 3e-7 * want,
                "exp({x}): {got} vs {want}"
            );
            let t = f64::from(x).tanh();
            assert!((f64::from(tanh(x)) - t).abs() <= 3e-7, "tanh({x})");
            let sg = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!((f64::from(sigmoid(x)) - sg).abs() <= 3e-7, "sigmoid({x})");
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn a_batch_is_split_only_into_runs_of_eight_samples_and_enough_work() {
        let threads = rayon::current_num_threads();
        // the spam BiLSTM's scans: 32 samples, 200 steps, 32 units
        assert_eq!(part_count(32, 200, 32, 128), threads.min(4));
        assert_eq!(part_count(1, 200, 32, 128), 1);
        assert_eq!(part_count(MIN_PART * 2 - 1, 2000, 32, 128), 1);
        // the weather LSTM's: 14 steps, too short to hand to another thread
        assert_eq!(part_count(32, 14, 32, 128), 1);
    }
}
