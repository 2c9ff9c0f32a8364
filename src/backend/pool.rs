//! Training on the CPU's thread pool.
//!
//! burn-flex splits its larger operations across rayon's global pool (kiln's own kernels use
//! kiln's spinning helpers, [`for_each_part`](super::for_each_part)). Called from a thread
//! outside the pool, every such operation queues its work, wakes the pool's threads and puts
//! the caller to sleep until they finish: two wake-ups per operation. Run on one of the pool's
//! own threads, the caller takes a share of the work itself and the other threads steal the
//! rest.

/// Runs `f`, which computes on `device`, on a thread of rayon's global pool when `device` is
/// burn-flex's CPU, the calling thread waiting for it; else on the calling thread (a GPU's
/// queue belongs to the thread that fills it).
///
/// `f` need not be `Send`: the calling thread does nothing until `f` returns, so nothing `f`
/// holds is used by two threads at once.
pub(crate) fn on_pool<R>(device: &burn::tensor::Device, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "flex")]
    {
        if rayon::current_thread_index().is_some() || *device != burn::tensor::Device::flex() {
            return f();
        }
        let job = Unchecked(f);
        rayon::scope(move |_| Unchecked(job.into_inner()())).into_inner()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        f()
    }
}

/// A value moved to another thread and back while the thread that owns it waits.
#[cfg(feature = "flex")]
struct Unchecked<T>(T);

// SAFETY: `on_pool` moves an `Unchecked` only to a thread of the pool, while the thread that made
// it blocks in `rayon::scope` until the value comes back: it is never used by two threads at once.
#[cfg(feature = "flex")]
unsafe impl<T> Send for Unchecked<T> {}

#[cfg(feature = "flex")]
impl<T> Unchecked<T> {
    fn into_inner(self) -> T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "flex")]
    fn runs_on_the_pool_and_returns_the_value() {
        let flex = burn::tensor::Device::flex();
        let local = std::rc::Rc::new(5);
        let got = on_pool(&flex, || {
            assert!(rayon::current_thread_index().is_some());
            *local + 1
        });
        assert_eq!(got, 6);
        // nested calls run in place
        assert_eq!(on_pool(&flex, || on_pool(&flex, || 7)), 7);
    }
}
