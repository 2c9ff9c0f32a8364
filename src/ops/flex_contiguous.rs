//! Contiguous copies of strided f32 tensors for kiln's burn-flex kernels.
//!
//! Layers hand kiln's kernels permuted views: Conv2D's kernel is kept in Burn's layout
//! `[filters, channels, kh, kw]` and read as `[kh, kw, channels, filters]`. burn-flex copies a
//! permutation that does not reduce to a 2D transpose one value at a time through a general
//! index iterator, about 2.5 ns a value: 45 µs for the MNIST CNN's second kernel, a third of a
//! one-sample `predict`. Here the copy runs as nested loops over at most four axes.

use super::flex_buffers::{tensor, written};
use super::flex_kept::Kept;
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use std::mem::MaybeUninit;

/// Axes the nested loops cover; tensors of more axes go to burn-flex's copy.
const RANK: usize = 4;

/// `t` with contiguous row-major storage covering exactly its values: `t` itself (a cheap
/// clone) when it already is, else a copy. f32 views of up to four axes with non-negative
/// strides are copied here, the rest by burn-flex.
pub(super) fn contiguous(t: &FlexTensor) -> FlexTensor {
    let layout = t.layout();
    let (shape, strides) = (layout.shape(), layout.strides());
    let plain = t.is_contiguous() && layout.start_offset() == 0;
    if plain || t.dtype() != DType::F32 || shape.len() > RANK || strides.iter().any(|s| *s < 0) {
        return t.to_contiguous();
    }
    // pad to four axes at the front: size 1, stride 0
    let mut dims = [1usize; RANK];
    let mut steps = [0usize; RANK];
    let skip = RANK - shape.len();
    for (axis, (&size, &stride)) in shape.iter().zip(strides).enumerate() {
        dims[skip + axis] = size;
        steps[skip + axis] = stride as usize;
    }
    let src: &[f32] = t.storage();
    let base = layout.start_offset();
    let len: usize = dims.iter().product();
    // the output's row-major strides
    let mut out_steps = [1usize; RANK];
    for axis in (0..RANK - 1).rev() {
        out_steps[axis] = out_steps[axis + 1] * dims[axis + 1];
    }
    // Along the last axis the reads are strided unless its stride is 1; a copy in tiles of
    // `TILE` × `TILE` values, across the last axis and the one read with the smallest stride,
    // reads each cache line of the source once per tile rather than once per value.
    let near = (0..RANK - 1)
        .filter(|&axis| dims[axis] > 1)
        .min_by_key(|&axis| steps[axis])
        .unwrap_or(0);
    let copy = |out: &mut [MaybeUninit<f32>]| {
        let outer: Vec<usize> = (0..RANK - 1).filter(|&axis| axis != near).collect();
        let (p, q) = (outer.first().copied(), outer.get(1).copied());
        let size = |axis: Option<usize>| axis.map_or(1, |a| dims[a]);
        let step = |axis: Option<usize>, steps: &[usize; RANK]| axis.map_or(0, |a| steps[a]);
        for i in 0..size(p) {
            for j in 0..size(q) {
                let from = base + i * step(p, &steps) + j * step(q, &steps);
                let to = i * step(p, &out_steps) + j * step(q, &out_steps);
                for near_0 in (0..dims[near]).step_by(TILE) {
                    for last_0 in (0..dims[RANK - 1]).step_by(TILE) {
                        for n in near_0..(near_0 + TILE).min(dims[near]) {
                            let from = from + n * steps[near];
                            let to = to + n * out_steps[near];
                            for l in last_0..(last_0 + TILE).min(dims[RANK - 1]) {
                                out[to + l] = MaybeUninit::new(src[from + l * steps[RANK - 1]]);
                            }
                        }
                    }
                }
            }
        }
    };
    // SAFETY: the loops visit every index of the output once: `near`, the last axis and the
    // two others cover the four axes.
    let out = unsafe { written(len, len, |_, out| copy(out)) };
    tensor(out, shape.to_vec())
}

/// The side of the square tiles the copy works in: a tile's reads span `TILE` cache lines.
const TILE: usize = 16;

/// The most bytes of weights' copies [`contiguous_weight`] keeps (16 MiB), and of one copy.
const KEPT_BYTES: usize = 16 << 20;

/// The copies [`contiguous_weight`] keeps: at most 32.
static KEPT: Kept<FlexTensor> = Kept::new(KEPT_BYTES, 32);

/// [`contiguous`] for a layer's weight: a strided view's copy is kept ([`Kept`]) and given
/// again while the view's storage and layout are the same. Conv2D's kernel reaches the flex
/// kernels as a permutation of Burn's `[f, c, kh, kw]`: its copy was 18% of a one-sample CNN
/// `predict`.
pub(super) fn contiguous_weight(t: &FlexTensor) -> FlexTensor {
    let layout = t.layout();
    let plain = t.is_contiguous() && layout.start_offset() == 0;
    if plain || t.dtype() != DType::F32 || layout.num_elements() * 4 > KEPT_BYTES {
        return contiguous(t);
    }
    let copy = KEPT.get_or_make(t, || Some((contiguous(t), layout.num_elements() * 4)));
    copy.map_or_else(|| contiguous(t), |c| (*c).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::ops::FloatTensorOps;

    fn counting(dims: &[usize]) -> FlexTensor {
        let n = dims.iter().product();
        tensor((0..n).map(|v| v as f32).collect(), dims.to_vec())
    }

    #[test]
    fn every_permutation_of_four_axes_matches_burn_flex() {
        // axes longer than a tile, and ones of 1
        let dims = [18, 3, 1, 17];
        let permutations = (0..256usize)
            .map(|p| [p & 3, (p >> 2) & 3, (p >> 4) & 3, (p >> 6) & 3])
            .filter(|axes| (0..4).all(|a| axes.contains(&a)));
        let mut checked = 0;
        for axes in permutations {
            let view = Flex::float_permute(counting(&dims), &axes);
            let want: Vec<f32> = view.to_contiguous().storage::<f32>().to_vec();
            let got = contiguous(&view);
            assert_eq!(got.layout().shape(), view.layout().shape(), "{axes:?}");
            assert_eq!(got.storage::<f32>(), &want[..], "{axes:?}");
            checked += 1;
        }
        assert_eq!(checked, 24);
    }

    #[test]
    fn a_weight_copy_is_kept_while_its_storage_is_unchanged() {
        let weight = counting(&[5, 4, 3, 2]);
        let view = Flex::float_permute(weight.clone(), &[2, 3, 1, 0]);
        let want: Vec<f32> = view.to_contiguous().storage::<f32>().to_vec();
        let first = contiguous_weight(&view);
        assert_eq!(first.storage::<f32>(), &want[..]);
        // the same view again: the kept copy itself
        let again = contiguous_weight(&Flex::float_permute(weight.clone(), &[2, 3, 1, 0]));
        assert!(std::ptr::eq(again.storage::<f32>(), first.storage::<f32>()));
        // another layout of the same storage is another copy
        let other = contiguous_weight(&Flex::float_permute(weight.clone(), &[3, 2, 1, 0]));
        let want_other = Flex::float_permute(weight.clone(), &[3, 2, 1, 0]).to_contiguous();
        assert_eq!(other.storage::<f32>(), want_other.storage::<f32>());
        // a write to the weight, as an optimizer's, goes to a new buffer while a copy is kept,
        // and the new values are copied again
        let mut updated = weight;
        updated.storage_mut::<f32>()[0] = 1000.0;
        let view = Flex::float_permute(updated, &[2, 3, 1, 0]);
        let fresh = contiguous_weight(&view);
        assert_eq!(fresh.storage::<f32>()[0], 1000.0);
        assert_eq!(first.storage::<f32>()[0], 0.0);
    }

    #[test]
    fn a_slice_with_an_offset_copies_only_its_values() {
        let view = Flex::float_slice(
            counting(&[4, 6]),
            &[
                burn::backend::Slice::new(1, Some(3), 1),
                burn::backend::Slice::new(2, Some(5), 1),
            ],
        );
        let got = contiguous(&view);
        assert_eq!(got.storage::<f32>(), [8.0, 9.0, 10.0, 14.0, 15.0, 16.0]);
    }

    #[test]
    fn a_contiguous_tensor_is_returned_as_it_is() {
        let t = counting(&[2, 3]);
        assert_eq!(contiguous(&t).storage::<f32>(), t.storage::<f32>());
    }
}
