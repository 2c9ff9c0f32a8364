//! Kernels compiled for the widest vectors the processor has, chosen at run time.
//!
//! kiln builds for the baseline x86-64 processor (SSE2), so its own loops get 4-wide vectors
//! unless they are compiled again with AVX2 or AVX-512 (F and DQ: 64-bit products) enabled. A [`Kernel`]'s `run` is
//! `#[inline(always)]`, so [`widest`] inlines it into a function compiled for AVX-512, for AVX2
//! with FMA, or for the baseline, and calls the one this processor runs.

/// The `f32` lanes of the widest vectors kiln compiles for (AVX-512): loops over blocks of this
/// many values become whole vectors on every instruction set.
pub(super) const LANES: usize = 16;

/// A loop nest to compile once per instruction set. Implementations mark `run`
/// `#[inline(always)]`, so that it takes on the instruction set of the caller it is inlined into.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;

    /// The work itself, in portable Rust; `I` says how to multiply and add.
    fn run<I: Isa>(self) -> Self::Output;
}

/// What an instruction set offers a kernel beyond what the compiler vectorizes by itself.
pub(crate) trait Isa {
    /// `a · b + c`: rounded once where the processor has fused multiply-add (AVX2 and AVX-512
    /// builds), twice on the baseline, where a fused one would be a slow library call.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// AVX2 with FMA, and AVX-512.
struct Fused;

impl Isa for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// The baseline x86-64 and other processors.
struct Separate;

impl Isa for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Runs `kernel` compiled for the widest vectors this processor has.
pub(crate) fn widest<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the processor has AVX-512F and DQ, checked just above.
            return unsafe { avx512(kernel) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX2 and FMA, checked just above.
            return unsafe { avx2(kernel) };
        }
    }
    kernel.run::<Separate>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn avx512<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<Fused>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<Fused>()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dot<'a>(&'a [f32], &'a [f32]);

    impl Kernel for Dot<'_> {
        type Output = f32;

        #[inline(always)]
        fn run<I: Isa>(self) -> f32 {
            self.0
                .iter()
                .zip(self.1)
                .fold(0.0, |s, (a, b)| I::mul_add(*a, *b, s))
        }
    }

    #[test]
    fn every_instruction_set_computes_the_same_result() {
        let a: Vec<f32> = (0..37).map(|v| v as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|v| 3.0 - v as f32).collect();
        let want: f32 = (0..37).map(|v| v as f32 * 0.5 * (3.0 - v as f32)).sum();
        assert_eq!(widest(Dot(&a, &b)), want);
        assert_eq!(Dot(&a, &b).run::<Separate>(), want);
        assert_eq!(Dot(&a, &b).run::<Fused>(), want);
    }
}
