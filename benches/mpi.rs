//! `Backend::Mpi` beside `Backend::Processes` with two workers, in one run: the
//! tutorial's joblib job and the per-task overhead of tiny tasks with auto batching.
//!
//! ```text
//! cargo bench -p parmemo-benches --features mpi --bench mpi --no-run
//! mpirun -n 3 target/release/deps/mpi-<hash> --bench
//! ```
//! (one driving rank and two serving ranks against two worker processes). Without
//! mpirun, `Backend::Mpi` runs on local threads. The latest numbers are in
//! docs/benchmarks.md.

mod common;

use common::{square, uniform_f32, walsh_median_owned};
use criterion::{criterion_group, BatchSize as Batches, Criterion, Throughput};
use parmemo::parallel::{Backend, BatchSize, Parallel};
use parmemo::Shared;
use std::hint::black_box;

fn mpi_vs_processes(c: &mut Criterion) {
    let on_processes = Parallel::new().backend(Backend::Processes).n_jobs(2);
    let on_ranks = Parallel::new().backend(Backend::Mpi);
    let _ = on_processes.worker_pids(); // the pool starts outside the measurement

    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, s)).collect();
    let mut group = c.benchmark_group("joblib_job_mpi_vs_processes");
    group.sample_size(10);
    group.bench_function("processes_2", |b| {
        b.iter_batched(
            || samples.clone(),
            |owned| on_processes.map(walsh_median_owned, owned),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("mpi", |b| {
        b.iter_batched(
            || samples.clone(),
            |owned| on_ranks.map(walsh_median_owned, owned),
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();

    let mut group = c.benchmark_group("tiny_tasks_10k_mpi_vs_processes");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("processes_2", |b| {
        b.iter(|| on_processes.map(square, black_box(0..10_000)));
    });
    group.bench_function("mpi", |b| {
        b.iter(|| on_ranks.map(square, black_box(0..10_000)));
    });
    // As completed: on processes a batch answered task by task; on MPI each task of a
    // stream is a job of its own (a rank cannot give back a batch while a task runs).
    group.bench_function("processes_2_unordered", |b| {
        b.iter(|| {
            on_processes
                .run_unordered(square, black_box(0..10_000))
                .map(Iterator::count)
        });
    });
    group.bench_function("mpi_unordered", |b| {
        b.iter(|| {
            on_ranks
                .run_unordered(square, black_box(0..10_000))
                .map(Iterator::count)
        });
    });
    group.finish();
}

// Task arguments arrive owned: they are deserialized where the task runs.
#[allow(clippy::needless_pass_by_value)]
fn shared_len(array: Shared<[f32]>) -> usize {
    array.len()
}

#[allow(clippy::needless_pass_by_value)]
fn vec_len(array: Vec<f32>) -> usize {
    array.len()
}

// Task arguments arrive owned: they are deserialized where the task runs.
#[allow(clippy::needless_pass_by_value)]
fn pair_len((array, k): (Vec<f32>, usize)) -> usize {
    array.len() + k
}

/// One 64 MB array read by 8 tasks on the ranks: a `Shared` made beforehand goes to
/// each rank once and stays there while rank 0 holds it; a new `Vec` per task goes
/// whole with each task.
fn arrays_to_ranks(c: &mut Criterion) {
    let on_ranks = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1));
    let values = uniform_f32(16 << 20, 9);
    let shared: Shared<[f32]> = Shared::from(values.clone());
    let mut group = c.benchmark_group("mpi_64mb_to_8_tasks");
    group.sample_size(10);
    group.bench_function("shared_made_beforehand", |b| {
        b.iter(|| on_ranks.map(shared_len, vec![shared.clone(); 8]));
    });
    group.bench_function("new_vec_per_task", |b| {
        b.iter_batched(
            || vec![values.clone(); 8],
            |owned| on_ranks.map(vec_len, owned),
            Batches::PerIteration,
        );
    });
    group.bench_function("new_vec_in_tuple_per_task", |b| {
        b.iter_batched(
            || (0..8).map(|k| (values.clone(), k)).collect::<Vec<_>>(),
            |owned| on_ranks.map(pair_len, owned),
            Batches::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, mpi_vs_processes, arrays_to_ranks);

fn main() {
    // Ranks 1.. serve here; worker processes of the process backend too.
    parmemo::parallel::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
