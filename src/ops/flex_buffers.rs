//! Output buffers of kiln's burn-flex kernels: filled in parallel, chunk by chunk, so that no
//! serial pass zeroes a whole tensor before the kernels write it.

use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape};
use rayon::prelude::*;
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
    let mut values = Vec::<f32>::with_capacity(len);
    let each = |(i, raw): (usize, &mut [MaybeUninit<f32>])| {
        raw.fill(MaybeUninit::new(0.0));
        // SAFETY: every value of `raw` was just written, and `MaybeUninit<f32>` has the
        // layout of `f32`.
        let chunk = unsafe { &mut *(raw as *mut [MaybeUninit<f32>] as *mut [f32]) };
        fill(i, chunk);
    };
    let chunk_len = chunk_len.max(1);
    let raw = &mut values.spare_capacity_mut()[..len];
    if len <= chunk_len {
        // one chunk: no hand-over to the pool, which costs a wake-up from outside it
        raw.chunks_mut(chunk_len).enumerate().for_each(each);
    } else {
        raw.par_chunks_mut(chunk_len).enumerate().for_each(each);
    }
    // SAFETY: the chunks cover the first `len` values, and each was written above.
    unsafe { values.set_len(len) };
    values
}

/// ReLU over `values`, in place, for kernels that fuse it into their own pass: NaN stays NaN,
/// as in Burn's `relu`.
pub(super) fn relu_in_place(values: &mut [f32]) {
    values
        .iter_mut()
        .for_each(|v| *v = if v.is_nan() || *v > 0.0 { *v } else { 0.0 });
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
}
