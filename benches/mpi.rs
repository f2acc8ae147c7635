//! `Backend::Mpi` beside `Backend::Processes` with two workers, in one run: the
//! tutorial's joblib job and the per-task overhead of tiny tasks with auto batching.
//!
//! ```text
//! cargo bench --features mpi --bench mpi --no-run
//! mpirun -n 3 target/release/deps/mpi-<hash> --bench
//! ```
//! (one driving rank and two serving ranks against two worker processes). Without
//! mpirun, `Backend::Mpi` runs on local threads. The latest numbers are in
//! docs/benchmarks.md.

mod common;

use common::{square, uniform_f32, walsh_median_owned};
use criterion::{criterion_group, Criterion, Throughput};
use parmemo::parallel::{Backend, Parallel};
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
    group.finish();
}

criterion_group!(benches, mpi_vs_processes);

fn main() {
    // Ranks 1.. serve here; worker processes of the process backend too.
    parmemo::parallel::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
