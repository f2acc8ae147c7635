//! joblib's `test_parallel_unordered_generator_returns_fastest_first`, ported: one slow
//! task among quick ones, over an iterator without an exact length, must not hold back
//! the quick ones that an idle worker could run.
//!
//! As in joblib's test, the slow task comes second, before the batches grow; on threads
//! also later (index 5 and 20), inside a batch that grew, whose quick tasks another
//! thread claims. (On processes a task later in a batch already sent to a worker still
//! waits for the slow one before it: 24-25 of 39 results come first there.)

use parmemo_parallel::{delayed, Backend, Parallel};
use std::time::Duration;

parmemo_parallel::enable_test_support!();

/// The slow task's index, as in joblib's test.
const SLOW: u64 = 1;

fn task(i: u64) -> u64 {
    slow_at(SLOW, i)
}

/// Sleeps 1.5 s when `i` is `slow`; the others are quick: nothing to wait for.
fn slow_at(slow: u64, i: u64) -> u64 {
    if i == slow {
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
    assert_quick_results_before(SLOW, results);
}

fn assert_quick_results_before(slow: u64, results: impl Iterator<Item = (usize, u64)>) {
    let early = results
        .map(|(_, value)| value)
        .take_while(|&value| value != slow)
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

#[test]
fn threads_yield_the_quick_results_first_when_the_slow_task_is_deep_in_a_batch() {
    for slow in [5, 20] {
        let results = Parallel::new()
            .n_jobs(2)
            .run_unordered(unsized_items().map(move |i| delayed(move || slow_at(slow, i))))
            .unwrap()
            .map(Result::unwrap);
        assert_quick_results_before(slow, results);
    }
}
