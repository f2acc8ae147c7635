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

use criterion::{criterion_group, Criterion, Throughput};
use parmemo::parallel::{Backend, Parallel};
use parmemo::stats::walsh_median;
use std::hint::black_box;

fn uniform_f32(n: usize, seed: u64) -> Vec<f32> {
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

// Task arguments arrive owned: they are deserialized where the task runs.
#[allow(clippy::needless_pass_by_value)]
fn walsh_median_owned(sample: Vec<f32>) -> Option<f32> {
    walsh_median(&sample).ok()
}

fn square(x: u64) -> u64 {
    x * x
}

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
