//! Tutorial section 2B: `Memory`, persistent memoization. The tutorial's
//! `@memory.cache` on the numpy Walsh median of 10 000 values: 4.3 s the first time,
//! 5.33 ms the second.
//!
//! Here the slow function is the naive Walsh median (every one of the 5e7 pair averages
//! sorted), cached on the embedded default store in cargo's target directory
//! (`parmemo-examples/memory`, printed). Run the
//! example twice: the second run finds the result the first one stored.
//!
//! `cargo run --release --example memory`

mod common;

use common::{human, row, uniform_f32, SEED};
use parmemo::memory::Memory;
use parmemo::stats::reference::walsh_median_naive;
use std::sync::LazyLock;
use std::time::Instant;

static MEMORY: LazyLock<Memory> =
    LazyLock::new(|| Memory::new(common::cache_dir("memory")).verbose(1));

/// The naive Walsh median: O(n^2 log n), slow on purpose. Errors are cached too (as
/// text): the same input fails the same way.
#[parmemo::cache(MEMORY)]
fn walsh_median_naive_cached(sample: &[f32]) -> Result<f32, String> {
    walsh_median_naive(sample).map_err(|err| err.to_string())
}

fn main() {
    let sample = uniform_f32(10_000, SEED);
    let handle = walsh_median_naive_cached::cache();
    let stored_before = handle.check_call_in_cache(&sample);
    println!(
        "Walsh median of 10 000 f32, cached in {} ({})",
        common::cache_dir("memory").display(),
        if stored_before {
            "stored by an earlier run"
        } else {
            "not stored yet"
        }
    );

    let started = Instant::now();
    let first = walsh_median_naive_cached(&sample);
    let first_time = started.elapsed();
    let started = Instant::now();
    let second = walsh_median_naive_cached(&sample);
    let second_time = started.elapsed();
    assert_eq!(first, second, "the stored result is the computed one");

    row(
        if stored_before {
            "first call (loaded: earlier run)"
        } else {
            "first call (computed, stored)"
        },
        human(first_time),
    );
    row("second call (loaded)", human(second_time));
    row(
        "saving",
        format!(
            "{:.0}x",
            first_time.as_secs_f64() / second_time.as_secs_f64()
        ),
    );
    match first {
        Ok(median) => row("median of Walsh averages", format!("{median:.6}")),
        Err(error) => row("error (cached as well)", error),
    }
    if let Ok(stats) = MEMORY.stats() {
        row("entries in the cache", stats.entries);
    }
    println!(
        "\nEdit the body of walsh_median_naive_cached and run again: the key includes a hash\n\
         of the function's code, so the edited function computes afresh (a comment does not count)."
    );
}
