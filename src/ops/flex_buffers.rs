//! Output buffers of kiln's burn-flex kernels: filled in parallel, chunk by chunk, so that no
//! serial pass zeroes a whole tensor before the kernels write it.

use super::simd::{Isa, Kernel, LANES, widest};
pub(super) use crate::backend::each_chunk;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape};
use std::mem::MaybeUninit;

/// A contiguous f32 tensor of `dims` holding `values`.
pub(super) fn tensor(values: Vec<f32>, dims: Vec<usize>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(dims)),
        DType::F32,
    )
}

/// `len` values built by `fill(i, chunk)` for each chunk `i` of `chunk_len` values (the last
/// may be shorter), in parallel. Each chunk is zeroed just before `fill` gets it, while it is
/// in the thread's cache.
pub(super) fn filled(
    len: usize,
    chunk_len: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let zero_then_fill = |i, raw: &mut [MaybeUninit<f32>]| {
        raw.fill(MaybeUninit::new(0.0));
        // SAFETY: every value of `raw` was just written, and `MaybeUninit<f32>` has the
        // layout of `f32`.
        fill(i, unsafe {
            &mut *(raw as *mut [MaybeUninit<f32>] as *mut [f32])
        });
    };
    // SAFETY: `zero_then_fill` writes every value of its chunk.
    unsafe { written(len, chunk_len, zero_then_fill) }
}

/// `len` values written by `write(i, chunk)` for each chunk `i` of `chunk_len` values (the last
/// may be shorter), in parallel, for kernels that write every value of their chunk once and
/// need no zeroing pass first.
///
/// # Safety
/// `write` must write every value of the chunk it gets: the values it leaves are returned
/// uninitialized. Debug and unit-test builds check this and panic.
pub(super) unsafe fn written(
    len: usize,
    chunk_len: usize,
    write: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    let mut values = Vec::<f32>::with_capacity(len);
    let each = |(i, raw): (usize, &mut [MaybeUninit<f32>])| {
        if cfg!(any(debug_assertions, test)) {
            // a NaN with a payload no kernel computes: left behind, it names an unwritten value
            raw.fill(MaybeUninit::new(UNWRITTEN));
            write(i, raw);
            // SAFETY: every value was written just above, so all of them are initialized.
            let values = unsafe { &*(raw as *const [MaybeUninit<f32>] as *const [f32]) };
            let missed = values
                .iter()
                .position(|v| v.to_bits() == UNWRITTEN.to_bits());
            assert!(
                missed.is_none(),
                "chunk {i}: value {missed:?} left unwritten"
            );
        } else {
            write(i, raw);
        }
    };
    each_chunk(
        &mut values.spare_capacity_mut()[..len],
        chunk_len,
        |i, chunk| each((i, chunk)),
    );
    // SAFETY: the chunks cover the first `len` values, and `write` wrote each of them (the
    // caller's promise).
    unsafe { values.set_len(len) };
    values
}

/// What [`written`] fills a chunk with in debug builds, to find values a kernel left unwritten.
const UNWRITTEN: f32 = f32::from_bits(0x7fa5_a5a5);

/// ReLU over `values`, in place, for kernels that fuse it into their own pass: NaN stays NaN,
/// as in Burn's `relu`. In the widest vectors the processor has.
pub(super) fn relu_in_place(values: &mut [f32]) {
    widest(Relu(values));
}

/// Adds `bias` to each row of `values` (rows of `bias.len()`), then ReLU when `relu` is set,
/// in place: the pass after a matrix product that wrote `values` without a bias.
pub(super) fn add_bias_relu(values: &mut [f32], bias: &[f32], relu: bool) {
    widest(BiasRelu { values, bias, relu });
}

/// [`add_bias_relu`], [`LANES`] values at a time.
struct BiasRelu<'a> {
    values: &'a mut [f32],
    bias: &'a [f32],
    relu: bool,
}

impl Kernel for BiasRelu<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        let BiasRelu { values, bias, relu } = self;
        let (bias_blocks, bias_rest) = bias.as_chunks::<LANES>();
        for row in values.chunks_exact_mut(bias.len().max(1)) {
            let (blocks, rest) = row.as_chunks_mut::<LANES>();
            for (block, b) in blocks.iter_mut().zip(bias_blocks) {
                let mut v: [f32; LANES] = std::array::from_fn(|l| block[l] + b[l]);
                if relu {
                    v = v.map(relu_one);
                }
                *block = v;
            }
            for (v, b) in rest.iter_mut().zip(bias_rest) {
                *v += b;
                if relu {
                    *v = relu_one(*v);
                }
            }
        }
    }
}

/// ReLU of one value: NaN stays NaN, as in Burn's `relu`.
#[inline(always)]
pub(super) fn relu_one(v: f32) -> f32 {
    if v <= 0.0 { 0.0 } else { v }
}

/// ReLU in place, [`LANES`] values at a time.
struct Relu<'a>(&'a mut [f32]);

impl Kernel for Relu<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        let (blocks, rest) = self.0.as_chunks_mut::<LANES>();
        for block in blocks {
            *block = block.map(relu_one);
        }
        rest.iter_mut().for_each(|v| *v = relu_one(*v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_zeroed_then_filled_in_order() {
        let v = filled(10, 4, |i, chunk| {
            assert!(chunk.iter().all(|v| *v == 0.0));
            chunk[0] = i as f32 + 1.0;
        });
        assert_eq!(v, [1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
        assert!(filled(0, 4, |_, _| unreachable!()).is_empty());
    }

    #[test]
    fn relu_keeps_positives_and_nan_and_zeroes_the_rest() {
        let mut v: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
        v[3] = f32::NAN;
        v[10] = -0.0;
        relu_in_place(&mut v);
        assert!(v[3].is_nan());
        for (i, v) in v.iter().enumerate().filter(|(i, _)| *i != 3) {
            let want = (i as f32 - 18.0).max(0.0);
            assert!(*v == want && v.is_sign_positive(), "{i}: {v}");
        }
    }

    #[test]
    fn bias_then_relu_row_by_row() {
        // rows of 19: a block of 16 and 3 one by one
        let bias: Vec<f32> = (0..19).map(|i| i as f32 - 9.0).collect();
        for relu in [false, true] {
            let mut v: Vec<f32> = (0..38).map(|i| (i % 5) as f32).collect();
            add_bias_relu(&mut v, &bias, relu);
            for (i, v) in v.iter().enumerate() {
                let sum = (i % 5) as f32 + bias[i % 19];
                let want = if relu { sum.max(0.0) } else { sum };
                assert_eq!(*v, want, "relu {relu}, value {i}");
            }
        }
    }

    #[test]
    fn written_chunks_are_returned_as_written() {
        // SAFETY: each chunk's every value is written.
        let v = unsafe {
            written(5, 2, |i, chunk| {
                chunk.iter_mut().for_each(|v| {
                    v.write(i as f32);
                })
            })
        };
        assert_eq!(v, [0.0, 0.0, 1.0, 1.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "left unwritten")]
    fn a_value_left_unwritten_is_caught_in_tests() {
        // SAFETY: not kept: the check panics before `written` returns.
        let _ = unsafe {
            written(4, 4, |_, chunk| {
                chunk[0].write(1.0);
            })
        };
    }
}
