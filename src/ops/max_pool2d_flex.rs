//! kiln's channels-last max pooling kernels for burn-flex, one image per task. The backward
//! pass finds each window's largest input again instead of keeping indices.

use super::flex_buffers::{filled, tensor};
use super::max_pool2d::{MaxPoolNhwc, backward_by_burn, by_burn_max_pool};
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;

impl MaxPoolNhwc for Flex {
    fn max_pool2d_nhwc(x: FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return by_burn_max_pool::<Flex>(x, kernel, stride);
        }
        let g = Pool::new(&x, kernel, stride);
        let x = x.to_contiguous();
        let x: &[f32] = x.storage();
        let out = filled(g.n * g.oh * g.ow * g.c, g.oh * g.ow * g.c, |b, out| {
            let x = &x[b * g.h * g.w * g.c..][..g.h * g.w * g.c];
            for (p, dst) in out.chunks_exact_mut(g.c).enumerate() {
                g.window_max(x, p, dst);
            }
        });
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
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let (x, grad): (&[f32], &[f32]) = (x.storage(), grad.storage());
        let image = g.h * g.w * g.c;
        let dx = filled(g.n * image, image, |b, dx| {
            let x = &x[b * image..][..image];
            let grad = &grad[b * g.oh * g.ow * g.c..][..g.oh * g.ow * g.c];
            // `open` is all ones for the channels whose max the window has not met yet; bit
            // masks keep the loop free of branches (and of `0 * inf`).
            let (mut max, mut open) = (vec![0.0f32; g.c], vec![u32::MAX; g.c]);
            for (p, dy) in grad.chunks_exact(g.c).enumerate() {
                g.window_max(x, p, &mut max);
                open.fill(u32::MAX);
                // The first input equal to the window's max takes the gradient.
                for iy in g.rows(p) {
                    for ix in g.cols(p) {
                        let at = (iy * g.w + ix) * g.c;
                        let pixel = dx[at..at + g.c].iter_mut().zip(&x[at..at + g.c]);
                        let lanes = pixel.zip(&max).zip(open.iter_mut()).zip(dy);
                        for ((((d, v), m), o), dy) in lanes {
                            let hit = ((v == m) as u32).wrapping_neg() & *o;
                            *d += f32::from_bits(dy.to_bits() & hit);
                            *o &= !hit;
                        }
                    }
                }
            }
        });
        tensor(dx, vec![g.n, g.h, g.w, g.c])
    }
}

/// The sizes of one pooling.
struct Pool {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    oh: usize,
    ow: usize,
}

impl Pool {
    fn new(x: &FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> Pool {
        let s = x.layout().shape();
        let (n, h, w, c) = (s[0], s[1], s[2], s[3]);
        assert!(
            kernel[0] <= h && kernel[1] <= w,
            "max pooling: kernel larger than the image"
        );
        Pool {
            n,
            h,
            w,
            c,
            kernel,
            stride,
            oh: (h - kernel[0]) / stride[0] + 1,
            ow: (w - kernel[1]) / stride[1] + 1,
        }
    }

    /// The input rows of output pixel `p`'s window.
    fn rows(&self, p: usize) -> std::ops::Range<usize> {
        let y0 = p / self.ow * self.stride[0];
        y0..y0 + self.kernel[0]
    }

    /// The input columns of output pixel `p`'s window.
    fn cols(&self, p: usize) -> std::ops::Range<usize> {
        let x0 = p % self.ow * self.stride[1];
        x0..x0 + self.kernel[1]
    }

    /// Writes the max over output pixel `p`'s window of image `x` into `max`, per channel.
    fn window_max(&self, x: &[f32], p: usize, max: &mut [f32]) {
        max.fill(f32::NEG_INFINITY);
        for iy in self.rows(p) {
            for ix in self.cols(p) {
                let at = (iy * self.w + ix) * self.c;
                for (m, v) in max.iter_mut().zip(&x[at..at + self.c]) {
                    *m = if *v > *m { *v } else { *m };
                }
            }
        }
    }
}
