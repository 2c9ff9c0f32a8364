//! Dropout with a mask drawn on the host by a counter-based generator: one product on the
//! device, the same mask on every backend for a given seed, and no serial per-value sampler.

use super::simd::{Isa, Kernel, widest};
use crate::error::{Error, Result};
use burn::tensor::{Tensor, TensorData};

/// SplitMix64's increment: consecutive counters times it are the generator's states.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Keeps each value of `x` with probability `1 - rate`, scaled by `1 / (1 - rate)`, and zeroes
/// the others. The mask depends on `seed` and on `x`'s number of values only, so it is the same
/// on every device; the gradient with respect to `x` is the same mask.
///
/// At `rate` 0, `x` is returned as it is. A rate outside `[0, 1)` is an error.
///
/// ```
/// use burn::tensor::{Device, Tensor};
///
/// let x = Tensor::<2>::ones([4, 1000], &Device::default());
/// let y = kiln::ops::dropout(x.clone(), 0.25, 7)?.into_data().try_to_vec::<f32>().unwrap();
/// let kept = y.iter().filter(|v| **v != 0.0).count() as f64 / y.len() as f64;
/// assert!((kept - 0.75).abs() < 0.03);
/// assert!(y.iter().all(|v| *v == 0.0 || (*v - 4.0 / 3.0).abs() < 1e-6));
/// assert!(kiln::ops::dropout(x, 1.0, 7).is_err());
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn dropout<const D: usize>(x: Tensor<D>, rate: f64, seed: u64) -> Result<Tensor<D>> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::config(
            "kiln::ops::dropout: rate",
            format!("{rate} is outside [0, 1): give the fraction of values to drop"),
        ));
    }
    if rate == 0.0 {
        return Ok(x);
    }
    let shape = x.shape();
    let values = mask(shape.num_elements(), rate, seed);
    let mask = Tensor::<D>::from_data(TensorData::new(values, shape), &x.device());
    Ok(x * mask)
}

/// `n` values, each `1 / (1 - rate)` with probability `1 - rate` and 0 otherwise. Value `2i`
/// and `2i + 1` take the low and high halves of SplitMix64's output for counter `i + 1`.
fn mask(n: usize, rate: f64, seed: u64) -> Vec<f32> {
    let keep = 1.0 - rate;
    let mut values = vec![0.0f32; n];
    widest(Mask {
        values: &mut values,
        seed,
        scale: (1.0 / keep) as f32,
        // a 32-bit draw r keeps its value when r < keep · 2³²
        threshold: (keep * 4_294_967_296.0) as u64,
    });
    values
}

/// Fills `values` with the mask: eight counters at a time, so that their outputs are computed
/// in one vector each step (SplitMix64's products are 64-bit: AVX-512 DQ has them).
struct Mask<'a> {
    values: &'a mut [f32],
    seed: u64,
    scale: f32,
    threshold: u64,
}

impl Kernel for Mask<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        const DRAWS: usize = 8;
        let Mask {
            values,
            seed,
            scale,
            threshold,
        } = self;
        let pick = |bits: u64| if bits < threshold { scale } else { 0.0 };
        let draw = |counter: u64| mix(seed.wrapping_add(counter.wrapping_mul(GAMMA)));
        let mut blocks = values.chunks_exact_mut(2 * DRAWS);
        let mut counter = 0u64;
        for block in &mut blocks {
            let z: [u64; DRAWS] = std::array::from_fn(|j| draw(counter + 1 + j as u64));
            for (pair, z) in block.chunks_exact_mut(2).zip(z) {
                pair[0] = pick(z & 0xFFFF_FFFF);
                pair[1] = pick(z >> 32);
            }
            counter += DRAWS as u64;
        }
        for (i, v) in blocks.into_remainder().iter_mut().enumerate() {
            let z = draw(counter + 1 + i as u64 / 2);
            *v = pick(if i % 2 == 0 { z & 0xFFFF_FFFF } else { z >> 32 });
        }
    }
}

/// SplitMix64's output function.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d::tests::{devices, values};

    #[test]
    fn the_kept_fraction_and_scale_follow_the_rate() {
        for rate in [0.1, 0.5, 0.9] {
            let m = mask(100_001, rate, 3);
            let kept = m.iter().filter(|v| **v != 0.0).count() as f64 / m.len() as f64;
            // 5 standard deviations of a binomial proportion at n = 100 001
            let sd = (rate * (1.0 - rate) / m.len() as f64).sqrt();
            assert!(
                (kept - (1.0 - rate)).abs() < 5.0 * sd,
                "rate {rate}: kept {kept}"
            );
            let scale = (1.0 / (1.0 - rate)) as f32;
            assert!(m.iter().all(|v| *v == 0.0 || *v == scale));
        }
    }

    #[test]
    fn value_2i_and_2i_plus_1_take_the_halves_of_counter_i_plus_1() {
        for n in (0..40).chain([1001]) {
            let threshold = (0.6 * 4_294_967_296.0) as u64;
            let pick = |bits: u64| {
                if bits < threshold {
                    (1.0 / 0.6) as f32
                } else {
                    0.0
                }
            };
            let want: Vec<f32> = (0..n as u64)
                .map(|i| {
                    let z = mix(5u64.wrapping_add((i / 2 + 1).wrapping_mul(GAMMA)));
                    pick(if i % 2 == 0 { z & 0xFFFF_FFFF } else { z >> 32 })
                })
                .collect();
            assert_eq!(mask(n, 0.4, 5), want, "{n} values");
        }
    }

    #[test]
    fn masks_depend_on_the_seed_only_and_have_no_runs() {
        assert_eq!(mask(1001, 0.5, 9), mask(1001, 0.5, 9));
        let (a, b) = (mask(1000, 0.5, 9), mask(1000, 0.5, 10));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!((400..600).contains(&same), "{same} of 1000 agree");
        // neighbours are independent: a kept value is followed by a kept one half the time
        let m = mask(100_000, 0.5, 1);
        let both = m.windows(2).filter(|w| w[0] != 0.0 && w[1] != 0.0).count();
        let ratio = both as f64 / m.len() as f64;
        assert!((ratio - 0.25).abs() < 0.01, "{ratio}");
        // an odd length ends with a drawn value, not a default
        assert!(
            mask(10_001, 0.5, 2)
                .iter()
                .rev()
                .take(200)
                .any(|v| *v != 0.0)
        );
    }

    #[test]
    fn the_mask_is_the_same_on_every_device_and_is_the_gradient() {
        let mut outputs = vec![];
        for device in devices() {
            let device = device.autodiff();
            let x = Tensor::<2>::ones([3, 500], &device).require_grad();
            let y = dropout(x.clone(), 0.3, 11).unwrap();
            let grad = y.clone().sum().backward();
            let (dx, y) = (values(x.grad(&grad).unwrap()), values(y));
            assert_eq!(dx, y, "x is ones, so the output is the mask");
            outputs.push(y);
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn rate_zero_is_the_identity() {
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &devices()[0]);
        let y = dropout(x.clone(), 0.0, 1).unwrap();
        assert_eq!(y.into_data(), x.into_data());
    }
}
