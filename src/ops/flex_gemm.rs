//! The matrix product of kiln's burn-flex kernels: one call of the `gemm` crate (the one
//! burn-flex uses) on one thread, each operand given by its row and column strides.

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
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above keep every index the strides reach inside the slices, and
    // `dst` is borrowed mutably, so nothing else reads or writes it meanwhile.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
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
    }
}
