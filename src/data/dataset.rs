//! `Dataset`: items produced while the model trains, pass after pass (Keras' `tf.data` and
//! `PyDataset`).

use crate::error::{Error, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// The items of one pass over a [`Dataset`], in order; an error ends the pass.
pub type Items<T> = Box<dyn Iterator<Item = Result<T>> + Send>;

/// Gives the items of pass `n` (0 first).
type Passes<T> = Arc<dyn Fn(u64) -> Items<T> + Send + Sync>;

/// A source of items, read lazily, pass after pass, through a chain of steps: `map`,
/// `shuffle`, `take`, `skip`, `shard`, `batch`, `prefetch`.
///
/// Nothing is read until a pass starts: a dataset describes how to produce its items, as
/// `tf.data` does. Each pass (each epoch of `fit`) reads them again, reshuffled when a
/// `shuffle` step has a seed. Items are produced on the calling thread unless a
/// [`prefetch`](Dataset::prefetch) step moves the steps before it to a background thread.
///
/// `fit`, `evaluate` and `predict` take a `Dataset<Batch>` through
/// [`Model::fit_dataset`](crate::Model::fit_dataset) and its siblings.
///
/// ```
/// use kiln::data::Dataset;
/// let squares = Dataset::from_indexed(10, |i| Ok(i * i))
///     .shuffle(10, 7)
///     .map(|v| Ok(v + 1))
///     .take(4);
/// assert_eq!(squares.len(), Some(4));
/// let first: Vec<usize> = squares.pass(0).collect::<kiln::Result<_>>()?;
/// let again: Vec<usize> = squares.pass(0).collect::<kiln::Result<_>>()?;
/// let next: Vec<usize> = squares.pass(1).collect::<kiln::Result<_>>()?;
/// assert_eq!(first, again); // a pass is reproducible
/// assert_ne!(first, next); // and reshuffled in the next one
/// assert!(first.iter().all(|v| (v - 1) as f64 == ((v - 1) as f64).sqrt().powi(2)));
/// # Ok::<(), kiln::Error>(())
/// ```
pub struct Dataset<T> {
    passes: Passes<T>,
    len: Option<usize>,
}

impl<T> Clone for Dataset<T> {
    fn clone(&self) -> Self {
        Dataset {
            passes: self.passes.clone(),
            len: self.len,
        }
    }
}

impl<T> std::fmt::Debug for Dataset<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset").field("len", &self.len).finish()
    }
}

impl<T: Send + 'static> Dataset<T> {
    /// A dataset whose pass `n` gives `items(n)`; `len` is its length when known (a pass
    /// may give fewer or more items; `fit` then counts what it got).
    pub fn from_fn(
        len: Option<usize>,
        items: impl Fn(u64) -> Items<T> + Send + Sync + 'static,
    ) -> Self {
        Dataset {
            passes: Arc::new(items),
            len,
        }
    }

    /// A dataset of `len` items read by index: `get(0)`, `get(1)`… (a file, a row, an image).
    /// An error from `get` names the index.
    pub fn from_indexed(
        len: usize,
        get: impl Fn(usize) -> Result<T> + Send + Sync + 'static,
    ) -> Self {
        let get = Arc::new(get);
        Dataset::from_fn(Some(len), move |_| {
            let get = get.clone();
            Box::new((0..len).map(move |i| get(i).map_err(|e| in_item(i, e))))
        })
    }

    /// The number of items in a pass, when known.
    pub fn len(&self) -> Option<usize> {
        self.len
    }

    /// Whether a pass is known to give no item.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// The items of pass `pass` (0 first); shuffles depend on it.
    pub fn pass(&self, pass: u64) -> Items<T> {
        (self.passes)(pass)
    }

    /// Each item transformed by `f` (decoding, augmenting, casting). An error from `f` names
    /// the item's position in the pass.
    pub fn map<U: Send + 'static>(
        self,
        f: impl Fn(T) -> Result<U> + Send + Sync + 'static,
    ) -> Dataset<U> {
        let f = Arc::new(f);
        let passes = self.passes;
        Dataset::from_fn(self.len, move |pass| {
            let f = f.clone();
            Box::new(
                passes(pass)
                    .enumerate()
                    .map(move |(i, item)| item.and_then(|v| f(v).map_err(|e| in_item(i, e)))),
            )
        })
    }

    /// Items shuffled through a buffer of `buffer` items, as `tf.data`'s `shuffle`: each item
    /// given is drawn at random from the next `buffer` ones. A buffer as large as the dataset
    /// shuffles it fully. The order depends on `seed` and the pass, so each epoch differs and
    /// every run with the same seed repeats them.
    pub fn shuffle(self, buffer: usize, seed: u64) -> Self {
        let buffer = buffer.max(1);
        let passes = self.passes;
        Dataset::from_fn(self.len, move |pass| {
            let rng = SmallRng::seed_from_u64(seed ^ pass.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            Box::new(Shuffled {
                upstream: passes(pass),
                buffer: Vec::with_capacity(buffer.min(1 << 16)),
                capacity: buffer,
                rng,
                done: false,
            })
        })
    }

    /// The first `n` items.
    pub fn take(self, n: usize) -> Self {
        let passes = self.passes;
        let len = self.len.map(|l| l.min(n));
        Dataset::from_fn(len, move |pass| Box::new(passes(pass).take(n)))
    }

    /// Every item after the first `n`.
    pub fn skip(self, n: usize) -> Self {
        let passes = self.passes;
        let len = self.len.map(|l| l.saturating_sub(n));
        Dataset::from_fn(len, move |pass| Box::new(passes(pass).skip(n)))
    }

    /// Worker `index`'s part of `count` workers: items `index`, `index + count`… Each worker
    /// of a distributed run takes its own shard of the same (identically shuffled) items.
    pub fn shard(self, count: usize, index: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::config(
                "Dataset::shard",
                format!("shard {index} of {count} does not exist; give 0 <= index < count"),
            ));
        }
        let passes = self.passes;
        let len = self.len.map(|l| l / count + usize::from(index < l % count));
        Ok(Dataset::from_fn(len, move |pass| {
            Box::new(passes(pass).skip(index).step_by(count))
        }))
    }

    /// The steps before this one run on a background thread, up to `buffer` items ahead of
    /// the reader, so that producing the next items overlaps with training on this one.
    ///
    /// An error or a panic on that thread reaches the reader as an `Err` in its place; the
    /// thread stops when the pass ends or its reader is dropped.
    pub fn prefetch(self, buffer: usize) -> Self {
        let passes = self.passes;
        let len = self.len;
        Dataset::from_fn(len, move |pass| {
            let (send, receive) = sync_channel(buffer.max(1));
            let passes = passes.clone();
            let spawned = std::thread::Builder::new()
                .name("kiln-prefetch".into())
                .spawn(move || produce(passes, pass, send));
            match spawned {
                Ok(_) => Box::new(Prefetched { receive }),
                Err(e) => Box::new(std::iter::once(Err(Error::data(format!(
                    "Dataset::prefetch: no background thread ({e})"
                ))))),
            }
        })
    }
}

impl<T: Clone + Send + Sync + 'static> Dataset<T> {
    /// A dataset of `items`, held in memory.
    pub fn from_items(items: Vec<T>) -> Self {
        let items = Arc::new(items);
        let len = items.len();
        Dataset::from_indexed(len, move |i| Ok(items[i].clone()))
    }
}

/// `e` from item `i` of a pass.
fn in_item(i: usize, e: Error) -> Error {
    Error::data(format!("dataset item {i}: {e}"))
}

/// Runs pass `pass` of `passes` into `send` until it ends or nobody reads; a panic in the
/// pass becomes an error in its place.
fn produce<T>(passes: Passes<T>, pass: u64, send: SyncSender<Result<T>>) {
    let run = std::panic::AssertUnwindSafe(|| {
        for item in passes(pass) {
            let failed = item.is_err();
            if send.send(item).is_err() || failed {
                return;
            }
        }
    });
    if let Err(panic) = std::panic::catch_unwind(run) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        let _ = send.send(Err(Error::data(format!(
            "a dataset step panicked on the prefetch thread: {message}"
        ))));
    }
}

/// The reading end of a prefetch thread.
struct Prefetched<T> {
    receive: Receiver<Result<T>>,
}

impl<T> Iterator for Prefetched<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        // the thread drops its sender when the pass ends
        self.receive.recv().ok()
    }
}

/// `tf.data`'s shuffle buffer over an upstream pass.
struct Shuffled<T> {
    upstream: Items<T>,
    buffer: Vec<T>,
    capacity: usize,
    rng: SmallRng,
    done: bool,
}

impl<T> Iterator for Shuffled<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        while !self.done && self.buffer.len() < self.capacity {
            match self.upstream.next() {
                Some(Ok(item)) => self.buffer.push(item),
                Some(Err(e)) => return Some(Err(e)),
                None => self.done = true,
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.buffer.len());
        Some(Ok(self.buffer.swap_remove(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all<T: Send + 'static>(d: &Dataset<T>, pass: u64) -> Vec<T> {
        d.pass(pass).collect::<Result<_>>().unwrap()
    }

    #[test]
    fn steps_compose_and_count() {
        let d = Dataset::from_indexed(10, Ok);
        assert_eq!(all(&d.clone().skip(3).take(4), 0), vec![3, 4, 5, 6]);
        assert_eq!(d.clone().skip(3).take(4).len(), Some(4));
        assert_eq!(d.clone().take(20).len(), Some(10));
        assert_eq!(d.clone().skip(20).len(), Some(0));
        assert_eq!(all(&d.clone().map(|v| Ok(v * 2)), 0)[9], 18);
        let shards: Vec<Vec<usize>> = (0..3)
            .map(|k| all(&d.clone().shard(3, k).unwrap(), 0))
            .collect();
        assert_eq!(shards, vec![vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]);
        for (k, shard) in shards.iter().enumerate() {
            assert_eq!(d.clone().shard(3, k).unwrap().len(), Some(shard.len()));
        }
        assert!(d.clone().shard(3, 3).is_err());
        assert!(d.shard(0, 0).is_err());
    }

    #[test]
    fn a_full_buffer_shuffles_every_item_once_and_reproducibly() {
        let d = Dataset::from_indexed(100, Ok).shuffle(100, 3);
        let (a, b, c) = (all(&d, 0), all(&d, 0), all(&d, 1));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, sorted);
        // a buffer of 1 keeps the order; a small one moves items only a little ahead
        assert_eq!(
            all(&Dataset::from_indexed(10, Ok).shuffle(1, 3), 0),
            (0..10).collect::<Vec<_>>()
        );
        let near = all(&Dataset::from_indexed(100, Ok).shuffle(4, 3), 0);
        assert!(
            near.iter().enumerate().all(|(i, v)| *v <= i + 3),
            "{near:?}"
        );
    }

    #[test]
    fn errors_name_the_item_and_end_the_pass() {
        let d = Dataset::from_indexed(5, |i| {
            if i == 3 {
                Err(Error::data("damaged"))
            } else {
                Ok(i)
            }
        });
        let items: Vec<Result<usize>> = d.pass(0).collect();
        let e = items[3].as_ref().unwrap_err().to_string();
        assert!(e.contains("item 3") && e.contains("damaged"), "{e}");
        let mapped = Dataset::from_indexed(5, Ok).map(|v| {
            if v == 2 {
                Err(Error::data("cannot decode"))
            } else {
                Ok(v)
            }
        });
        let e = mapped.pass(0).nth(2).unwrap().unwrap_err().to_string();
        assert!(e.contains("item 2") && e.contains("cannot decode"), "{e}");
    }

    #[test]
    fn prefetch_runs_ahead_on_a_thread_and_reports_its_failures() {
        let main = std::thread::current().id();
        let d = Dataset::from_indexed(20, move |i| Ok((i, std::thread::current().id() != main)))
            .prefetch(4);
        let items = all(&d, 0);
        assert_eq!(items.len(), 20);
        assert!(
            items
                .iter()
                .enumerate()
                .all(|(i, (v, elsewhere))| *v == i && *elsewhere)
        );
        // a panic in a step is an error in its place, not a hang or an abort
        let panicking = Dataset::from_indexed(5, |i| {
            assert!(i != 2, "step failed on {i}");
            Ok(i)
        })
        .prefetch(2);
        let got: Vec<Result<usize>> = panicking.pass(0).collect();
        assert_eq!(got.len(), 3);
        let e = got[2].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("panicked") && e.contains("step failed on 2"),
            "{e}"
        );
        // dropping the reader early stops the thread (it would block on a full channel)
        let mut early = Dataset::from_indexed(1_000_000, Ok).prefetch(1).pass(0);
        assert_eq!(early.next().unwrap().unwrap(), 0);
        drop(early);
    }
}
