//! The seeded permutation that orders training batches.
//!
//! SplitMix64 feeding a Fisher–Yates shuffle: a few lines, identical in
//! `parity/common.py`, so the PyTorch twins visit the batches in exactly the
//! order the Rust run does without exchanging files. libtorch's own generator is
//! left to weight initialisation and dropout; the loop reseeds it before every
//! training step with [`step_seed`], so that a resumed run draws the dropout
//! masks the uninterrupted run draws.

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, statistically sound for shuffling.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (Lemire's multiply-shift; `n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// The order in which epoch `epoch` (0-based) of a run seeded with `seed`
/// visits `n` samples.
pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<i64> {
    let mut rng = SplitMix64::new(seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut order: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// Multiplier of the step number in [`step_seed`] (an odd 64-bit constant, as
/// `0xD1B5_4A32_D192_ED03` is for the epoch in [`permutation`]).
const STEP_MIX: u64 = 0xA24B_AED4_963E_E407;

/// The seed of libtorch's generator for training step `step` (0-based within
/// the epoch) of epoch `epoch` (0-based) of a run seeded with `seed`:
/// `SplitMix64(seed ^ epoch·0xD1B54A32D192ED03 ^ (step+1)·0xA24BAED4963EE407)`'s
/// first output shifted right by one (a non-negative `i64`, which
/// `torch.manual_seed` takes as the same number). The `+1` keeps every step's
/// state apart from the epoch's batch-order state. `parity/common.py::step_seed`
/// computes the same.
pub fn step_seed(seed: u64, epoch: u64, step: u64) -> i64 {
    let state =
        seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ (step + 1).wrapping_mul(STEP_MIX);
    (SplitMix64::new(state).next_u64() >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference output of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn permutation_is_a_seeded_permutation() {
        let p = permutation(1000, 7, 3);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(p, permutation(1000, 7, 3));
        assert_ne!(p, permutation(1000, 7, 4));
        assert_ne!(p, permutation(1000, 8, 3));
    }

    #[test]
    fn step_seeds_differ_by_seed_epoch_and_step() {
        let s = step_seed(7, 3, 2);
        assert!(s >= 0);
        assert_eq!(s, step_seed(7, 3, 2));
        for other in [step_seed(8, 3, 2), step_seed(7, 4, 2), step_seed(7, 3, 3)] {
            assert_ne!(s, other);
        }
    }
}
