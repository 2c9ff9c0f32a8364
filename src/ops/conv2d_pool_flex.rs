//! A convolution and the max pooling after it, image by image, for inference on burn-flex.
//!
//! Run one after the other, the convolution writes its whole output and the pooling reads it
//! back: for the MNIST CNN's first layer at a `predict` batch of 500, 43 MB through main
//! memory each way. Here each thread convolves one image into a buffer of its own, which stays
//! in its cache, and pools it from there; only the pooled image is written out.

use super::conv2d::ConvNhwc;
use super::conv2d_flex::{Blocks, Geometry, packed_weight};
use super::flex_buffers::{each_chunk, tensor, written};
use super::flex_contiguous::{contiguous, contiguous_weight};
use super::max_pool2d::MaxPoolNhwc;
use super::max_pool2d_flex::Pool;
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ConvOptions;
use burn::tensor::DType;
use std::cell::RefCell;
use std::mem::MaybeUninit;

thread_local! {
    /// Each thread's convolved image, reused across images and calls.
    static CONVOLVED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// [`ConvNhwc::conv2d_nhwc_max_pool`] on burn-flex: fused, each thread convolving and pooling
/// whole images (at least as many images as threads) or, for fewer images, bands of whole
/// pooling windows' lines, two per thread, each into its thread's buffer and pooled from
/// there. (Convolved by blocks across the threads and then pooled on one, a one-image
/// `predict` of the MNIST CNN spent a sixth of its time pooling, reading lines another
/// thread's cache held.) The conv lines no window reads are not computed.
pub(super) fn conv_max_pool(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    options: ConvOptions<2>,
    relu: bool,
    pool: [usize; 2],
) -> FlexTensor {
    let f32s = [&x, &weight, &bias].iter().all(|t| t.dtype() == DType::F32);
    let g = Geometry::new(&x, &weight, &options);
    if !f32s || options.groups != 1 || g.oh < pool[0] || g.ow < pool[1] {
        let out = Flex::conv2d_nhwc(x, weight, bias, options, relu);
        return Flex::max_pool2d_nhwc(out, pool, pool);
    }
    // inference only (the fusion is): the weight is steady
    let packed = packed_weight(&g, &weight);
    let (x, weight, bias) = (
        contiguous(&x),
        contiguous_weight(&weight),
        contiguous(&bias),
    );
    let blocks = Blocks::new(&g, x.storage(), weight.storage(), bias.storage(), relu)
        .with_packed(packed.as_deref());
    let [ph, pw] = pool;
    let (pooled_h, pooled_w) = (g.oh / ph, g.ow / pw);
    // pooled lines per band: whole images when each thread gets one, else two bands per thread
    let threads = rayon::current_num_threads();
    let band = if g.n >= threads {
        pooled_h
    } else {
        pooled_h.div_ceil(2 * threads)
    }
    .max(1);
    let pooled_line = pooled_w * g.f;
    let image_len = pooled_h * pooled_line;
    let image = |b: usize, out: &mut [MaybeUninit<f32>]| {
        each_chunk(out, band * pooled_line, |i, out| {
            let first = i * band * ph;
            let lines = first..first + out.len() / pooled_line * ph;
            let p = Pool::of([1, lines.len(), g.ow, g.f], pool, pool);
            CONVOLVED.with(|cell| {
                let mut buffer = cell.borrow_mut();
                let len = lines.len() * g.ow * g.f;
                buffer.clear();
                buffer.reserve(len);
                let raw = &mut buffer.spare_capacity_mut()[..len];
                let step = g.lines();
                for (j, part) in raw.chunks_mut(step * g.ow * g.f).enumerate() {
                    let from = lines.start + j * step;
                    blocks.write_lines(b, from..(from + step).min(lines.end), part);
                }
                // SAFETY: the parts cover the band, and `write_lines` writes each value.
                unsafe { buffer.set_len(len) };
                p.image(&buffer, out);
            });
        });
    };
    // SAFETY: each band's `Pool::image` writes every value of its pooled lines, and the bands
    // cover each image.
    let out = unsafe { written(g.n * image_len, image_len, image) };
    tensor(out, vec![g.n, pooled_h, pooled_w, g.f])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn fused_equals_the_convolution_then_the_pooling() {
        // thin (3×3×1) and im2col (3×3×5) patches; 9×9 outputs pooled by 2 leave a row and
        // a column out; batches below and above the thread count
        for (c, f) in [(1, 32), (5, 19)] {
            for n in [1, 2, 7] {
                for (h, w) in [(11, 11), (16, 9), (5, 5)] {
                    for relu in [false, true] {
                        for pool in [[2, 2], [3, 1]] {
                            let dims = |d: &[usize]| d.to_vec();
                            let x = tensor(values(n * h * w * c, 1), dims(&[n, h, w, c]));
                            let k = tensor(values(9 * c * f, 2), dims(&[3, 3, c, f]));
                            let b = tensor(values(f, 3), dims(&[f]));
                            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
                            let want = Flex::max_pool2d_nhwc(
                                Flex::conv2d_nhwc(
                                    x.clone(),
                                    k.clone(),
                                    b.clone(),
                                    options.clone(),
                                    relu,
                                ),
                                pool,
                                pool,
                            );
                            let got = conv_max_pool(x, k, b, options, relu, pool);
                            let case =
                                format!("c {c}, f {f}, n {n}, {h}×{w}, relu {relu}, pool {pool:?}");
                            assert_eq!(got.layout().shape(), want.layout().shape(), "{case}");
                            assert_eq!(got.storage::<f32>(), want.storage::<f32>(), "{case}");
                        }
                    }
                }
            }
        }
    }
}
