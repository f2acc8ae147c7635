//! `map_with`: a context every task reads, borrowed on threads and sent to each worker
//! process once per run (counted by the decodes each worker makes).

use parmemo_parallel::{Backend, BatchSize, Error, Parallel};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::atomic::{AtomicUsize, Ordering};

parmemo_parallel::enable_test_support!();

/// How many contexts this process decoded.
static DECODED: AtomicUsize = AtomicUsize::new(0);

/// Weights that count their decodes.
#[derive(Serialize)]
struct Weights(Vec<f64>);

impl<'de> Deserialize<'de> for Weights {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DECODED.fetch_add(1, Ordering::SeqCst);
        Vec::deserialize(deserializer).map(Weights)
    }
}

/// The weighted sum for one row, with the worker's pid and its decodes so far.
fn weighted(weights: &Weights, row: u32) -> (u32, usize, f64) {
    let sum = weights.0.iter().sum::<f64>() * f64::from(row);
    (std::process::id(), DECODED.load(Ordering::SeqCst), sum)
}

#[test]
fn processes_decode_the_context_once_per_worker_and_run() {
    let p = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(1));
    let mut before = std::collections::HashMap::new();
    for run in 1..=2 {
        let weights = Weights(vec![0.5; 1_000_000]);
        let results = p.map_with(weighted, weights, 0..64).unwrap();
        for (row, (pid, decoded, sum)) in results.iter().enumerate() {
            assert_eq!(*sum, 500_000.0 * row as f64);
            // Every task a worker ran in this run saw exactly one more decode than the
            // worker had made before the run.
            let base = *before.entry((run, *pid)).or_insert(*decoded);
            assert_eq!(
                *decoded, base,
                "worker {pid} decoded the context again in run {run}"
            );
        }
    }
    // The two runs' contexts were decoded anew: the counts grew between them.
    let grew = before
        .iter()
        .filter(|((run, _), _)| *run == 2)
        .all(|((_, pid), decoded)| before.get(&(1, *pid)).is_none_or(|first| decoded > first));
    assert!(grew, "{before:?}");
}

#[test]
fn threads_borrow_the_context() {
    /// Not `Clone` nor serializable: only borrowed.
    struct Table(Vec<u64>);
    let table = Table((0..100).collect());
    // A reference is a context too: the caller keeps the table.
    let looked_up = Parallel::new()
        .n_jobs(2)
        .map_with(|table: &&Table, i: usize| table.0[i] * 2, &table, 0..100)
        .unwrap();
    assert_eq!(looked_up[42], 84);
    let sequential = Parallel::new()
        .backend(Backend::Sequential)
        .map_with(|table: &&Table, i: usize| table.0[i], &table, [3, 4])
        .unwrap();
    assert_eq!(sequential, [3, 4]);
}

#[test]
fn a_context_that_cannot_be_encoded_is_refused_before_any_task() {
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not today"))
        }
    }
    impl<'de> Deserialize<'de> for Refuses {
        fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Ok(Refuses)
        }
    }
    fn never(_: &Refuses, x: u32) -> u32 {
        panic!("task {x} ran")
    }
    let run = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .map_with(never, Refuses, [1, 2]);
    assert!(matches!(run, Err(Error::Context { .. })), "{run:?}");
}

#[test]
fn a_dead_worker_in_a_batch_with_a_context_is_named() {
    #[allow(clippy::trivially_copy_pass_by_ref)] // map_with hands the context by reference
    fn abort_on_5(offset: &u32, x: u32) -> u32 {
        if x == 5 {
            std::process::abort();
        }
        x + offset
    }
    let run = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(4))
        .map_with(abort_on_5, 10, 0..12);
    assert!(
        matches!(run, Err(Error::WorkerDied { index: 5, .. })),
        "{run:?}"
    );
    let fine = Parallel::new()
        .backend(Backend::Configured)
        .map_with(abort_on_5, 10, [1, 2]);
    assert_eq!(fine, Ok(vec![11, 12]));
}
