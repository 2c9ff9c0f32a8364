//! glibc's allocator, tuned for training on the CPU.
//!
//! Burn's CPU backends give every tensor an operation makes a buffer of its own, megabytes at a
//! time, and free most of them within the step. glibc serves an allocation above its mmap
//! threshold (128 KiB at first, raised as buffers are freed, up to 32 MiB) with a fresh
//! mapping, and returns free memory at the top of its heaps above its trim threshold. Each step
//! then maps, faults in, zeroes and unmaps the same buffers again: on the MNIST convnet, 6.6
//! million page faults and 13.5 s of kernel time in a 38 s epoch. With both thresholds raised,
//! freed buffers stay in the heap for the next step (88 thousand page faults, 0.7 s).

/// Set to any value to leave glibc's allocator settings alone.
pub const KEEP_MALLOC_ENV: &str = "KILN_KEEP_MALLOC";

/// Allocations up to this size come from the heap, not from a mapping of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 256 << 20;

/// Free memory at the top of a heap is returned to the system above this size.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 512 << 20;

/// Raises glibc's mmap and trim thresholds, once per process, unless `KILN_KEEP_MALLOC` is set or
/// the process already chose them (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`). A no-op
/// elsewhere than Linux with glibc. Returns whether the thresholds are kiln's.
pub(crate) fn keep_freed_buffers() -> bool {
    static TUNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TUNED.get_or_init(|| {
        let chosen = [
            KEEP_MALLOC_ENV,
            "MALLOC_MMAP_THRESHOLD_",
            "MALLOC_TRIM_THRESHOLD_",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        !chosen && raise_thresholds()
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn raise_thresholds() -> bool {
    // SAFETY: mallopt only changes glibc's allocation parameters; it is thread-safe (it takes
    // the arenas' locks) and valid to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn raise_thresholds() -> bool {
    false
}
