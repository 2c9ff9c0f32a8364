//! NumPy's legacy `RandomState(seed).shuffle`, bit for bit: Keras shuffles the files of a
//! directory with it before splitting off validation, so the same seed must pick the same
//! files here.

/// The Mersenne Twister MT19937 as NumPy's `RandomState` seeds it from an integer.
struct Mt19937 {
    state: [u32; 624],
    pos: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, pos: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos >= 624 {
            self.generate();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        for i in 0..624 {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % 624] & LOWER);
            let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.pos = 0;
    }

    fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    /// A uniform integer in `0..=max`, as NumPy's legacy `random_interval`: the smallest bit
    /// mask covering `max`, redrawn until the masked value fits.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        loop {
            let value = if max <= u64::from(u32::MAX) {
                u64::from(self.next_u32()) & mask
            } else {
                self.next_u64() & mask
            };
            if value <= max {
                return value;
            }
        }
    }
}

/// Shuffles `items` as `numpy.random.RandomState(seed).shuffle(items)` does (seeds up to
/// 2^32 - 1, as NumPy accepts).
pub(crate) fn numpy_shuffle<T>(items: &mut [T], seed: u32) {
    let mut rng = Mt19937::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.interval(i as u64) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_numpys() {
        // np.random.RandomState(5489).randint(0, 2**32, dtype=np.uint64) would draw 64 bits;
        // MT19937's reference output for seed 5489 is 3499211612, 581869302, 3890346734
        let mut rng = Mt19937::new(5489);
        assert_eq!(
            [rng.next_u32(), rng.next_u32(), rng.next_u32()],
            [3_499_211_612, 581_869_302, 3_890_346_734]
        );
    }

    #[test]
    fn shuffles_match_numpy() {
        // from NumPy 2: a = list(range(n)); np.random.RandomState(seed).shuffle(a)
        let mut a: Vec<usize> = (0..10).collect();
        numpy_shuffle(&mut a, 1);
        assert_eq!(a, [2, 9, 6, 4, 0, 3, 1, 7, 8, 5]);
        let mut b: Vec<usize> = (0..10).collect();
        numpy_shuffle(&mut b, 1337);
        assert_eq!(b, [6, 3, 0, 4, 5, 2, 1, 9, 8, 7]);
        let mut c: Vec<usize> = (0..100_000).collect();
        numpy_shuffle(&mut c, 42);
        assert_eq!(c[..5], [75721, 80184, 19864, 76699, 92991]);
        assert_eq!(c[99_997..], [76820, 860, 15795]);
    }
}
