//! Splitting samples into batches, shuffled or in order.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

/// The `(start, end)` sample ranges of consecutive batches; the last may be smaller.
pub(crate) fn batch_ranges(n: usize, batch_size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(batch_size.max(1))
        .map(move |s| (s, (s + batch_size).min(n)))
}

/// The sample order of one epoch, reshuffled each epoch from a seeded generator.
pub(crate) struct Batcher {
    order: Vec<usize>,
    batch_size: usize,
    rng: Option<SmallRng>,
}

impl Batcher {
    /// Batches over `n` samples; shuffled each epoch when `shuffle_seed` is given.
    pub(crate) fn new(n: usize, batch_size: usize, shuffle_seed: Option<u64>) -> Self {
        Batcher {
            order: (0..n).collect(),
            batch_size,
            rng: shuffle_seed.map(SmallRng::seed_from_u64),
        }
    }

    /// Starts an epoch: returns the sample indices of each batch.
    pub(crate) fn epoch(&mut self) -> std::slice::Chunks<'_, usize> {
        if let Some(rng) = &mut self.rng {
            self.order.shuffle(rng);
        }
        self.order.chunks(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_sample_once() {
        let r: Vec<_> = batch_ranges(10, 4).collect();
        assert_eq!(r, vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(batch_ranges(0, 4).count(), 0);
    }

    #[test]
    fn shuffled_epochs_are_permutations_and_reproducible() {
        let mut a = Batcher::new(10, 3, Some(7));
        let mut b = Batcher::new(10, 3, Some(7));
        assert_eq!(Batcher::new(10, 3, Some(7)).epoch().count(), 4);
        let ea: Vec<usize> = a.epoch().flatten().copied().collect();
        let eb: Vec<usize> = b.epoch().flatten().copied().collect();
        assert_eq!(ea, eb);
        let mut sorted = ea.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(ea, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn unshuffled_epochs_keep_order() {
        let mut a = Batcher::new(5, 2, None);
        let e: Vec<Vec<usize>> = a.epoch().map(|c| c.to_vec()).collect();
        assert_eq!(e, vec![vec![0, 1], vec![2, 3], vec![4]]);
    }
}
