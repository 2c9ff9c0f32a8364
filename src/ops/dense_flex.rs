//! kiln's Dense kernel for burn-flex: the output in blocks, each written once (bias, product,
//! ReLU) while it is in cache, the blocks on all threads.
//!
//! Many rows (a training batch, a large `predict` batch) split into blocks of whole rows,
//! contiguous in the output. Few rows split into blocks of columns, each computed apart and
//! then laid into the rows: Burn's `matmul` runs these on one thread. Small products (one
//! sample through a 784 × 512 kernel) stay on one thread, and up to four rows are multiplied
//! one at a time ([`add_row_times`]) rather than by gemm.
//!
//! The backward pass writes each gradient straight from gemm, block by block on all threads:
//! the input's by blocks of rows, the kernel's by blocks of its rows (the input's features,
//! read through strides: no transposed copy), the bias' as column sums. No pass zeroes an
//! output first: gemm writes it without reading it. Burn's `matmul` zeroes a buffer,
//! multiplies into it and copies the result into an aligned one.

use super::dense::{DenseOps, by_burn_dense, by_burn_dense_backward};
use super::flex_buffers::{relu_in_place, tensor, written};
use super::flex_contiguous::contiguous;
use super::flex_gemm::{matmul, matmul_into};
use super::flex_kept::Kept;
use super::packed::Packed;
use super::row_times::add_row_times;
use crate::backend::map_items;
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use std::mem::MaybeUninit;

/// Below this many multiply-adds, one thread computes the whole product: handing work to
/// another thread costs more (waking it takes tens of microseconds on a virtual machine; one
/// sample through the MNIST dense model's 784 × 512 kernel, 0.4 million, takes about 25).
const SERIAL_WORK: usize = 1 << 20;

/// Below this many multiply-adds, a product from panels runs on one thread; above, its parts
/// go to helper threads that spin between jobs (`for_each_part`), handed over in about a
/// microsecond.
const SERIAL_PANELS_WORK: usize = 1 << 17;

/// The fewest rows in a block of rows; fewer rows per thread split by columns instead.
const MIN_BLOCK_ROWS: usize = 16;

/// Rows per block of a product from panels with at least twice as many blocks as threads: a
/// multiple of the packed product's tiles and of its blocks of rows ([`Packed::multiply`]).
const DYNAMIC_BLOCK_ROWS: usize = 48;

/// Up to this many rows, each is multiplied apart ([`add_row_times`]): gemm is slow on them.
const FEW_ROWS: usize = 4;

/// Column blocks are a multiple of this many units (the width of gemm's AVX registers).
const COLUMN_ALIGN: usize = 16;

/// The kernels [`forward`] packed, at most 64 MiB and 32 of them.
static PACKED: Kept<Packed> = Kept::new(64 << 20, 32);

/// kiln's Dense product on burn-flex. With `steady`, the weight is expected to be read again
/// unchanged (inference, outside autodiff): it is packed once into panels ([`Packed`]) and
/// multiplied from them. In training each step's weight is new, and packing it would cost a
/// copy per step.
pub(super) fn forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    relu: bool,
    steady: bool,
) -> FlexTensor {
    if [&x, &weight, &bias].iter().any(|t| t.dtype() != DType::F32) {
        return by_burn_dense::<Flex>(x, weight, bias, relu);
    }
    let (rows, inputs) = (x.layout().shape()[0], x.layout().shape()[1]);
    let units = weight.layout().shape()[1];
    let (x, weight, bias) = (contiguous(&x), contiguous(&weight), contiguous(&bias));
    let packed = steady
        .then(|| {
            PACKED.get_or_make(&weight, || {
                let packed = Packed::new(weight.storage(), inputs, units)?;
                let bytes = packed.bytes();
                Some((packed, bytes))
            })
        })
        .flatten();
    let product = Product {
        rows,
        inputs,
        units,
        x: x.storage(),
        weight: weight.storage(),
        bias: bias.storage(),
        relu,
    };
    let values = match packed {
        Some(packed) => product.by_panels(&packed),
        None => product.compute(),
    };
    tensor(values, vec![rows, units])
}

impl DenseOps for Flex {
    /// Called outside autodiff (`predict`, `evaluate`): the weight is steady.
    fn dense(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        forward(x, weight, bias, relu, true)
    }

    fn dense_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        [want_x, want_weight, want_bias]: [bool; 3],
    ) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
        if [&x, &weight, &grad].iter().any(|t| t.dtype() != DType::F32) {
            return by_burn_dense_backward::<Flex>(
                x,
                weight,
                grad,
                [want_x, want_weight, want_bias],
            );
        }
        let (rows, inputs) = (x.layout().shape()[0], x.layout().shape()[1]);
        let units = weight.layout().shape()[1];
        let (x, weight, grad) = (contiguous(&x), contiguous(&weight), contiguous(&grad));
        let (x, weight, g) = (x.storage(), weight.storage(), grad.storage());
        let work = rows * units * inputs;
        let dx = want_x.then(|| {
            // dx = g · weightᵀ, by blocks of rows
            let per_block = block_len(rows, work);
            let write = |i: usize, out: &mut [MaybeUninit<f32>]| {
                let first = i * per_block;
                let block = (first + per_block).min(rows) - first;
                let g = &g[first * units..];
                matmul_into(
                    [block, inputs, units],
                    out,
                    g,
                    [units, 1],
                    weight,
                    [1, units],
                );
            };
            // SAFETY: `matmul_into` writes each of the block's `block × inputs` values, the
            // whole chunk.
            let values = unsafe { written(rows * inputs, per_block * inputs, write) };
            tensor(values, vec![rows, inputs])
        });
        let dw = want_weight.then(|| {
            // dw = xᵀ · g, by blocks of the kernel's rows (x's columns)
            let per_block = block_len(inputs, work);
            let write = |i: usize, out: &mut [MaybeUninit<f32>]| {
                let first = i * per_block;
                let block = (first + per_block).min(inputs) - first;
                let x = &x[first..];
                matmul_into([block, units, rows], out, x, [1, inputs], g, [units, 1]);
            };
            // SAFETY: `matmul_into` writes each of the block's `block × units` values, the
            // whole chunk.
            let values = unsafe { written(inputs * units, per_block * units, write) };
            tensor(values, vec![inputs, units])
        });
        let db = want_bias.then(|| {
            let mut sums = vec![0.0f32; units];
            for row in g.chunks_exact(units) {
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            tensor(sums, vec![units])
        });
        (dx, dw, db)
    }
}

/// How many of `len` rows one block of a gradient takes: all of them below [`SERIAL_WORK`],
/// else one thread's share (each block's product packs the other operand whole).
fn block_len(len: usize, work: usize) -> usize {
    let threads = rayon::current_num_threads();
    if threads == 1 || work < SERIAL_WORK {
        len.max(1)
    } else {
        len.div_ceil(threads).max(1)
    }
}

/// One call's operands, contiguous and row-major.
struct Product<'a> {
    rows: usize,
    inputs: usize,
    units: usize,
    x: &'a [f32],
    weight: &'a [f32],
    bias: &'a [f32],
    relu: bool,
}

impl Product<'_> {
    /// The output `[rows, units]` from the kernel in panels: on one thread below
    /// [`SERIAL_WORK`], else few rows split by panels, many by blocks of rows.
    fn by_panels(&self, packed: &Packed) -> Vec<f32> {
        let (rows, inputs, units) = (self.rows, self.inputs, self.units);
        let threads = rayon::current_num_threads();
        let parts = if rows * units * inputs < SERIAL_PANELS_WORK {
            1
        } else {
            threads
        };
        let (x, bias, relu) = (self.x, self.bias, self.relu);
        let all = 0..packed.panels();
        if parts > 1 && rows < parts * MIN_BLOCK_ROWS {
            // SAFETY: `multiply_by_panels` writes every value of the output.
            return unsafe {
                written(rows * units, rows * units, |_, out| {
                    packed.multiply_by_panels(x, rows, inputs, bias, relu, out, parts)
                })
            };
        }
        // Many rows go in blocks of DYNAMIC_BLOCK_ROWS, claimed by whichever thread is free:
        // one half per thread left the caller waiting for a helper on a busier processor.
        let per_block = if parts > 1 && rows >= 2 * parts * DYNAMIC_BLOCK_ROWS {
            DYNAMIC_BLOCK_ROWS
        } else {
            rows.div_ceil(parts).max(1)
        };
        // SAFETY: `multiply` writes every value of its block of rows, all panels.
        unsafe {
            written(rows * units, per_block * units, |i, out| {
                let first = i * per_block;
                let block = (first + per_block).min(rows) - first;
                packed.multiply(
                    &x[first * inputs..],
                    block,
                    inputs,
                    all.clone(),
                    bias,
                    relu,
                    out,
                )
            })
        }
    }

    /// The output `[rows, units]`.
    fn compute(&self) -> Vec<f32> {
        let (rows, units) = (self.rows, self.units);
        let threads = rayon::current_num_threads();
        let work = rows * units * self.inputs;
        if threads == 1 || work < SERIAL_WORK {
            // SAFETY: `block` writes every value of its output.
            return unsafe {
                written(rows * units, rows * units, |_, out| {
                    self.block(0..rows, 0..units, out);
                })
            };
        }
        if rows >= threads * MIN_BLOCK_ROWS {
            // one block per thread: each block's product packs the whole kernel again (two
            // blocks per thread made the MNIST dense model's forward pass 17% slower)
            let per_block = rows.div_ceil(threads).max(MIN_BLOCK_ROWS);
            // SAFETY: `block` writes every value of its output.
            return unsafe {
                written(rows * units, per_block * units, |i, out| {
                    let first = i * per_block;
                    self.block(first..(first + per_block).min(rows), 0..units, out);
                })
            };
        }
        let width = units.div_ceil(threads).next_multiple_of(COLUMN_ALIGN);
        let firsts: Vec<usize> = (0..units).step_by(width).collect();
        let blocks: Vec<(std::ops::Range<usize>, Vec<f32>)> = map_items(firsts, |first| {
            let columns = first..(first + width).min(units);
            let len = rows * columns.len();
            // SAFETY: `block` writes every value of its output.
            let out = unsafe {
                written(len, len, |_, out| {
                    self.block(0..rows, columns.clone(), out);
                })
            };
            (columns, out)
        });
        let mut out = vec![0.0f32; rows * units];
        for (columns, block) in blocks {
            for (row, values) in out
                .chunks_exact_mut(units)
                .zip(block.chunks_exact(columns.len()))
            {
                row[columns.clone()].copy_from_slice(values);
            }
        }
        out
    }

    /// Writes rows `rows` and columns `columns` of the output into `out` (row-major, as wide
    /// as `columns`, every value of it): the bias, plus the product, through ReLU when asked.
    fn block(
        &self,
        rows: std::ops::Range<usize>,
        columns: std::ops::Range<usize>,
        out: &mut [MaybeUninit<f32>],
    ) {
        let (inputs, units, width) = (self.inputs, self.units, columns.len());
        let bias = &self.bias[columns.clone()];
        assert_eq!(out.len(), rows.len() * width, "a block's output");
        out.chunks_exact_mut(width).for_each(|row| {
            row.write_copy_of_slice(bias);
        });
        // SAFETY: every value was written just above; `MaybeUninit<f32>` has the layout of
        // `f32`.
        let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
        let x = &self.x[rows.start * inputs..rows.end * inputs];
        let weight = &self.weight[columns.start..];
        if rows.len() <= FEW_ROWS {
            for (x, out) in x.chunks_exact(inputs).zip(out.chunks_exact_mut(width)) {
                add_row_times(x, weight, units, out);
            }
        } else {
            matmul(
                [rows.len(), width, inputs],
                out,
                true,
                x,
                [inputs, 1],
                weight,
                [units, 1],
            );
        }
        if self.relu {
            relu_in_place(out);
        }
    }
}
