//! Seeds: one call makes weights, shuffling and dropout reproducible.

use std::sync::Mutex;

static STREAM: Mutex<Option<u64>> = Mutex::new(None);

/// Seeds everything random in kiln that is not given its own seed: weight initialization,
/// the shuffling of `fit`, and dropout, like Keras' `keras.utils.set_random_seed`.
///
/// ```
/// kiln::set_random_seed(42);
/// let a = kiln::random::next_seed();
/// kiln::set_random_seed(42);
/// assert_eq!(kiln::random::next_seed(), a);
/// ```
pub fn set_random_seed(seed: u64) {
    *STREAM.lock().unwrap_or_else(|e| e.into_inner()) = Some(seed);
}

/// The next seed of the stream started by [`set_random_seed`], or a fresh random one when no
/// seed was set.
pub fn next_seed() -> u64 {
    let mut state = STREAM.lock().unwrap_or_else(|e| e.into_inner());
    match state.as_mut() {
        Some(s) => splitmix64(s),
        None => rand::random(),
    }
}

/// SplitMix64: advances `state` and returns a well-mixed 64-bit value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
