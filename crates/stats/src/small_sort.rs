//! Sorting up to 128 `u32` keys in AVX2 registers: a bitonic network over sixteen
//! vectors of eight, with no branch on the data.
//!
//! The short-sample route sorts every row before it selects (`walsh/short.rs`): for a
//! row of 100 `f32`, the standard library's sort took about 6 000 instructions, a fifth
//! of a whole Walsh median. The network costs 28 stages of sixteen vector min/max
//! pairs, whatever the data; the keys past the row are `u32::MAX` and sort to the end.

/// The most keys [`sort_keys`] sorts in registers.
pub(crate) const NETWORK_MAX: usize = 128;

/// Sorts `keys` ascending: in registers where there are at most [`NETWORK_MAX`] and the
/// processor has AVX2, else with the standard library's sort.
pub(crate) fn sort_keys(keys: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if keys.len() <= NETWORK_MAX && keys.len() > 16 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above; at most 128 keys.
        unsafe { avx2::sort_up_to_128(keys) };
        return;
    }
    keys.sort_unstable();
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::NETWORK_MAX;
    use std::arch::x86_64::{
        __m256i, _mm256_blendv_epi8, _mm256_loadu_si256, _mm256_max_epu32, _mm256_min_epu32,
        _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_shuffle_epi32, _mm256_storeu_si256,
        _mm256_xor_si256,
    };

    const VECTORS: usize = NETWORK_MAX / 8;

    /// Lanes as a vector mask: all ones where `pick(lane)`.
    const fn lanes(pick: [bool; 8]) -> [u32; 8] {
        let mut mask = [0_u32; 8];
        let mut lane = 0;
        while lane < 8 {
            if pick[lane] {
                mask[lane] = u32::MAX;
            }
            lane += 1;
        }
        mask
    }

    /// Per distance `d` of 1, 2 or 4 (index `log2 d`): the lanes whose bit `d` is set,
    /// the upper of each compared pair, which takes the maximum in an ascending run.
    const UPPER: [[u32; 8]; 3] = [
        lanes([false, true, false, true, false, true, false, true]),
        lanes([false, false, true, true, false, false, true, true]),
        lanes([false, false, false, false, true, true, true, true]),
    ];

    #[inline]
    #[target_feature(enable = "avx2")]
    fn vector(words: &[u32; 8]) -> __m256i {
        // SAFETY: eight u32s are 32 bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
    }

    /// Whether the key at index `index` belongs to a run of `run` keys sorted down.
    const fn down(index: usize, run: usize) -> bool {
        index & run != 0
    }

    /// A stage whose pairs are whole vectors apart: the lower vector of each pair keeps
    /// the minima where its run goes up.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn far<const RUN: usize, const DISTANCE: usize>(v: &mut [__m256i; VECTORS]) {
        for a in 0..VECTORS {
            let b = a ^ (DISTANCE / 8);
            if b > a {
                let (low, high) = (_mm256_min_epu32(v[a], v[b]), _mm256_max_epu32(v[a], v[b]));
                (v[a], v[b]) = if down(a * 8, RUN) {
                    (high, low)
                } else {
                    (low, high)
                };
            }
        }
    }

    /// The three stages of distances 4, 2 and 1, within each vector.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn nearest<const RUN: usize>(v: &mut [__m256i; VECTORS]) {
        near::<RUN, 4>(v);
        near::<RUN, 2>(v);
        near::<RUN, 1>(v);
    }

    /// A stage whose pairs lie within a vector, `DISTANCE` lanes apart: each lane is
    /// compared with its partner, and keeps the minimum or the maximum as its place in
    /// the pair and its run's direction say.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn near<const RUN: usize, const DISTANCE: usize>(v: &mut [__m256i; VECTORS]) {
        let upper = |distance: usize| vector(&UPPER[distance.trailing_zeros() as usize]);
        let takes_max = upper(DISTANCE);
        for (a, lanes) in v.iter_mut().enumerate() {
            let partner = match DISTANCE {
                4 => _mm256_permute2x128_si256::<1>(*lanes, *lanes),
                2 => _mm256_shuffle_epi32::<0b0100_1110>(*lanes),
                _ => _mm256_shuffle_epi32::<0b1011_0001>(*lanes),
            };
            // Runs shorter than a vector change direction within it.
            let runs_down = if RUN < 8 {
                upper(RUN)
            } else if down(a * 8, RUN) {
                _mm256_set1_epi32(-1)
            } else {
                _mm256_set1_epi32(0)
            };
            *lanes = _mm256_blendv_epi8(
                _mm256_min_epu32(*lanes, partner),
                _mm256_max_epu32(*lanes, partner),
                _mm256_xor_si256(takes_max, runs_down),
            );
        }
    }

    /// Sorts at most 128 keys.
    ///
    /// # Safety
    /// The processor must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sort_up_to_128(keys: &mut [u32]) {
        let n = keys.len().min(NETWORK_MAX);
        let mut padded = [u32::MAX; NETWORK_MAX];
        padded[..n].copy_from_slice(&keys[..n]);
        let mut v = [_mm256_set1_epi32(-1); VECTORS];
        for (vector, words) in v.iter_mut().zip(padded.chunks_exact(8)) {
            // SAFETY: eight u32s are 32 bytes; the load is unaligned.
            *vector = unsafe { _mm256_loadu_si256(words.as_ptr().cast()) };
        }
        // Bitonic: runs of `RUN` keys sorted alternately up and down, merged in steps
        // of `DISTANCE` halving down to 1. Each stage a function of constants, so that
        // the whole network unrolls into straight code on registers.
        near::<2, 1>(&mut v);
        near::<4, 2>(&mut v);
        near::<4, 1>(&mut v);
        near::<8, 4>(&mut v);
        near::<8, 2>(&mut v);
        near::<8, 1>(&mut v);
        far::<16, 8>(&mut v);
        nearest::<16>(&mut v);
        far::<32, 16>(&mut v);
        far::<32, 8>(&mut v);
        nearest::<32>(&mut v);
        far::<64, 32>(&mut v);
        far::<64, 16>(&mut v);
        far::<64, 8>(&mut v);
        nearest::<64>(&mut v);
        far::<128, 64>(&mut v);
        far::<128, 32>(&mut v);
        far::<128, 16>(&mut v);
        far::<128, 8>(&mut v);
        nearest::<128>(&mut v);
        for (vector, words) in v.iter().zip(padded.chunks_exact_mut(8)) {
            // SAFETY: eight u32s are 32 bytes; the store is unaligned.
            unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), *vector) };
        }
        keys[..n].copy_from_slice(&padded[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    #[allow(clippy::cast_possible_truncation)] // lengths below 132
    fn every_length_sorts_as_the_standard_sort() {
        for n in 0..=NETWORK_MAX + 3 {
            let mut state = 0x9E37_79B9_u32.wrapping_mul(n as u32 + 1);
            let keys: Vec<u32> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    // Few distinct values too: ties, and the padding's own value.
                    if n % 3 == 0 {
                        state % 7
                    } else if n % 3 == 1 {
                        state | 0xFFFF_FFF0
                    } else {
                        state
                    }
                })
                .collect();
            let mut fast = keys.clone();
            sort_keys(&mut fast);
            let mut expected = keys;
            expected.sort_unstable();
            assert_eq!(fast, expected, "{n} keys");
        }
    }

    proptest! {
        #[test]
        fn sorts_as_the_standard_sort(keys in prop::collection::vec(any::<u32>(), 0..=NETWORK_MAX)) {
            let mut fast = keys.clone();
            sort_keys(&mut fast);
            let mut expected = keys;
            expected.sort_unstable();
            prop_assert_eq!(fast, expected);
        }
    }
}
