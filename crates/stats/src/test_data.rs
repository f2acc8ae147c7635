//! Seeded test data: the one generator of this crate's tests. Unit tests use it as
//! `crate::test_data`; the integration tests include this same file with `#[path]`, so
//! every test draws its samples the same way, from a seed, with no dependency.
// Each including crate uses the part it needs.
#![allow(dead_code)]

/// Deterministic 64-bit draws from `seed`: a PCG-style linear congruential step, whose
/// high bits are the ones to use.
pub(crate) fn draws(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state
    })
}

/// `n` values uniform in [0, 1): the top 53 bits of each draw.
pub(crate) fn uniform_f64(n: usize, seed: u64) -> Vec<f64> {
    draws(seed)
        .take(n)
        .map(|draw| (draw >> 11) as f64 / (1_u64 << 53) as f64)
        .collect()
}

/// `n` values uniform in [0, 1) as `f32`: the top 24 bits of each draw.
pub(crate) fn uniform_f32(n: usize, seed: u64) -> Vec<f32> {
    draws(seed)
        .take(n)
        .map(|draw| (draw >> 40) as f32 / (1_u32 << 24) as f32)
        .collect()
}
