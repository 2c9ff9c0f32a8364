//! Rows times a row-major matrix, for the products too small for a general matrix product:
//! burn-flex's dense layer on a few rows (`predict` on one sample) and the recurrent scan's
//! steps. gemm's path for a single row ran the MNIST dense model's first layer (784 × 512) at
//! about 4 GFLOP/s on one thread; this one streams the matrix once, four of its rows at a time,
//! in the widest vectors the processor has. matrixmultiply, under ndarray's products, sent each
//! of a recurrent step's `[32, 32] × [32, 128]` products to a second thread and back.

use super::simd::{Isa, Kernel, LANES, widest};

/// `out[c] += Σᵢ x[i] · w[i·stride + c]` for each `c` in `0..out.len()`: the rows of `w` are
/// `stride` apart and start at the first column wanted.
///
/// # Panics
/// When `w` holds fewer than `x.len()` such rows.
pub(super) fn add_row_times(x: &[f32], w: &[f32], stride: usize, out: &mut [f32]) {
    let width = out.len();
    if x.is_empty() || width == 0 {
        return;
    }
    assert!(
        w.len() >= (x.len() - 1) * stride + width,
        "add_row_times: the matrix is too short"
    );
    widest(RowTimes { x, w, stride, out });
}

/// `c += a · b` for `a` `[rows, inner]` (row-major, dense), `b` `inner` rows of `c_width`
/// values `b_stride` apart, and `c` `rows` rows of `c_width` values `c_stride` apart, on this
/// thread.
///
/// Made for the recurrent scan's products (a few dozen rows, inner and output widths of 16
/// to a few hundred). With AVX-512, four rows of `a` times 32 columns of `b` are summed over
/// `inner` in eight registers (eight independent chains of fused multiply-adds, each load of
/// `b` serving four rows), then added to `c` once; the columns past the last 16 and other
/// processors take [`add_row_times`] row by row, which adds into its output every four rows
/// of `b` (for outputs of one or two vectors, one long chain through memory).
///
/// # Panics
/// When a slice is shorter than its shape says.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_product(
    a: &[f32],
    rows: usize,
    inner: usize,
    b: &[f32],
    b_stride: usize,
    c: &mut [f32],
    c_stride: usize,
    c_width: usize,
) {
    if rows == 0 || c_width == 0 || inner == 0 {
        return;
    }
    assert!(
        a.len() >= rows * inner
            && b.len() >= (inner - 1) * b_stride + c_width
            && c.len() >= (rows - 1) * c_stride + c_width,
        "add_product: a slice is too short for its shape"
    );
    let operands = Operands {
        a,
        rows,
        inner,
        b,
        b_stride,
        c_stride,
    };
    let done = in_registers(&operands, c, c_width);
    operands.by_rows(done, c, c_width);
}

/// [`add_product`]'s operands but `c` and how many of its columns are written: `a`
/// `[rows, inner]`, `b`'s rows `b_stride` apart, `c`'s rows `c_stride` apart.
struct Operands<'a> {
    a: &'a [f32],
    rows: usize,
    inner: usize,
    b: &'a [f32],
    b_stride: usize,
    c_stride: usize,
}

impl Operands<'_> {
    /// Adds columns `first..c_width` of `a · b` into `c`, one [`add_row_times`] per row of `a`.
    fn by_rows(&self, first: usize, c: &mut [f32], c_width: usize) {
        if first >= c_width {
            return;
        }
        for r in 0..self.rows {
            let out = &mut c[r * self.c_stride + first..][..c_width - first];
            let x = &self.a[r * self.inner..][..self.inner];
            add_row_times(x, &self.b[first..], self.b_stride, out);
        }
    }
}

/// [`add_product`] for its first columns in AVX-512 registers, where the processor has
/// AVX-512: how many columns it did (whole vectors of them), else none.
fn in_registers(operands: &Operands, c: &mut [f32], c_width: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if c_width >= LANES
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("fma")
    {
        // SAFETY: the processor has AVX-512F and FMA, checked just above.
        unsafe { avx512::product(operands, c, c_width) };
        return c_width / LANES * LANES;
    }
    let _ = (operands, c);
    0
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{LANES, Operands};
    use std::arch::x86_64::{__m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps};
    use std::arch::x86_64::{_mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps};

    /// [`super::add_product`] for the columns `0..c_width / 16 · 16`, in blocks of four rows
    /// by 32 columns (then fewer rows, then 16 columns).
    ///
    /// # Safety
    /// The processor must have AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn product(operands: &Operands, c: &mut [f32], c_width: usize) {
        let Operands {
            a,
            rows,
            inner,
            b,
            b_stride,
            c_stride,
        } = *operands;
        let mut r = 0;
        while r < rows {
            let block = Block {
                a: &a[r * inner..],
                inner,
                b,
                b_stride,
                c_stride,
            };
            let c = &mut c[r * c_stride..];
            let mut first = 0;
            while first + LANES <= c_width {
                let two = first + 2 * LANES <= c_width;
                match (rows - r, two) {
                    (1, true) => block.add::<1, 2>(first, c),
                    (2, true) => block.add::<2, 2>(first, c),
                    (3, true) => block.add::<3, 2>(first, c),
                    (_, true) => block.add::<4, 2>(first, c),
                    (1, false) => block.add::<1, 1>(first, c),
                    (2, false) => block.add::<2, 1>(first, c),
                    (3, false) => block.add::<3, 1>(first, c),
                    (_, false) => block.add::<4, 1>(first, c),
                }
                first += if two { 2 * LANES } else { LANES };
            }
            r += 4;
        }
    }

    /// Rows of `a` from the first (`inner` apart), `b` and `c`'s row stride.
    struct Block<'a> {
        a: &'a [f32],
        inner: usize,
        b: &'a [f32],
        b_stride: usize,
        c_stride: usize,
    }

    impl Block<'_> {
        /// Adds the first `R` rows of `a · b` into those of `c`, for the `V` vectors of
        /// columns from `first`.
        #[target_feature(enable = "avx512f,fma")]
        #[allow(clippy::needless_range_loop)] // `i` picks a value of each row of `a` and a row of `b`
        fn add<const R: usize, const V: usize>(&self, first: usize, c: &mut [f32]) {
            let (inner, width) = (self.inner, V * LANES);
            let x: [&[f32]; R] = std::array::from_fn(|rr| &self.a[rr * inner..][..inner]);
            let mut acc: [[__m512; V]; R] = [[_mm512_setzero_ps(); V]; R];
            for i in 0..inner {
                let row = &self.b[i * self.b_stride + first..][..width];
                // SAFETY: `row` holds V·16 values
                let bv: [__m512; V] = std::array::from_fn(|v| unsafe {
                    _mm512_loadu_ps(row.as_ptr().add(v * LANES))
                });
                for rr in 0..R {
                    let xv = _mm512_set1_ps(x[rr][i]);
                    for v in 0..V {
                        acc[rr][v] = _mm512_fmadd_ps(xv, bv[v], acc[rr][v]);
                    }
                }
            }
            for (rr, acc) in acc.iter().enumerate() {
                let out = &mut c[rr * self.c_stride + first..][..width];
                for (v, &sum) in acc.iter().enumerate() {
                    // SAFETY: `out` holds V·16 values
                    unsafe {
                        let p = out.as_mut_ptr().add(v * LANES);
                        _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), sum));
                    }
                }
            }
        }
    }
}

/// [`add_row_times`]'s arguments, as a kernel compiled for each processor ([`widest`]).
struct RowTimes<'a> {
    x: &'a [f32],
    w: &'a [f32],
    stride: usize,
    out: &'a mut [f32],
}

impl Kernel for RowTimes<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        add_row_times_portable::<I>(self.x, self.w, self.stride, self.out);
    }
}

/// The loops, compiled for each processor by [`widest`]: four rows of `w` per pass over `out`, which
/// stays in the first-level cache.
#[inline(always)]
fn add_row_times_portable<I: Isa>(x: &[f32], w: &[f32], stride: usize, out: &mut [f32]) {
    let width = out.len();
    let row = |i: usize| &w[i * stride..i * stride + width];
    let mut i = 0;
    while i + 4 <= x.len() {
        let [a, b, c, d] = [x[i], x[i + 1], x[i + 2], x[i + 3]];
        let (r0, r1, r2, r3) = (row(i), row(i + 1), row(i + 2), row(i + 3));
        for ((((o, &p), &q), &r), &s) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            let sum = I::mul_add(b, q, I::mul_add(a, p, *o));
            *o = I::mul_add(d, s, I::mul_add(c, r, sum));
        }
        i += 4;
    }
    for (i, &a) in x.iter().enumerate().skip(i) {
        for (o, &p) in out.iter_mut().zip(row(i)) {
            *o = I::mul_add(a, p, *o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_sum_by_hand_for_every_row_count_and_a_column_window() {
        let (rows, units) = (11, 37);
        let w: Vec<f32> = (0..rows * units).map(|v| (v % 13) as f32 - 6.0).collect();
        for n in 0..=rows {
            let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let (first, width) = (3, 29);
            let mut out = vec![1.0f32; width];
            add_row_times(&x, &w[first..], units, &mut out);
            for (c, got) in out.iter().enumerate() {
                let want: f32 = 1.0 + (0..n).map(|i| x[i] * w[i * units + first + c]).sum::<f32>();
                assert!(
                    (got - want).abs() < 1e-4,
                    "{n} rows, column {c}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn a_product_adds_each_row_times_the_matrix_into_a_column_window() {
        // widths below, at and past one and two vectors; inner sizes with and without a
        // remainder of 4; row counts below, at and past a block of four
        for (rows, inner, width) in [
            (3, 5, 4),
            (2, 9, 16),
            (3, 8, 37),
            (1, 0, 20),
            (6, 7, 50),
            (5, 4, 64),
        ] {
            let (b_stride, c_stride, first) = (width + 2, width + 3, 2);
            let a: Vec<f32> = (0..rows * inner).map(|v| v as f32 - 7.0).collect();
            // b: rows `b_stride` apart, the product reads their first `width` values
            let b: Vec<f32> = (0..inner.max(1) * b_stride)
                .map(|v| (v % 5) as f32 * 0.5)
                .collect();
            // c: rows `c_stride` apart, the product writes values first.. of each
            // the product, and its portable form (which other processors run)
            let mut c = vec![1.0f32; rows * c_stride];
            add_product(
                &a,
                rows,
                inner,
                &b,
                b_stride,
                &mut c[first..],
                c_stride,
                width,
            );
            let mut portable = vec![1.0f32; rows * c_stride];
            let window = &mut portable[first..];
            let operands = Operands {
                a: &a,
                rows,
                inner,
                b: &b,
                b_stride,
                c_stride,
            };
            operands.by_rows(0, window, width);
            assert_eq!(c, portable, "{rows}×{inner}×{width}");
            for r in 0..rows {
                for j in 0..c_stride {
                    let want = if (first..first + width).contains(&j) {
                        1.0 + (0..inner)
                            .map(|i| a[r * inner + i] * b[i * b_stride + j - first])
                            .sum::<f32>()
                    } else {
                        1.0
                    };
                    assert_eq!(
                        c[r * c_stride + j],
                        want,
                        "{rows}×{inner}×{width}: row {r}, column {j}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "too short")]
    fn a_short_matrix_is_refused() {
        add_row_times(&[1.0, 2.0], &[1.0; 5], 4, &mut [0.0; 4]);
    }
}
