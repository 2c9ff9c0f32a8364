//! The matrix product of kiln's burn-flex kernels: one call of the `gemm` crate (the one
//! burn-flex uses) on one thread, each operand given by its row and column strides.

use std::mem::MaybeUninit;

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each matrix given by its row and column strides.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[f32],
    [rhs_rs, rhs_cs]: [usize; 2],
) {
    assert!(dst.len() >= m * n, "matmul destination too small");
    check(m, n, k, lhs, [lhs_rs, lhs_cs], rhs, [rhs_rs, rhs_cs]);
    // SAFETY: `check` keeps every index the strides reach inside the slices, and `dst` is
    // borrowed mutably, so nothing else reads or writes it meanwhile.
    unsafe {
        product(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            accumulate,
            lhs,
            [lhs_rs, lhs_cs],
            rhs,
            [rhs_rs, rhs_cs],
        )
    }
}

/// Panics unless every index the strides reach lies inside `lhs` and `rhs`.
fn check(
    m: usize,
    n: usize,
    k: usize,
    lhs: &[f32],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[f32],
    [rhs_rs, rhs_cs]: [usize; 2],
) {
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
}

/// gemm on one thread.
///
/// # Safety
/// `dst` must be valid for writes (and reads, when `accumulate`) of `m × n` values, row-major,
/// and the strides must keep inside `lhs` and `rhs` ([`check`]).
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    accumulate: bool,
    lhs: &[f32],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[f32],
    [rhs_rs, rhs_cs]: [usize; 2],
) {
    // SAFETY: the caller's promises above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `dst (m×n) = lhs (m×k) · rhs (k×n)` into memory not yet written: [`matmul`] without reading
/// `dst`, which it returns initialized.
pub(super) fn matmul_into<'a>(
    [m, n, k]: [usize; 3],
    dst: &'a mut [MaybeUninit<f32>],
    lhs: &[f32],
    lhs_strides: [usize; 2],
    rhs: &[f32],
    rhs_strides: [usize; 2],
) -> &'a mut [f32] {
    assert!(dst.len() >= m * n, "matmul destination too small");
    if k == 0 {
        // gemm writes nothing when there is nothing to sum
        dst.fill(MaybeUninit::new(0.0));
    } else {
        check(m, n, k, lhs, lhs_strides, rhs, rhs_strides);
        // SAFETY: as in `matmul`; with `read_dst` false gemm only writes `dst`, each of its
        // first m × n values, through the pointer.
        unsafe {
            product(
                m,
                n,
                k,
                dst.as_mut_ptr().cast(),
                false,
                lhs,
                lhs_strides,
                rhs,
                rhs_strides,
            )
        };
    }
    // SAFETY: the first m × n values were written above; `MaybeUninit<f32>` has the layout of
    // `f32`.
    unsafe { &mut *(&mut dst[..m * n] as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_by_hand_with_strides_and_accumulation() {
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
        let (a, b) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let mut dst = [0.0; 4];
        matmul([2, 2, 2], &mut dst, false, &a, [2, 1], &b, [2, 1]);
        assert_eq!(dst, [19.0, 22.0, 43.0, 50.0]);
        // aᵀ · b, read through strides: [[1, 3], [2, 4]] · b = [[26, 30], [38, 44]], added
        matmul([2, 2, 2], &mut dst, true, &a, [1, 2], &b, [2, 1]);
        assert_eq!(dst, [45.0, 52.0, 81.0, 94.0]);
        let mut fresh = [MaybeUninit::<f32>::uninit(); 4];
        let written = matmul_into([2, 2, 2], &mut fresh, &a, [2, 1], &b, [2, 1]);
        assert_eq!(written, [19.0, 22.0, 43.0, 50.0]);
        let mut fresh = [MaybeUninit::<f32>::uninit(); 2];
        assert_eq!(
            matmul_into([1, 2, 0], &mut fresh, &a, [2, 1], &b, [2, 1]),
            [0.0, 0.0]
        );
    }
}
