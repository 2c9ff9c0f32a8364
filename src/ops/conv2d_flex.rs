//! kiln's channels-last Conv2D kernels for burn-flex: im2col and gemm, blocked by output lines.
//!
//! The output rows of a block (`[pixels, filters]`) are contiguous in a channels-last output,
//! so one matrix product writes them in place, bias included. The weight gradient sums the
//! blocks of a fixed partition in a fixed order, so results do not depend on thread timing.

use super::conv2d::{ConvNhwc, Gradients, backward_by_burn, by_burn_conv2d};
use super::conv2d_pool_flex;
use super::conv2d_thin::{Patches, Project, THIN_PATCH, WeightGrad};
use super::flex_buffers::{add_bias_relu, each_chunk, filled, tensor, written};
use super::flex_contiguous::{contiguous, contiguous_weight};
use super::flex_gemm::{matmul, matmul_into};
use super::flex_kept::Kept;
use super::packed::{Packed, Segment};
use super::simd::widest;
use crate::backend::map_items;
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
use burn::backend::ops::ConvOptions;
use burn::tensor::DType;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// About how many output pixels one im2col block holds.
const BLOCK_ROWS: usize = 256;

/// The fewest blocks a convolution splits into, where its output has enough lines: fixed (not
/// the number of threads), so that the weight gradient's partition is too.
const MIN_BLOCKS: usize = 8;

/// Below this many multiply-adds, a convolution's forward pass runs on the calling thread.
const SERIAL_WORK: usize = 1 << 17;

/// How many partial weight gradients are summed: fixed, so that the sum's order is too.
const PARTIALS: usize = 16;

impl ConvNhwc for Flex {
    /// Called outside autodiff (`predict`, `evaluate`): the weight is steady.
    fn conv2d_nhwc(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FlexTensor {
        convolve(x, weight, bias, options, relu, true)
    }

    fn conv2d_nhwc_max_pool(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
        relu: bool,
        pool: [usize; 2],
    ) -> FlexTensor {
        conv2d_pool_flex::conv_max_pool(x, weight, bias, options, relu, pool)
    }

    fn conv2d_nhwc_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: ConvOptions<2>,
        wanted: [bool; 3],
    ) -> Gradients<Flex> {
        backward(x, weight, grad, None, options, wanted)
    }

    fn conv2d_nhwc_relu_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        output: FlexTensor,
        options: ConvOptions<2>,
        wanted: [bool; 3],
    ) -> Gradients<Flex> {
        backward(x, weight, grad, Some(output), options, wanted)
    }
}

/// The kernels [`packed_weight`] packed, at most 64 MiB and 32 of them.
static PACKED: Kept<Packed> = Kept::new(64 << 20, 32);

/// `weight`'s `[kh · kw · c, f]` matrix packed in panels, kept while the weight is unchanged
/// ([`Kept`]): for convolutions in inference, where the weight is read again unchanged by every
/// call. `None` where the blocks would not use it (a thin convolution whose patches cannot be
/// read in place keeps its own projection) or the processor cannot multiply packed panels.
pub(super) fn packed_weight(g: &Geometry, weight: &FlexTensor) -> Option<Arc<Packed>> {
    if g.thin() && g.segments().is_none() {
        return None;
    }
    PACKED.get_or_make(weight, || {
        let packed = Packed::new(contiguous(weight).storage(), g.k(), g.f)?;
        let bytes = packed.bytes();
        Some((packed, bytes))
    })
}

/// kiln's convolution on burn-flex, `[n, oh, ow, f]`. With `steady` (inference, outside
/// autodiff), an im2col convolution multiplies by its kernel packed once ([`packed_weight`]);
/// in training each step's kernel is new, and packing it would cost a copy per step.
pub(super) fn convolve(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    options: ConvOptions<2>,
    relu: bool,
    steady: bool,
) -> FlexTensor {
    let f32s = [&x, &weight, &bias].iter().all(|t| t.dtype() == DType::F32);
    if !f32s || options.groups != 1 {
        let out = by_burn_conv2d::<Flex>(x, weight, bias, options);
        return if relu { Flex::relu(out) } else { out };
    }
    let g = Geometry::new(&x, &weight, &options);
    let packed = steady.then(|| packed_weight(&g, &weight)).flatten();
    let (x, weight) = (contiguous(&x), contiguous_weight(&weight));
    let bias = contiguous(&bias);
    let blocks = Blocks::new(&g, x.storage(), weight.storage(), bias.storage(), relu)
        .with_packed(packed.as_deref());
    let out = forward(&g, &blocks);
    tensor(out, vec![g.n, g.oh, g.ow, g.f])
}

/// The gradients, with the output's gradient masked by `relu_output`'s zeros when it is given.
fn backward(
    x: FlexTensor,
    weight: FlexTensor,
    grad: FlexTensor,
    relu_output: Option<FlexTensor>,
    options: ConvOptions<2>,
    wanted: [bool; 3],
) -> Gradients<Flex> {
    let tensors = [Some(&x), Some(&weight), Some(&grad), relu_output.as_ref()];
    let f32s = tensors.iter().flatten().all(|t| t.dtype() == DType::F32);
    if !f32s || options.groups != 1 {
        let grad = match relu_output {
            Some(out) => Flex::relu_backward(out, grad),
            None => grad,
        };
        return backward_by_burn::<Flex>(x, weight, grad, options, wanted);
    }
    let g = Geometry::new(&x, &weight, &options);
    let (x, weight, grad) = (
        contiguous(&x),
        contiguous_weight(&weight),
        contiguous(&grad),
    );
    let relu_output = relu_output.map(|out| contiguous(&out));
    let grad = Grad {
        values: grad.storage(),
        relu_output: relu_output.as_ref().map(|out| out.storage()),
    };
    let [want_x, want_weight, want_bias] = wanted;
    let dx = want_x.then(|| {
        let dx = input_grad(&g, weight.storage(), grad);
        tensor(dx, vec![g.n, g.h, g.w, g.c])
    });
    let (dw, db) = if want_weight || want_bias {
        let (dw, db) = weight_grads(&g, x.storage(), grad, want_weight);
        (
            want_weight.then(|| tensor(dw, vec![g.kh, g.kw, g.c, g.f])),
            want_bias.then(|| tensor(db, vec![g.f])),
        )
    } else {
        (None, None)
    };
    (dx, dw, db)
}

/// The sizes of one convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) n: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) c: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) f: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) stride: [usize; 2],
    pub(super) dilation: [usize; 2],
    /// Top and left padding.
    pub(super) pad: [usize; 2],
}

impl Geometry {
    pub(super) fn new(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Geometry {
        let xs = x.layout().shape();
        let ws = weight.layout().shape();
        let (n, h, w, c) = (xs[0], xs[1], xs[2], xs[3]);
        let (kh, kw, f) = (ws[0], ws[1], ws[3]);
        let out = |i: usize, size: usize, k: usize| {
            let (begin, end) = options.padding[i];
            let span = options.dilation[i] * (k - 1) + 1;
            (size + begin + end - span) / options.stride[i] + 1
        };
        Geometry {
            n,
            h,
            w,
            c,
            kh,
            kw,
            f,
            oh: out(0, h, kh),
            ow: out(1, w, kw),
            stride: options.stride,
            dilation: options.dilation,
            pad: options.padding_begin(),
        }
    }

    /// Whether a patch is small enough for [`conv2d_thin`](super::conv2d_thin)'s kernels.
    pub(super) fn thin(&self) -> bool {
        self.k() <= THIN_PATCH
    }

    /// Where no patch reaches past the image (no padding), the runs of consecutive values
    /// one patch reads, from its first pixel: a run of `kw · c` per kernel line, or of `c` per
    /// kernel pixel when dilated across. An output line's patches are then these runs `stride
    /// · c` apart.
    pub(super) fn segments(&self) -> Option<Vec<Segment>> {
        let reach = |out: usize, stride: usize, k: usize, dilation: usize| {
            (out - 1) * stride + (k - 1) * dilation
        };
        let inside = self.pad == [0, 0]
            && self.oh > 0
            && self.ow > 0
            && reach(self.oh, self.stride[0], self.kh, self.dilation[0]) < self.h
            && reach(self.ow, self.stride[1], self.kw, self.dilation[1]) < self.w;
        if !inside {
            return None;
        }
        let line = |i: usize| i * self.dilation[0] * self.w * self.c;
        Some(if self.dilation[1] == 1 {
            (0..self.kh)
                .map(|i| Segment {
                    offset: line(i),
                    len: self.kw * self.c,
                })
                .collect()
        } else {
            (0..self.kh)
                .flat_map(|i| {
                    (0..self.kw).map(move |j| Segment {
                        offset: line(i) + j * self.dilation[1] * self.c,
                        len: self.c,
                    })
                })
                .collect()
        })
    }

    /// The length of an im2col row: one patch.
    pub(super) fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// Output lines per block: about [`BLOCK_ROWS`] pixels, and fewer when the batch is too
    /// small to give [`MIN_BLOCKS`] blocks (a `predict` of one image), so that every thread
    /// gets work.
    pub(super) fn lines(&self) -> usize {
        let per_image = MIN_BLOCKS.div_ceil(self.n.max(1));
        (BLOCK_ROWS / self.ow)
            .min(self.oh.div_ceil(per_image))
            .clamp(1, self.oh.max(1))
    }

    /// Every block, as (image, first output line), in order.
    fn blocks(&self) -> Vec<(usize, usize)> {
        let lines = self.lines();
        (0..self.n)
            .flat_map(|b| (0..self.oh).step_by(lines).map(move |y| (b, y)))
            .collect()
    }

    /// The output lines of the block starting at line `y0`.
    fn block_lines(&self, y0: usize) -> std::ops::Range<usize> {
        y0..(y0 + self.lines()).min(self.oh)
    }

    /// The input line that patch line `i` of output line `oy` reads, if it is not padding.
    fn source_line(&self, oy: usize, i: usize) -> Option<usize> {
        let iy = (oy * self.stride[0] + i * self.dilation[0]).checked_sub(self.pad[0])?;
        (iy < self.h).then_some(iy)
    }

    /// Without dilation: how many of output column `ox`'s patch columns fall in the left
    /// padding, and the input columns the rest reads until the right padding.
    fn source_run(&self, ox: usize) -> (usize, std::ops::Range<usize>) {
        let start = ox * self.stride[1];
        let first = start.max(self.pad[1]);
        let end = (start + self.kw).min(self.pad[1] + self.w);
        if first >= end {
            return (self.kw, 0..0);
        }
        (first - start, first - self.pad[1]..end - self.pad[1])
    }

    /// The input pixel that patch position `(i, j)` of output pixel `(oy, ox)` reads, if it is
    /// not padding.
    pub(super) fn source(
        &self,
        oy: usize,
        ox: usize,
        i: usize,
        j: usize,
    ) -> Option<(usize, usize)> {
        let iy = (oy * self.stride[0] + i * self.dilation[0]).checked_sub(self.pad[0])?;
        let ix = (ox * self.stride[1] + j * self.dilation[1]).checked_sub(self.pad[1])?;
        (iy < self.h && ix < self.w).then_some((iy, ix))
    }
}

thread_local! {
    /// Each thread's im2col buffer, reused across blocks and calls.
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's im2col buffer, at least `len` long.
fn with_columns<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLUMNS.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

/// Writes the patches of output lines `lines` of image `b` into `col`, one row per pixel.
///
/// Without dilation a patch's line is one run of `kw × c` input values, copied at once.
fn im2col(g: &Geometry, x: &[f32], b: usize, lines: std::ops::Range<usize>, col: &mut [f32]) {
    let c = g.c;
    let run = g.kw * c;
    let mut rows = col.chunks_exact_mut(g.k());
    for oy in lines {
        for ox in 0..g.ow {
            // `col` holds g.k() values for each of the lines × ow patches this loop visits
            let row = rows.next().expect("the buffer holds the block");
            for (i, dst) in row.chunks_exact_mut(run).enumerate() {
                let Some(iy) = g.source_line(oy, i) else {
                    dst.fill(0.0);
                    continue;
                };
                let line = &x[(b * g.h + iy) * g.w * c..][..g.w * c];
                if g.dilation[1] == 1 {
                    let (before, columns) = g.source_run(ox);
                    let src = &line[columns.start * c..columns.end * c];
                    if src.len() == run {
                        copy_short(dst, src);
                    } else {
                        let (pad_before, rest) = dst.split_at_mut(before * c);
                        let (copied, pad_after) = rest.split_at_mut(src.len());
                        pad_before.fill(0.0);
                        copy_short(copied, src);
                        pad_after.fill(0.0);
                    }
                } else {
                    for (j, dst) in dst.chunks_exact_mut(c).enumerate() {
                        match g.source(oy, ox, i, j) {
                            Some((_, ix)) => copy_short(dst, &line[ix * c..][..c]),
                            None => dst.fill(0.0),
                        }
                    }
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)`, without a call to `memcpy` for the few values of a thin input's
/// patch line (3 for a 3×3 kernel on one channel), where the call would cost more than the copy.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    if dst.len() > 16 {
        dst.copy_from_slice(src);
        return;
    }
    let mut d = dst.chunks_exact_mut(4);
    let mut s = src.chunks_exact(4);
    for (d, s) in (&mut d).zip(&mut s) {
        d.copy_from_slice(s);
    }
    match (d.into_remainder(), s.remainder()) {
        ([d0], [s0]) => *d0 = *s0,
        ([d0, d1], [s0, s1]) => (*d0, *d1) = (*s0, *s1),
        ([d0, d1, d2], [s0, s1, s2]) => (*d0, *d1, *d2) = (*s0, *s1, *s2),
        _ => {}
    }
}

/// Adds the patch gradients `col` of output lines `lines` into one image's gradient `dx`.
fn col2im_add(g: &Geometry, col: &[f32], lines: std::ops::Range<usize>, dx: &mut [f32]) {
    let c = g.c;
    let mut rows = col.chunks_exact(g.k());
    for oy in lines {
        for ox in 0..g.ow {
            // `col` holds g.k() values for each of the lines × ow patches this loop visits
            let row = rows.next().expect("the buffer holds the block");
            for i in 0..g.kh {
                for j in 0..g.kw {
                    if let Some((iy, ix)) = g.source(oy, ox, i, j) {
                        let dst = &mut dx[(iy * g.w + ix) * c..][..c];
                        let src = &row[(i * g.kw + j) * c..][..c];
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    }
                }
            }
        }
    }
}

/// The convolution's output, `[n, oh, ow, f]`, block by block.
fn forward(g: &Geometry, blocks: &Blocks) -> Vec<f32> {
    let one = |b: usize, i: usize, dst: &mut [MaybeUninit<f32>]| blocks.write(b, i, dst);
    let block = blocks.len();
    let (all, image) = (g.n * g.oh * g.ow * g.f, g.oh * g.ow * g.f);
    if g.n * g.oh * g.ow * g.k() * g.f < SERIAL_WORK {
        // on this thread: handing a small convolution (one image) to the pool costs more
        let serial = |_, out: &mut [MaybeUninit<f32>]| {
            for (b, image) in out.chunks_mut(image.max(1)).enumerate() {
                for (i, dst) in image.chunks_mut(block.max(1)).enumerate() {
                    one(b, i, dst);
                }
            }
        };
        // SAFETY: the blocks cover each image, and `one` writes each value of its block.
        return unsafe { written(all, all, serial) };
    }
    let parallel = |b, image: &mut [MaybeUninit<f32>]| {
        each_chunk(image, block, |i, dst| one(b, i, dst));
    };
    // SAFETY: as above.
    unsafe { written(all, image, parallel) }
}

/// The forward pass of one convolution, block by block: each block is [`Geometry::lines`]
/// output lines of one image, `[lines, ow, f]`.
pub(super) struct Blocks<'a> {
    g: &'a Geometry,
    patches: Option<Patches<'a>>,
    x: &'a [f32],
    weight: &'a [f32],
    bias: &'a [f32],
    relu: bool,
    packed: Option<&'a Packed>,
    /// A patch's segments in the image, where patches are read in place.
    segments: Option<Vec<Segment>>,
}

impl<'a> Blocks<'a> {
    /// The convolution of the images `x` by `weight` (`[kh, kw, c, f]`), plus `bias`, through
    /// ReLU when `relu` is set.
    pub(super) fn new(
        g: &'a Geometry,
        x: &'a [f32],
        weight: &'a [f32],
        bias: &'a [f32],
        relu: bool,
    ) -> Self {
        let patches = g.thin().then(|| Patches::new(g));
        Blocks {
            g,
            patches,
            x,
            weight,
            bias,
            relu,
            packed: None,
            segments: None,
        }
    }

    /// Multiplies by `packed`, the weight in panels, when it is given: the patches read in
    /// place where no patch reaches past the image ([`Geometry::segments`]), else copied out.
    pub(super) fn with_packed(self, packed: Option<&'a Packed>) -> Self {
        let segments = packed.and(self.g.segments());
        Self {
            packed,
            segments,
            ..self
        }
    }

    /// The values in a whole block (the last of an image may hold fewer).
    pub(super) fn len(&self) -> usize {
        self.g.lines() * self.g.ow * self.g.f
    }

    /// Writes block `i` of image `b` into `dst`, every value of it.
    pub(super) fn write(&self, b: usize, i: usize, dst: &mut [MaybeUninit<f32>]) {
        self.write_lines(b, self.g.block_lines(i * self.g.lines()), dst);
    }

    /// Writes the output lines `lines` of image `b` into `dst`, `[lines, ow, f]`, every value
    /// of it.
    pub(super) fn write_lines(
        &self,
        b: usize,
        lines: std::ops::Range<usize>,
        dst: &mut [MaybeUninit<f32>],
    ) {
        let g = self.g;
        let (k, f) = (g.k(), g.f);
        let rows = lines.len() * g.ow;
        let image = &self.x[b * g.h * g.w * g.c..][..g.h * g.w * g.c];
        let (weight, bias, relu) = (self.weight, self.bias, self.relu);
        if let (Some(packed), Some(segments)) = (self.packed, &self.segments) {
            // each output line's patches read in place from the image: no im2col copy
            let (line_len, x_stride) = (g.ow * f, g.stride[1] * g.c);
            for (oy, out) in lines.zip(dst.chunks_mut(line_len)) {
                let x = &image[oy * g.stride[0] * g.w * g.c..];
                let all = 0..packed.panels();
                packed.multiply_segments(x, g.ow, x_stride, segments, all, bias, relu, out);
            }
            return;
        }
        if let Some(patches) = &self.patches {
            widest(Project {
                patches,
                image,
                lines,
                weight,
                bias,
                relu,
                out: dst,
            });
            return;
        }
        with_columns(rows * k, |col| {
            im2col(g, self.x, b, lines, col);
            if let Some(packed) = self.packed {
                packed.multiply(col, rows, k, 0..packed.panels(), bias, relu, dst);
                return;
            }
            let dst = matmul_into([rows, f, k], dst, col, [k, 1], weight, [f, 1]);
            add_bias_relu(dst, bias, relu);
        });
    }
}

/// The gradient of a convolution's output, `[n, oh, ow, f]`, and with a fused ReLU the output
/// itself, whose zeros mask it.
#[derive(Clone, Copy)]
struct Grad<'a> {
    values: &'a [f32],
    relu_output: Option<&'a [f32]>,
}

thread_local! {
    /// Each thread's block of masked output gradient, reused across blocks and calls.
    static MASKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Grad<'_> {
    /// Runs `f` with the gradient of the output lines `lines` of image `b`, masked by the ReLU's
    /// zeros where one was fused in (in this thread's buffer, while the block is in its cache:
    /// no pass over the whole gradient).
    fn block<R>(
        &self,
        g: &Geometry,
        b: usize,
        lines: std::ops::Range<usize>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> R {
        let start = (b * g.oh + lines.start) * g.ow * g.f;
        let len = lines.len() * g.ow * g.f;
        let dy = &self.values[start..][..len];
        let Some(out) = self.relu_output else {
            return f(dy);
        };
        let out = &out[start..][..len];
        MASKED.with(|cell| {
            let mut masked = cell.borrow_mut();
            masked.clear();
            // as Burn's `relu_backward`: no gradient where the output is at most 0
            let each = |(d, o): (&f32, &f32)| if *o <= 0.0 { 0.0 } else { *d };
            masked.extend(dy.iter().zip(out).map(each));
            f(&masked)
        })
    }
}

/// The input's gradient, `[n, h, w, c]`: per image, patch gradients `grad · weightᵀ` folded
/// back onto the pixels they came from.
fn input_grad(g: &Geometry, weight: &[f32], grad: Grad) -> Vec<f32> {
    let (k, f) = (g.k(), g.f);
    filled(g.n * g.h * g.w * g.c, g.h * g.w * g.c, |b, image| {
        for y0 in (0..g.oh).step_by(g.lines()) {
            let lines = g.block_lines(y0);
            let rows = lines.len() * g.ow;
            grad.block(g, b, lines.clone(), |dy| {
                with_columns(rows * k, |col| {
                    matmul([rows, k, f], col, false, dy, [f, 1], weight, [1, f]);
                    col2im_add(g, col, lines, image);
                })
            });
        }
    })
}

/// The weight's gradient `[kh, kw, c, f]` (when `want_weight`) and the bias' `[f]`: sums over
/// blocks of `patchesᵀ · grad` and of `grad`'s rows.
fn weight_grads(g: &Geometry, x: &[f32], grad: Grad, want_weight: bool) -> (Vec<f32>, Vec<f32>) {
    let (k, f) = (g.k(), g.f);
    let (blocks, image) = (g.blocks(), g.h * g.w * g.c);
    let patches = g.thin().then(|| Patches::new(g));
    let per_part = blocks.len().div_ceil(PARTIALS).max(1);
    let parts: Vec<&[(usize, usize)]> = blocks.chunks(per_part).collect();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = map_items(parts, |part| {
        let mut dw = vec![0.0f32; if want_weight { k * f } else { 0 }];
        let mut db = vec![0.0f32; f];
        for &(b, y0) in part {
            let lines = g.block_lines(y0);
            let rows = lines.len() * g.ow;
            grad.block(g, b, lines.clone(), |dy| {
                for row in dy.chunks_exact(f) {
                    db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
                }
                if want_weight {
                    with_columns(rows * k, |col| match &patches {
                        Some(patches) => {
                            patches.gather(&x[b * image..][..image], lines, col);
                            let dw = &mut dw;
                            widest(WeightGrad { col, k, dy, dw });
                        }
                        None => {
                            im2col(g, x, b, lines, col);
                            matmul([k, f, rows], &mut dw, true, col, [1, k], dy, [f, 1]);
                        }
                    });
                }
            });
        }
        (dw, db)
    });
    let (mut dw, mut db) = (
        vec![0.0f32; if want_weight { k * f } else { 0 }],
        vec![0.0f32; f],
    );
    for (pw, pb) in partials {
        dw.iter_mut().zip(&pw).for_each(|(a, v)| *a += v);
        db.iter_mut().zip(&pb).for_each(|(a, v)| *a += v);
    }
    (dw, db)
}
