//! Thin convolutions for burn-flex: those whose patch holds at most [`THIN_PATCH`] values, as
//! the first layer of an image model has (3×3 over one channel: 9; over RGB: 27).
//!
//! A matrix product with 9 columns on one side leaves gemm's tiles mostly empty and costs more
//! to pack than to compute, and an im2col of one-channel images copies three values at a
//! time. Here each patch is gathered by precomputed offsets and multiplied by the kernel in
//! registers, a block of filters at a time, in the widest vectors the processor has.

use super::conv2d_flex::Geometry;
use super::flex_buffers::relu_one;
use super::simd::{Isa, Kernel, LANES};
use std::mem::MaybeUninit;

/// The most values a patch may hold for a convolution to take this path.
pub(super) const THIN_PATCH: usize = 32;

/// Where a patch's values lie in one image, for patches away from the padding.
pub(super) struct Patches<'a> {
    g: &'a Geometry,
    /// The offset of each patch value from the patch's first input pixel.
    offsets: Vec<usize>,
}

impl<'a> Patches<'a> {
    pub(super) fn new(g: &'a Geometry) -> Patches<'a> {
        let mut offsets = Vec::with_capacity(g.k());
        for i in 0..g.kh {
            for j in 0..g.kw {
                let pixel = (i * g.dilation[0] * g.w + j * g.dilation[1]) * g.c;
                offsets.extend((0..g.c).map(|ch| pixel + ch));
            }
        }
        Patches { g, offsets }
    }

    /// Writes the patches of output lines `lines` of image `image` (`[h, w, c]`) into `col`,
    /// one row of `k` values per output pixel.
    pub(super) fn gather(&self, image: &[f32], lines: std::ops::Range<usize>, col: &mut [f32]) {
        let mut rows = col.chunks_exact_mut(self.g.k());
        for oy in lines {
            for ox in 0..self.g.ow {
                // `col` holds k values for each of the lines × ow patches this loop visits
                let row = rows.next().expect("the buffer holds the block");
                self.patch(image, oy, ox, row);
            }
        }
    }

    /// Where output pixel (`oy`, `ox`)'s patch starts in an image, when none of it lies in the
    /// padding.
    #[inline(always)]
    fn interior(&self, oy: usize, ox: usize) -> Option<usize> {
        let g = self.g;
        let span = |axis: usize, k: usize| g.dilation[axis] * (k - 1) + 1;
        let top = (oy * g.stride[0]).checked_sub(g.pad[0])?;
        let left = (ox * g.stride[1]).checked_sub(g.pad[1])?;
        let inside = top + span(0, g.kh) <= g.h && left + span(1, g.kw) <= g.w;
        inside.then_some((top * g.w + left) * g.c)
    }

    /// Writes output pixel (`oy`, `ox`)'s patch of `image` into `row`.
    #[inline(always)]
    fn patch(&self, image: &[f32], oy: usize, ox: usize, row: &mut [f32]) {
        match self.interior(oy, ox) {
            Some(first) => {
                let first = &image[first..];
                for (v, &at) in row.iter_mut().zip(&self.offsets) {
                    *v = first[at];
                }
            }
            None => self.gather_padded(image, oy, ox, row),
        }
    }

    /// One patch that reaches into the padding, value by value.
    fn gather_padded(&self, image: &[f32], oy: usize, ox: usize, row: &mut [f32]) {
        let g = self.g;
        for (t, pixel) in row.chunks_exact_mut(g.c).enumerate() {
            match g.source(oy, ox, t / g.kw, t % g.kw) {
                Some((iy, ix)) => pixel.copy_from_slice(&image[(iy * g.w + ix) * g.c..][..g.c]),
                None => pixel.fill(0.0),
            }
        }
    }
}

/// The patches of output lines `lines` of one image (`[h, w, c]`) times `weight` (`[k, f]`),
/// plus `bias`, through ReLU when `relu` is set, written to `out` (`[lines × ow, f]`). Runs of
/// [`ROWS`] pixels away from the padding are read from the image where they lie; other pixels
/// are gathered one at a time.
pub(super) struct Project<'a> {
    pub(super) patches: &'a Patches<'a>,
    pub(super) image: &'a [f32],
    pub(super) lines: std::ops::Range<usize>,
    pub(super) weight: &'a [f32],
    pub(super) bias: &'a [f32],
    pub(super) relu: bool,
    pub(super) out: &'a mut [MaybeUninit<f32>],
}

impl Kernel for Project<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        let Project {
            patches,
            image,
            lines,
            weight,
            bias,
            relu,
            out,
        } = self;
        let g = patches.g;
        let (k, f) = (g.k(), bias.len());
        let whole = f / LANES * LANES;
        // from one output pixel's patch to the next one's in the same line
        let step = g.stride[1] * g.c;
        let mut buffer = [0.0f32; THIN_PATCH];
        let mut pixels = out.chunks_exact_mut(f);
        for oy in lines {
            let mut ox = 0;
            while ox < g.ow {
                let run = (ox + ROWS <= g.ow)
                    .then(|| {
                        patches
                            .interior(oy, ox + ROWS - 1)
                            .and(patches.interior(oy, ox))
                    })
                    .flatten();
                let Some(start) = run else {
                    let dst = pixels.next().expect("out holds the lines");
                    let patch = &mut buffer[..k];
                    patches.patch(image, oy, ox, patch);
                    for first in (0..whole).step_by(LANES) {
                        project::<LANES, I>(patch, weight, bias, relu, first, dst);
                    }
                    for filter in whole..f {
                        project::<1, I>(patch, weight, bias, relu, filter, dst);
                    }
                    ox += 1;
                    continue;
                };
                let mut dst: [&mut [MaybeUninit<f32>]; ROWS] =
                    std::array::from_fn(|_| pixels.next().expect("out holds the lines"));
                let value = |r: usize, t: usize| image[start + r * step + patches.offsets[t]];
                for first in (0..whole).step_by(LANES) {
                    project_rows::<I>(value, k, weight, bias, relu, first, &mut dst);
                }
                for (r, dst) in dst.iter_mut().enumerate().filter(|_| whole < f) {
                    let patch = &mut buffer[..k];
                    patches.patch(image, oy, ox + r, patch);
                    for filter in whole..f {
                        project::<1, I>(patch, weight, bias, relu, filter, dst);
                    }
                }
                ox += ROWS;
            }
        }
    }
}

/// Output pixels projected at once: their accumulators are independent, so that the
/// multiply-adds of one pixel need not wait for each other's results.
const ROWS: usize = 4;

/// Filters `first..first + LANES` of [`ROWS`] output pixels, whose patch value `t` is
/// `value(pixel, t)`, kept in registers over the patches.
#[inline(always)]
fn project_rows<I: Isa>(
    value: impl Fn(usize, usize) -> f32,
    k: usize,
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    first: usize,
    dst: &mut [&mut [MaybeUninit<f32>]; ROWS],
) {
    let f = bias.len();
    let b: [f32; LANES] = bias[first..first + LANES]
        .try_into()
        .expect("LANES filters");
    let mut acc = [b; ROWS];
    for t in 0..k {
        let w: [f32; LANES] = weight[t * f + first..][..LANES]
            .try_into()
            .expect("LANES filters");
        for (r, acc) in acc.iter_mut().enumerate() {
            let p = value(r, t);
            for l in 0..LANES {
                acc[l] = I::mul_add(p, w[l], acc[l]);
            }
        }
    }
    for (mut acc, dst) in acc.into_iter().zip(dst.iter_mut()) {
        if relu {
            acc = acc.map(relu_one);
        }
        for (d, v) in dst[first..first + LANES].iter_mut().zip(acc) {
            d.write(v);
        }
    }
}

/// Filters `first..first + N` of one output pixel, kept in registers over the patch.
#[inline(always)]
fn project<const N: usize, I: Isa>(
    patch: &[f32],
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    first: usize,
    dst: &mut [MaybeUninit<f32>],
) {
    let f = bias.len();
    let mut acc: [f32; N] = bias[first..first + N].try_into().expect("N filters");
    for (t, &p) in patch.iter().enumerate() {
        let w: [f32; N] = weight[t * f + first..][..N].try_into().expect("N filters");
        for l in 0..N {
            acc[l] = I::mul_add(p, w[l], acc[l]);
        }
    }
    if relu {
        acc = acc.map(relu_one);
    }
    for (d, v) in dst[first..first + N].iter_mut().zip(acc) {
        d.write(v);
    }
}

/// Adds `colᵀ · dy` to `dw` (`[k, f]`): the weight gradient of one block of `rows` patches
/// (`col`, `[rows, k]`) whose output gradient is `dy` (`[rows, f]`).
pub(super) struct WeightGrad<'a> {
    pub(super) col: &'a [f32],
    pub(super) k: usize,
    pub(super) dy: &'a [f32],
    pub(super) dw: &'a mut [f32],
}

/// Patch values whose weight gradients one pass over a block's rows sums at once.
const GROUP: usize = 4;

impl Kernel for WeightGrad<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        let WeightGrad { col, k, dy, dw } = self;
        let f = dw.len() / k.max(1);
        let mut first = 0;
        while first + LANES <= f {
            by_groups::<LANES, I>(col, k, dy, dw, first);
            first += LANES;
        }
        for filter in first..f {
            by_groups::<1, I>(col, k, dy, dw, filter);
        }
    }
}

/// Filters `first..first + N` of the weight gradient, [`GROUP`] patch values at a time.
#[inline(always)]
fn by_groups<const N: usize, I: Isa>(
    col: &[f32],
    k: usize,
    dy: &[f32],
    dw: &mut [f32],
    first: usize,
) {
    let mut t = 0;
    while t + GROUP <= k {
        sum_group::<N, GROUP, I>(col, k, dy, dw, first, t);
        t += GROUP;
    }
    while t < k {
        sum_group::<N, 1, I>(col, k, dy, dw, first, t);
        t += 1;
    }
}

/// `dw[t + j][first..first + N] += Σ_rows col[row][t + j] · dy[row][first..first + N]` for each
/// `j < G`, the sums kept in registers over the rows.
#[inline(always)]
fn sum_group<const N: usize, const G: usize, I: Isa>(
    col: &[f32],
    k: usize,
    dy: &[f32],
    dw: &mut [f32],
    first: usize,
    t: usize,
) {
    let f = dw.len() / k;
    let mut acc = [[0.0f32; N]; G];
    for (patch, d) in col.chunks_exact(k).zip(dy.chunks_exact(f)) {
        let d: [f32; N] = d[first..first + N].try_into().expect("N filters");
        let p: [f32; G] = patch[t..t + G].try_into().expect("G values");
        for j in 0..G {
            for l in 0..N {
                acc[j][l] = I::mul_add(p[j], d[l], acc[j][l]);
            }
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        let row = &mut dw[(t + j) * f + first..][..N];
        row.iter_mut().zip(acc).for_each(|(w, a)| *w += a);
    }
}

#[cfg(test)]
mod tests {
    use super::super::simd::widest;
    use super::*;
    use crate::ops::conv2d_flex::Geometry;

    /// `[rows, k] · [k, f]` by hand.
    fn product(a: &[f32], b: &[f32], [rows, k, f]: [usize; 3]) -> Vec<f32> {
        let mut out = vec![0.0f32; rows * f];
        for r in 0..rows {
            for t in 0..k {
                for c in 0..f {
                    out[r * f + c] += a[r * k + t] * b[t * f + c];
                }
            }
        }
        out
    }

    /// The geometry of a convolution of `[1, h, w, c]` by `[kh, kw, c, f]`.
    fn geometry(
        [h, w, c]: [usize; 3],
        [kh, kw, f]: [usize; 3],
        stride: [usize; 2],
        pad: [usize; 2],
    ) -> Geometry {
        let out =
            |size: usize, k: usize, axis: usize| (size + 2 * pad[axis] - k) / stride[axis] + 1;
        Geometry {
            n: 1,
            h,
            w,
            c,
            kh,
            kw,
            f,
            oh: out(h, kh, 0),
            ow: out(w, kw, 1),
            stride,
            dilation: [1, 1],
            pad,
        }
    }

    #[test]
    fn projection_and_weight_gradient_match_products_by_hand() {
        // 37 filters: two blocks of 16 and five one by one; 9 patch values: two groups and
        // one. Lines of 9, 7 and 4 pixels: runs of four and pixels alone, padded edges
        // (gathered) and, with stride 2, runs read from the image with a step of two pixels.
        let cases = [
            ([11, 11, 1], [3, 3, 37], [1, 1], [0, 0]),
            ([9, 9, 3], [3, 3, 16], [1, 1], [1, 1]),
            ([9, 10, 1], [2, 3, 19], [2, 2], [0, 1]),
            ([6, 6, 1], [1, 1, 3], [1, 1], [0, 0]),
        ];
        for (input, kernel, stride, pad) in cases {
            let g = geometry(input, kernel, stride, pad);
            let (k, f) = (g.k(), g.f);
            let rows = g.oh * g.ow;
            let image: Vec<f32> = (0..g.h * g.w * g.c).map(|v| (v % 7) as f32 - 3.0).collect();
            let weight: Vec<f32> = (0..k * f).map(|v| (v % 5) as f32 * 0.5 - 1.0).collect();
            let bias: Vec<f32> = (0..f).map(|v| v as f32 * 0.25 - 2.0).collect();
            let patches = Patches::new(&g);
            let mut col = vec![0.0f32; rows * k];
            patches.gather(&image, 0..g.oh, &mut col);
            let mut want = product(&col, &weight, [rows, k, f]);
            want.iter_mut()
                .zip(bias.iter().cycle())
                .for_each(|(v, b)| *v = (*v + b).max(0.0));
            let mut out = vec![MaybeUninit::new(f32::NAN); rows * f];
            widest(Project {
                patches: &patches,
                image: &image,
                lines: 0..g.oh,
                weight: &weight,
                bias: &bias,
                relu: true,
                out: &mut out,
            });
            // SAFETY: every value was initialized (to NaN) above, and overwritten.
            let got: Vec<f32> = out.iter().map(|v| unsafe { v.assume_init() }).collect();
            assert_eq!(got, want, "{input:?} by {kernel:?}");

            let dy: Vec<f32> = (0..rows * f).map(|v| (v % 3) as f32 - 1.0).collect();
            let transposed: Vec<f32> = (0..k * rows)
                .map(|i| col[(i % rows) * k + i / rows])
                .collect();
            let mut want = product(&transposed, &dy, [k, rows, f]);
            want.iter_mut().for_each(|v| *v += 1.0);
            let mut dw = vec![1.0f32; k * f];
            widest(WeightGrad {
                col: &col,
                k,
                dy: &dy,
                dw: &mut dw,
            });
            assert_eq!(dw, want, "{input:?} by {kernel:?}");
        }
    }
}
