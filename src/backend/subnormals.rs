//! Subnormal floats, flushed to zero in kiln's host loops.
//!
//! Values that decay geometrically pass through the subnormal range, where every operation
//! takes the processor's slow path (on x86, about a hundred cycles): the RMSprop state of a
//! weight whose gradient stays zero (a pixel blank in a whole batch; the MNIST dense model's
//! update slowed from 0.12 s to 0.19 s per epoch over four epochs), and a GRU's gradient
//! carried back through 200 steps by update gates near one half.

/// Subnormal floats read and written as zero on this thread while it lives (x86's DAZ and FTZ
/// flags; elsewhere nothing changes), as TensorFlow's and XLA's CPU kernels compute.
pub(crate) struct FlushSubnormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = 0x8040;

impl FlushSubnormals {
    #[allow(deprecated)] // `_mm_getcsr`/`_mm_setcsr`: the replacement is inline assembly
    pub(crate) fn on_this_thread() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE is part of x86_64; the flags change only how this thread rounds
            // subnormal values, and `drop` restores the register.
            let saved = unsafe { std::arch::x86_64::_mm_getcsr() };
            unsafe { std::arch::x86_64::_mm_setcsr(saved | FTZ_DAZ) };
            FlushSubnormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushSubnormals {}
    }
}

impl Drop for FlushSubnormals {
    #[allow(deprecated)]
    fn drop(&mut self) {
        // SAFETY: restores the value read in `on_this_thread`, on the same thread (the guard
        // lives in one closure call).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnormals_are_zero_while_the_guard_lives_and_only_then() {
        let tiny = f32::MIN_POSITIVE / 4.0;
        let half = |x: f32| std::hint::black_box(x) * std::hint::black_box(0.5);
        {
            let _flush = FlushSubnormals::on_this_thread();
            #[cfg(target_arch = "x86_64")]
            assert_eq!(half(tiny), 0.0);
            assert_eq!(half(1.0), 0.5);
        }
        assert_eq!(half(tiny), tiny / 2.0);
    }
}
