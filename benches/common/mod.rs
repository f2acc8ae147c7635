//! What the bench binaries share: seeded data and the task functions of the process and
//! MPI backends.
#![allow(dead_code)] // each bench uses the part it needs

use parmemo::stats::walsh_median;

/// Deterministic 64-bit draws from `seed` (a PCG-style LCG step): the same data in
/// every run, no rand needed.
pub fn draws(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state
    })
}

/// `n` values uniform in [0, 1): the top 53 bits of each draw.
pub fn uniform(n: usize, seed: u64) -> Vec<f64> {
    draws(seed)
        .take(n)
        .map(|draw| (draw >> 11) as f64 / (1_u64 << 53) as f64)
        .collect()
}

/// `n` values uniform in [0, 1) as `f32` (the tutorial's `astype(np.float32)`): the
/// top 24 bits of each draw.
pub fn uniform_f32(n: usize, seed: u64) -> Vec<f32> {
    draws(seed)
        .take(n)
        .map(|draw| (draw >> 40) as f32 / (1_u32 << 24) as f32)
        .collect()
}

/// The Walsh median as a task for another process: a plain function of an owned,
/// deserialized argument.
#[allow(clippy::needless_pass_by_value)]
pub fn walsh_median_owned(sample: Vec<f32>) -> Option<f32> {
    walsh_median(&sample).ok()
}

/// A task that does almost nothing, for per-task overhead.
pub fn square(x: u64) -> u64 {
    x * x
}

/// The length of an array that crossed to a worker, for the cost of moving it there.
#[allow(clippy::needless_pass_by_value)]
pub fn length_of(values: Vec<f32>) -> usize {
    values.len()
}

/// An array inside a tuple, as joblib users pass one (`delayed(f)(samples, k)`).
#[allow(clippy::needless_pass_by_value, dead_code)]
pub fn length_in_tuple((values, k): (Vec<f32>, usize)) -> usize {
    values.len() + k
}

/// An array in a struct's field.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[allow(dead_code)]
pub struct Sample {
    pub name: String,
    pub values: Vec<f32>,
}

/// The length of a struct's array that crossed to a worker.
#[allow(clippy::needless_pass_by_value, dead_code)]
pub fn length_in_struct(sample: Sample) -> usize {
    sample.values.len() + sample.name.len()
}
