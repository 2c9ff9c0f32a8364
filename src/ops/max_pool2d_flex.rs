//! kiln's channels-last max pooling kernels for burn-flex, one image per task, compiled for the
//! widest vectors the processor has. The backward pass finds each window's largest input again
//! instead of keeping indices, and where windows do not overlap it writes each input pixel's
//! gradient once, with no zeroing pass before.

use super::flex_buffers::{filled, tensor, written};
use super::flex_contiguous::contiguous;
use super::max_pool2d::{MaxPoolNhwc, backward_by_burn, by_burn_max_pool};
use super::simd::{Isa, Kernel, LANES, widest};
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use std::mem::MaybeUninit;

impl MaxPoolNhwc for Flex {
    fn max_pool2d_nhwc(x: FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return by_burn_max_pool::<Flex>(x, kernel, stride);
        }
        let g = Pool::new(&x, kernel, stride);
        let x = contiguous(&x);
        let x: &[f32] = x.storage();
        let (image, pooled) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        let forward =
            |b: usize, out: &mut [MaybeUninit<f32>]| g.image(&x[b * image..][..image], out);
        // SAFETY: `Forward` writes the max of every window, each value of `out`.
        let out = unsafe { written(g.n * pooled, pooled, forward) };
        tensor(out, vec![g.n, g.oh, g.ow, g.c])
    }

    fn max_pool2d_nhwc_backward(
        x: FlexTensor,
        grad: FlexTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return backward_by_burn::<Flex>(x, grad, kernel, stride);
        }
        let g = Pool::new(&x, kernel, stride);
        let (x, grad) = (contiguous(&x), contiguous(&grad));
        let (x, grad): (&[f32], &[f32]) = (x.storage(), grad.storage());
        let (image, pooled) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        let (x, grad) = (
            |b: usize| &x[b * image..][..image],
            |b: usize| &grad[b * pooled..][..pooled],
        );
        let dx = if g.overlapping() {
            filled(g.n * image, image, |b, dx| {
                widest(Backward {
                    g: &g,
                    x: x(b),
                    grad: grad(b),
                    dx,
                });
            })
        } else {
            let write = |b: usize, dx: &mut [MaybeUninit<f32>]| {
                g.zero_uncovered(dx);
                widest(Backward {
                    g: &g,
                    x: x(b),
                    grad: grad(b),
                    dx,
                });
            };
            // SAFETY: the windows do not overlap, so each input pixel is in one window, whose
            // pass writes it, or in none, and `zero_uncovered` writes it.
            unsafe { written(g.n * image, image, write) }
        };
        tensor(dx, vec![g.n, g.h, g.w, g.c])
    }
}

/// The max of each window of one image, into `out`, `[oh, ow, c]`.
struct Forward<'a> {
    g: &'a Pool,
    x: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
}

impl Kernel for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        let Forward { g, x, out } = self;
        let window = &g.window;
        for (p, dst) in out.chunks_exact_mut(g.c).enumerate() {
            let corner = g.corner(p);
            let mut put = |i, max: &[f32]| {
                dst[i..i + max.len()]
                    .iter_mut()
                    .zip(max)
                    .for_each(|(d, m)| {
                        d.write(*m);
                    });
            };
            let mut lanes = 0;
            while lanes + LANES <= g.c {
                put(lanes, &window_max::<LANES>(x, corner + lanes, window));
                lanes += LANES;
            }
            for i in lanes..g.c {
                put(i, &window_max::<1>(x, corner + i, window));
            }
        }
    }
}

/// One image's input gradient: each window's output gradient goes to the first of its inputs
/// equal to its max. `dx` is `f32` (added to: windows overlap, and `dx` starts zeroed) or
/// `MaybeUninit<f32>` (written: each pixel is in one window at most).
struct Backward<'a, T> {
    g: &'a Pool,
    x: &'a [f32],
    grad: &'a [f32],
    dx: &'a mut [T],
}

/// How a gradient reaches `dx`: added or written.
trait Sink {
    fn put(&mut self, value: f32);
}

impl Sink for f32 {
    #[inline(always)]
    fn put(&mut self, value: f32) {
        *self += value;
    }
}

impl Sink for MaybeUninit<f32> {
    #[inline(always)]
    fn put(&mut self, value: f32) {
        self.write(value);
    }
}

impl<T: Sink> Kernel for Backward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        let Backward { g, x, grad, dx } = self;
        let window = &g.window;
        for (p, dy) in grad.chunks_exact(g.c).enumerate() {
            let corner = g.corner(p);
            let mut lanes = 0;
            while lanes + LANES <= g.c {
                route::<LANES, T>(x, dy, dx, corner, lanes, window);
                lanes += LANES;
            }
            for i in lanes..g.c {
                route::<1, T>(x, dy, dx, corner, i, window);
            }
        }
    }
}

/// The `N` values of `x` from `at`.
#[inline(always)]
fn load<const N: usize>(x: &[f32], at: usize) -> [f32; N] {
    x[at..at + N].try_into().expect("N values")
}

/// The max over a window, lane by lane, of the `N` channels from offset `at` of its first
/// pixel; `window` holds the offsets of its pixels from its first. Kept in registers: a
/// running max stored to memory between pixels stalls on reading back the masked store.
/// A NaN in an earlier pixel stays, one in a later pixel is skipped.
#[inline(always)]
fn window_max<const N: usize>(x: &[f32], at: usize, window: &[usize]) -> [f32; N] {
    let mut max = load::<N>(x, at);
    for &o in &window[1..] {
        let v = load::<N>(x, at + o);
        for k in 0..N {
            max[k] = if v[k] > max[k] { v[k] } else { max[k] };
        }
    }
    max
}

/// Routes output gradient `dy`'s channels `i..i + N` of the window at `corner` to the first of
/// its pixels equal to the window's max, and zeros to the others (bit masks keep the loop free
/// of branches, and of `0 × ∞`).
#[inline(always)]
fn route<const N: usize, T: Sink>(
    x: &[f32],
    dy: &[f32],
    dx: &mut [T],
    corner: usize,
    i: usize,
    window: &[usize],
) {
    let max = window_max::<N>(x, corner + i, window);
    let y = load::<N>(dy, i);
    // all ones for the channels whose max no earlier pixel of the window held
    let mut open = [u32::MAX; N];
    for &o in window {
        let v = load::<N>(x, corner + o + i);
        let mut routed = [0.0f32; N];
        for k in 0..N {
            let hit = ((v[k] == max[k]) as u32).wrapping_neg() & open[k];
            routed[k] = f32::from_bits(y[k].to_bits() & hit);
            open[k] &= !hit;
        }
        dx[corner + o + i..][..N]
            .iter_mut()
            .zip(routed)
            .for_each(|(d, r)| d.put(r));
    }
}

/// The sizes of one pooling.
pub(super) struct Pool {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    oh: usize,
    ow: usize,
    /// The offsets of a window's pixels from its first, row by row.
    window: Vec<usize>,
}

impl Pool {
    fn new(x: &FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> Pool {
        let s = x.layout().shape();
        Pool::of([s[0], s[1], s[2], s[3]], kernel, stride)
    }

    /// The pooling of `[n, h, w, c]` images by `kernel` windows `stride` apart.
    pub(super) fn of([n, h, w, c]: [usize; 4], kernel: [usize; 2], stride: [usize; 2]) -> Pool {
        assert!(
            kernel[0] <= h && kernel[1] <= w,
            "max pooling: kernel larger than the image"
        );
        let pixel = |(i, j)| (i * w + j) * c;
        let window = (0..kernel[0])
            .flat_map(|i| (0..kernel[1]).map(move |j| (i, j)))
            .map(pixel)
            .collect();
        Pool {
            n,
            h,
            w,
            c,
            kernel,
            stride,
            oh: (h - kernel[0]) / stride[0] + 1,
            ow: (w - kernel[1]) / stride[1] + 1,
            window,
        }
    }

    /// Writes the max of each window of the image `x`, `[h, w, c]`, into `out`, `[oh, ow, c]`:
    /// every value of it.
    pub(super) fn image(&self, x: &[f32], out: &mut [MaybeUninit<f32>]) {
        widest(Forward { g: self, x, out });
    }

    /// Whether an input pixel can lie in more than one window.
    fn overlapping(&self) -> bool {
        self.stride[0] < self.kernel[0] || self.stride[1] < self.kernel[1]
    }

    /// The offset in an image of output pixel `p`'s window's first pixel.
    #[inline(always)]
    fn corner(&self, p: usize) -> usize {
        let (y0, x0) = (p / self.ow * self.stride[0], p % self.ow * self.stride[1]);
        (y0 * self.w + x0) * self.c
    }

    /// Writes zeros to the pixels of one image's gradient `dx` that no window covers: the
    /// rows and columns past the last window, and those between windows further apart than
    /// their size.
    fn zero_uncovered(&self, dx: &mut [MaybeUninit<f32>]) {
        let covered = |i: usize, axis: usize| {
            i / self.stride[axis] < [self.oh, self.ow][axis]
                && i % self.stride[axis] < self.kernel[axis]
        };
        for (iy, line) in dx.chunks_exact_mut(self.w * self.c).enumerate() {
            for (ix, pixel) in line.chunks_exact_mut(self.c).enumerate() {
                if !covered(iy, 0) || !covered(ix, 1) {
                    pixel.fill(MaybeUninit::new(0.0));
                }
            }
        }
    }
}
