//! Helpers shared by the integration tests.

use ndarray::{ArrayD, IxDyn};

/// Values spread over [-1, 1), the same for the same `seed` (a linear congruential generator,
/// so tests need no RNG crate and every backend gets identical inputs).
#[allow(dead_code)]
pub fn uniform(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut s = seed;
    let values = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

/// flex, ndarray and, when wgpu starts, the GPU (lavapipe in CI): the devices a check runs on,
/// flex first. Without wgpu the check says so and runs on the CPU backends only, unless
/// `KILN_REQUIRE_WGPU` is set (by `.ci/run`, which installs lavapipe).
#[allow(dead_code)]
pub fn devices() -> Vec<kiln::Device> {
    use kiln::Device;
    let mut devices = vec![Device::cpu().unwrap(), Device::cpu_ndarray().unwrap()];
    match Device::gpu() {
        Ok(gpu) => devices.push(gpu),
        Err(e) => {
            assert!(
                std::env::var("KILN_REQUIRE_WGPU").is_err(),
                "KILN_REQUIRE_WGPU is set but wgpu cannot start: {e}"
            );
            eprintln!("SKIPPED wgpu: {e}");
        }
    }
    devices
}
