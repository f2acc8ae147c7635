//! joblib's `test_parallel_unordered_generator_returns_fastest_first`, ported: one slow
//! task among quick ones, over an iterator without an exact length, must not hold back
//! the quick ones that an idle worker could run.
//!
//! As in joblib's test, the slow task comes second, before the batches grow; and later
//! (index 5 and 20), inside a batch that grew: on threads another thread claims the
//! quick tasks behind it, on processes the parent takes them back from the worker held
//! by the slow task and hands them to the idle one.

use parmemo_parallel::{delayed, Backend, Parallel};
use std::time::Duration;

parmemo_parallel::enable_test_support!();

/// The tests take turns: on 2 workers (and 2 cores here) a test running beside another
/// would measure the other's load, and those on processes share one pool.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
    let _alone = alone();
    let results = Parallel::new()
        .n_jobs(2)
        .run_unordered(unsized_items().map(|i| delayed(move || task(i))))
        .unwrap()
        .map(Result::unwrap);
    assert_quick_results_first(results);
}

#[test]
fn processes_yield_the_quick_results_first() {
    let _alone = alone();
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
    let _alone = alone();
    for slow in [5, 20] {
        let results = Parallel::new()
            .n_jobs(2)
            .run_unordered(unsized_items().map(move |i| delayed(move || slow_at(slow, i))))
            .unwrap()
            .map(Result::unwrap);
        assert_quick_results_before(slow, results);
    }
}

#[test]
fn processes_yield_the_quick_results_first_when_the_slow_task_is_deep_in_a_batch() {
    let _alone = alone();
    for slow in [5_u64, 20] {
        let results = Parallel::new()
            .backend(Backend::Processes)
            .n_jobs(2)
            .run_unordered(
                if slow == 5 { slow_at_5 } else { slow_at_20 },
                unsized_items(),
            )
            .unwrap()
            .map(Result::unwrap);
        assert_quick_results_before(slow, results);
    }
}

fn slow_at_5(i: u64) -> u64 {
    slow_at(5, i)
}

fn slow_at_20(i: u64) -> u64 {
    slow_at(20, i)
}

/// Appends its index to the file it names (one `write` with `O_APPEND`: whole lines
/// under concurrency), sleeping 300 ms on every seventh: batches get given back.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn logged((i, log): (u64, String)) -> u64 {
    use std::io::Write;
    if i % 7 == 3 {
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log)
        .unwrap();
    file.write_all(format!("{i}\n").as_bytes()).unwrap();
    i
}

#[test]
fn processes_run_every_task_exactly_once_when_batches_are_given_back() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran").display().to_string();
    let read_back = log.clone();
    let mut seen: Vec<usize> = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .run_unordered(
            logged,
            (0..60_u64).map(move |i| (i, log.clone())).filter(|_| true),
        )
        .unwrap()
        .map(|done| done.unwrap().0)
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..60).collect::<Vec<_>>());
    let mut ran: Vec<u64> = std::fs::read_to_string(&read_back)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    ran.sort_unstable();
    assert_eq!(
        ran,
        (0..60).collect::<Vec<_>>(),
        "a task ran twice or never"
    );
}
