//! kiln's parallel loops: the calling thread takes a share of the work, and helper threads that
//! spin between jobs take the rest.
//!
//! On this project's virtual machines, waking a sleeping thread costs tens of microseconds (the
//! other processor is halted and must be interrupted), and rayon's pool, called from outside,
//! puts the caller to sleep until a worker wakes it again. A one-sample `predict` of the MNIST
//! dense model takes about 30 µs: handing half its product to the pool cost more than it
//! saved, and a 32-sample `predict` spent a fifth of its time in those wake-ups. Here a helper
//! that has just finished a job spins for [`SPIN`] before it sleeps, so back-to-back calls find
//! it awake, and the caller spins (briefly) for the helpers' parts rather than sleeping.
//!
//! Training, which runs on a thread of rayon's pool ([`on_pool`](super::on_pool)), uses the
//! helpers too. Its steps hand out a dozen loops each (the products' blocks, the optimizer's
//! chunks, the batch's copy) with serial work between them, and rayon's idle worker went to
//! sleep and was woken for most of them: the dense MNIST model's epoch took 0.91 s with
//! rayon's loops and 0.75 s with the helpers' (medians of nine epochs, alternating).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// How long a helper spins for its next job before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// Runs `f(0)`, …, `f(parts - 1)`, in parallel where there are threads to share them: on the
/// calling thread and the spinning helpers (one fewer than rayon's threads). A second caller
/// while the helpers are busy (another thread, or a part calling again) runs its parts itself.
///
/// # Panics
/// When `f` panics, after every part has finished.
pub(crate) fn for_each_part(parts: usize, f: impl Fn(usize) + Sync) {
    if parts <= 1 {
        (0..parts).for_each(f);
        return;
    }
    match helpers() {
        Some(helpers) => helpers.run(parts, &f),
        None => (0..parts).for_each(f),
    }
}

/// `f` of each of `items`, in order, computed in parallel as [`for_each_part`] does, each item
/// moved to the thread that takes it.
///
/// # Panics
/// When `f` panics, after every item has been taken.
pub(crate) fn map_items<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let mut slots: Vec<(Option<T>, Option<R>)> =
        items.into_iter().map(|item| (Some(item), None)).collect();
    each_chunk(&mut slots, 1, |_, slot| {
        let (item, result) = &mut slot[0];
        *result = item.take().map(&f);
    });
    slots
        .into_iter()
        .map(|(_, result)| result.expect("every item was mapped"))
        .collect()
}

/// The helpers, started on first use: none when rayon has one thread or no thread could be
/// started (the loops then run on the caller).
fn helpers() -> Option<&'static Helpers> {
    static HELPERS: OnceLock<Option<Helpers>> = OnceLock::new();
    HELPERS
        .get_or_init(|| {
            let count = rayon::current_num_threads().saturating_sub(1);
            Helpers::start(count)
        })
        .as_ref()
}

/// One job: a loop body and its parts, claimed one at a time by whoever is free.
struct Job<'a> {
    body: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Claims and runs parts until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, SeqCst);
            if i >= self.parts {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| (self.body)(i))).is_err() {
                self.panicked.store(true, SeqCst);
            }
            self.done.fetch_add(1, SeqCst);
        }
    }
}

/// What the caller and the helpers share, on its own cache lines.
#[repr(align(128))]
struct Board {
    /// Bumped for each new job.
    generation: AtomicUsize,
    /// The current job (a `Job` on the caller's stack, its lifetime erased), null when none.
    job: AtomicPtr<Job<'static>>,
    /// Helpers between reading `job` and leaving it: the caller waits for none before its job
    /// leaves its stack.
    inside: AtomicUsize,
    /// Helpers asleep.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

struct Helpers {
    board: &'static Board,
    /// Held by the caller whose job the helpers run.
    busy: Mutex<()>,
}

impl Helpers {
    /// Starts up to `count` helpers: `None` when none started.
    fn start(count: usize) -> Option<Self> {
        let board: &'static Board = Box::leak(Box::new(Board {
            generation: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            inside: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        // a thread the system refuses is one helper fewer, not a failed `predict`
        let started = (0..count)
            .take_while(|i| {
                std::thread::Builder::new()
                    .name(format!("kiln-helper-{i}"))
                    .spawn(move || helper(board))
                    .is_ok()
            })
            .count();
        (started > 0).then(|| Self {
            board,
            busy: Mutex::new(()),
        })
    }

    fn run(&self, parts: usize, body: &(dyn Fn(usize) + Sync)) {
        let _busy = match self.busy.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                (0..parts).for_each(body);
                return;
            }
        };
        let job = Job {
            body,
            parts,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        };
        let board = self.board;
        // The pointer is cleared, and no helper is inside, before `job` goes out of scope below.
        board
            .job
            .store((&job as *const Job).cast_mut().cast(), SeqCst);
        board.generation.fetch_add(1, SeqCst);
        if board.sleeping.load(SeqCst) > 0 {
            let _lock = board.lock.lock().unwrap_or_else(PoisonError::into_inner);
            board.wake.notify_all();
        }
        job.work();
        while job.done.load(SeqCst) < parts {
            std::hint::spin_loop();
        }
        board.job.store(std::ptr::null_mut(), SeqCst);
        while board.inside.load(SeqCst) > 0 {
            std::hint::spin_loop();
        }
        if job.panicked.load(SeqCst) {
            panic!("a part of a parallel loop panicked");
        }
    }
}

/// A helper's life: wait for a new job (spinning, then asleep), work on it, again.
fn helper(board: &'static Board) {
    let mut seen = board.generation.load(SeqCst);
    loop {
        seen = next_generation(board, seen);
        board.inside.fetch_add(1, SeqCst);
        let job = board.job.load(SeqCst);
        if !job.is_null() {
            // SAFETY: the caller keeps its job alive until `inside` is back to zero, and it
            // clears the pointer before it waits for that: a helper counted in `inside` that
            // read a non-null pointer reads a live job.
            unsafe { &*job }.work();
        }
        board.inside.fetch_sub(1, SeqCst);
    }
}

/// Waits for a generation other than `seen` and returns it: spinning for [`SPIN`], then asleep.
fn next_generation(board: &Board, seen: usize) -> usize {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let now = board.generation.load(SeqCst);
        if now != seen {
            return now;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(256) && start.elapsed() > SPIN {
            break;
        }
    }
    let mut lock = board.lock.lock().unwrap_or_else(PoisonError::into_inner);
    board.sleeping.fetch_add(1, SeqCst);
    loop {
        // a caller that bumped the generation before `sleeping` rose is seen here; one after
        // finds `sleeping` raised and wakes us under the lock
        let now = board.generation.load(SeqCst);
        if now != seen {
            board.sleeping.fetch_sub(1, SeqCst);
            return now;
        }
        lock = board
            .wake
            .wait(lock)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Runs `f(i, chunk)` for each chunk `i` of `chunk_len` values of `raw` (the last may be
/// shorter), in parallel ([`for_each_part`]); one chunk stays on the calling thread.
pub(crate) fn each_chunk<T: Send>(
    raw: &mut [T],
    chunk_len: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let (len, chunk_len) = (raw.len(), chunk_len.max(1));
    if len <= chunk_len {
        // one chunk: no hand-over to another thread
        raw.chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
        return;
    }
    let start = Shared::new(raw.as_mut_ptr());
    for_each_part(len.div_ceil(chunk_len), |i| {
        let first = i * chunk_len;
        let count = chunk_len.min(len - first);
        // SAFETY: the chunks are disjoint and inside `raw`, which outlives the loop.
        let chunk = unsafe { std::slice::from_raw_parts_mut(start.get().add(first), count) };
        f(i, chunk);
    });
}

/// A buffer's start, shared by the parts of a loop that write disjoint values of it
/// ([`each_chunk`]'s chunks, a product's columns): each user promises its part writes values
/// no other part reads or writes.
pub(crate) struct Shared<T>(*mut T);

// SAFETY: the parts given a `Shared` write disjoint values of the buffer (the promise above),
// of a type that may move between threads.
unsafe impl<T: Send> Send for Shared<T> {}
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<T> {}

impl<T> Shared<T> {
    pub(crate) fn new(start: *mut T) -> Self {
        Self(start)
    }

    /// The start (a method, so that closures capture the whole `Shared`).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_from_outside_and_inside_the_pool() {
        for parts in [0, 1, 2, 3, 17] {
            let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..50 {
                for_each_part(parts, |i| {
                    counts[i].fetch_add(1, SeqCst);
                });
            }
            rayon::scope(|_| {
                for_each_part(parts, |i| {
                    counts[i].fetch_add(1, SeqCst);
                })
            });
            assert!(counts.iter().all(|c| c.load(SeqCst) == 51), "{parts}");
        }
    }

    #[test]
    fn a_part_that_loops_again_runs_its_loop_itself() {
        let total = AtomicUsize::new(0);
        for_each_part(4, |i| {
            for_each_part(3, |j| {
                total.fetch_add(10 * i + j, SeqCst);
            });
        });
        // (0 + 10 + 20 + 30) · 3 + (0 + 1 + 2) · 4
        assert_eq!(total.load(SeqCst), 192);
    }

    #[test]
    fn items_are_moved_to_one_part_each_and_mapped_in_order() {
        for count in [0, 1, 2, 9] {
            let items: Vec<Vec<usize>> = (0..count).map(|i| vec![i; i]).collect();
            let got = map_items(items, |v| v.into_iter().sum::<usize>());
            let want: Vec<usize> = (0..count).map(|i| i * i).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn callers_on_many_threads_and_after_the_helpers_sleep() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        for_each_part(4, |i| {
                            total.fetch_add(i + 1, SeqCst);
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 4 * 200 * 10);
        // long enough for the helpers to fall asleep: the next job wakes them
        std::thread::sleep(SPIN * 4);
        for_each_part(3, |i| {
            total.fetch_add(i, SeqCst);
        });
        assert_eq!(total.load(SeqCst), 8000 + 3);
    }

    #[test]
    fn a_panicking_part_panics_the_caller_after_the_others_finish() {
        let finished = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            for_each_part(6, |i| {
                assert_ne!(i, 2, "part two fails");
                finished.fetch_add(1, SeqCst);
            })
        }));
        assert!(result.is_err());
        assert_eq!(finished.load(SeqCst), 5);
        // the helpers still work
        let count = AtomicUsize::new(0);
        for_each_part(4, |_| {
            count.fetch_add(1, SeqCst);
        });
        assert_eq!(count.load(SeqCst), 4);
    }
}
