//! A row times a row-major matrix, for kiln's burn-flex kernels on a few rows (`predict` on
//! one sample). gemm's path for a single row ran the MNIST dense model's first layer (784 ×
//! 512) at about 4 GFLOP/s on one thread; this one streams the matrix once, four of its rows at
//! a time, in the widest vectors the processor has.

use super::simd::{Isa, Kernel, widest};

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
        add_row_times_portable(self.x, self.w, self.stride, self.out);
    }
}

/// The loops, compiled for each processor by [`widest`]: four rows of `w` per pass over `out`, which
/// stays in the first-level cache.
#[inline(always)]
fn add_row_times_portable(x: &[f32], w: &[f32], stride: usize, out: &mut [f32]) {
    let width = out.len();
    let row = |i: usize| &w[i * stride..i * stride + width];
    let mut i = 0;
    while i + 4 <= x.len() {
        let [a, b, c, d] = [x[i], x[i + 1], x[i + 2], x[i + 3]];
        let (r0, r1, r2, r3) = (row(i), row(i + 1), row(i + 2), row(i + 3));
        for ((((o, &p), &q), &r), &s) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *o += a * p + b * q + c * r + d * s;
        }
        i += 4;
    }
    for (i, &a) in x.iter().enumerate().skip(i) {
        for (o, &p) in out.iter_mut().zip(row(i)) {
            *o += a * p;
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
    #[should_panic(expected = "too short")]
    fn a_short_matrix_is_refused() {
        add_row_times(&[1.0, 2.0], &[1.0; 5], 4, &mut [0.0; 4]);
    }
}
