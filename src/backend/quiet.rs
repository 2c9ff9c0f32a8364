//! Silencing what graphics drivers print while kiln probes for a GPU.
//!
//! Starting Vulkan without a display makes Mesa's window-system code (libwayland) print
//! `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` to standard error, twice
//! per probe, though nothing failed and no window is used. kiln reports what it found as a
//! `Result`, so while it probes, the process's standard error goes to `/dev/null`.

/// Runs `f` with the process's standard error sent to `/dev/null` (on Unix; elsewhere as is),
/// restored afterwards, panics included.
pub(crate) fn with_quiet_stderr<T>(f: impl FnOnce() -> T) -> T {
    let _guard = Guard::new();
    f()
}

/// While alive, file descriptor 2 points at `/dev/null`; the original is restored on drop.
struct Guard {
    #[cfg(unix)]
    saved: Option<libc::c_int>,
}

impl Guard {
    #[cfg(unix)]
    fn new() -> Self {
        use std::io::Write;
        let _ = std::io::stderr().flush();
        // SAFETY: plain descriptor calls on descriptors this function opens or that the process
        // holds (2); every failure leaves standard error as it was.
        let saved = unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if null < 0 {
                return Guard { saved: None };
            }
            let saved = libc::dup(2);
            let ok = saved >= 0 && libc::dup2(null, 2) >= 0;
            libc::close(null);
            if !ok {
                if saved >= 0 {
                    libc::close(saved);
                }
                return Guard { saved: None };
            }
            saved
        };
        Guard { saved: Some(saved) }
    }

    #[cfg(not(unix))]
    fn new() -> Self {
        Guard {}
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            // SAFETY: `saved` is the descriptor `new` duplicated from 2 and still owns.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn stderr_comes_back_after_the_quiet_part() {
        let before = unsafe { libc::fcntl(2, libc::F_GETFD) };
        let value = with_quiet_stderr(|| {
            eprintln!("this line goes to /dev/null");
            7
        });
        assert_eq!(value, 7);
        assert_eq!(unsafe { libc::fcntl(2, libc::F_GETFD) }, before);
        // and a panic inside restores it too
        let caught = std::panic::catch_unwind(|| with_quiet_stderr(|| panic!("quiet")));
        assert!(caught.is_err());
        assert!(unsafe { libc::fcntl(2, libc::F_GETFD) } >= 0);
    }
}
