//! What the bench binaries share: seeded data and the task functions of the process and
//! MPI backends.
#![allow(dead_code)] // each bench uses the part it needs

use parmemo::stats::walsh_median;

/// `n` values in [0, 1) from a fixed LCG: the same data in every run, no rand needed.
pub fn uniform_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1_u32 << 24) as f32
        })
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
