//! What the examples share: seeded data like the tutorial's, and timing.
#![allow(dead_code)] // each example uses the part it needs

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The seed every example uses, so that runs are comparable.
pub const SEED: u64 = 2019;

/// `n` values uniform in [0, 1), as `np.random.rand(n)`.
pub fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f64>()).collect()
}

/// `n` draws of N(mean, sd), as `np.random.normal(mean, sd, n)`.
pub fn normal(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    match Normal::new(mean, sd) {
        Ok(dist) => dist.sample_iter(&mut rng).take(n).collect(),
        Err(err) => panic!("N({mean}, {sd}) is not a distribution: {err}"),
    }
}

/// Runs `f` once to warm up, then `repeats` times, and returns its last result and the
/// fastest time (the least disturbed by the rest of the machine).
pub fn best_of<R>(repeats: usize, mut f: impl FnMut() -> R) -> (R, Duration) {
    let mut result = f();
    let mut best = Duration::MAX;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        result = f();
        best = best.min(start.elapsed());
    }
    (result, best)
}

/// `n` values uniform in [0, 1) as f32, as `np.random.rand(n).astype(np.float32)`.
pub fn uniform_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>()).collect()
}

/// A duration with a unit a person reads at a glance.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} us", s * 1e6)
    }
}

/// How many times faster `fast` is than `slow`, for a report.
pub fn speedup(slow: Duration, fast: Duration) -> String {
    let ratio = slow.as_secs_f64() / fast.as_secs_f64();
    if ratio >= 100.0 {
        format!("{ratio:.0}x")
    } else {
        format!("{ratio:.1}x")
    }
}

/// One aligned row of a two-column report.
pub fn row(label: &str, value: impl std::fmt::Display) {
    println!("  {label:<44} {value:>14}");
}

/// Where an example keeps its cache: `parmemo-examples/<name>` in cargo's target
/// directory (wherever `CARGO_TARGET_DIR` puts it), found from the example's own path,
/// `<target>/<profile>/examples/<example>`; `target/` if it is run from elsewhere.
pub fn cache_dir(name: &str) -> PathBuf {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let examples = exe.parent()?;
            (examples.file_name()? == "examples")
                .then(|| examples.parent()?.parent().map(PathBuf::from))
                .flatten()
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("parmemo-examples").join(name)
}
