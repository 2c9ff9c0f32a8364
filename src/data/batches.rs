//! Splitting samples into batches, shuffled or in order.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

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

    /// Starts an epoch: reshuffles the order when shuffling.
    pub(crate) fn shuffle(&mut self) {
        if let Some(rng) = &mut self.rng {
            self.order.shuffle(rng);
        }
    }

    /// The batches of an epoch.
    pub(crate) fn steps(&self) -> usize {
        self.order.len().div_ceil(self.batch_size.max(1))
    }

    /// The sample indices of batch `step` of this epoch, or `None` past the last.
    pub(crate) fn batch(&self, step: usize) -> Option<&[usize]> {
        let size = self.batch_size.max(1);
        let start = step.checked_mul(size).filter(|&s| s < self.order.len())?;
        Some(&self.order[start..(start + size).min(self.order.len())])
    }

    /// Starts an epoch: returns the sample indices of each batch.
    #[cfg(test)]
    fn epoch(&mut self) -> Vec<&[usize]> {
        self.shuffle();
        (0..self.steps()).filter_map(|s| self.batch(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_epochs_are_permutations_and_reproducible() {
        let mut a = Batcher::new(10, 3, Some(7));
        let mut b = Batcher::new(10, 3, Some(7));
        assert_eq!(Batcher::new(10, 3, Some(7)).epoch().len(), 4);
        let ea: Vec<usize> = a.epoch().concat();
        let eb: Vec<usize> = b.epoch().concat();
        assert_eq!(ea, eb);
        let mut sorted = ea.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(ea, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn unshuffled_epochs_keep_order() {
        let mut a = Batcher::new(5, 2, None);
        let e: Vec<Vec<usize>> = a.epoch().iter().map(|c| c.to_vec()).collect();
        assert_eq!(e, vec![vec![0, 1], vec![2, 3], vec![4]]);
    }
}
