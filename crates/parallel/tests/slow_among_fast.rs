//! joblib's `test_parallel_unordered_generator_returns_fastest_first`, ported: one slow
//! task among quick ones, over an iterator without an exact length, must not hold back
//! the quick ones that an idle worker could run.
//!
//! As in joblib's test, the slow task comes second, before the batches grow. A slow task
//! later in the input (index 5 or 20) still holds back the quick tasks of its batch:
//! 24-25 of 39 results come before it instead of 30 (issue 24, open).

use parmemo_parallel::{delayed, Backend, Parallel};
use std::time::Duration;

parmemo_parallel::enable_test_support!();

/// The slow task's index, as in joblib's test.
const SLOW: u64 = 1;

fn task(i: u64) -> u64 {
    // The others are quick: nothing to wait for.
    if i == SLOW {
        std::thread::sleep(Duration::from_millis(1500));
    }
    i
}

fn unsized_items() -> impl Iterator<Item = u64> {
    (0..40_u64).filter(|_| true)
}

/// Checks that at least 30 of the 39 quick results came before the slow task's: the
/// order, not a clock, is what the test reads (the slow task sleeps 1.5 s; the quick ones
/// take microseconds).
fn assert_quick_results_first(results: impl Iterator<Item = (usize, u64)>) {
    let early = results
        .map(|(_, value)| value)
        .take_while(|&value| value != SLOW)
        .count();
    assert!(
        early >= 30,
        "{early} of 39 quick results before the slow one"
    );
}

#[test]
fn threads_yield_the_quick_results_first() {
    let results = Parallel::new()
        .n_jobs(2)
        .run_unordered(unsized_items().map(|i| delayed(move || task(i))))
        .unwrap()
        .map(Result::unwrap);
    assert_quick_results_first(results);
}

#[test]
fn processes_yield_the_quick_results_first() {
    let results = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .run_unordered(task, unsized_items())
        .unwrap()
        .map(Result::unwrap);
    assert_quick_results_first(results);
}
