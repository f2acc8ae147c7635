//! `parmemo-parallel` against sequential loops and against rayon, in one run.
//!
//! `cargo bench -p parmemo-benches --bench parallel`; the latest numbers are in
//! docs/benchmarks.md.

mod common;

use common::{
    length_in_struct, length_in_tuple, length_of, square, uniform, uniform_f32, walsh_median_owned,
    Sample,
};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use parmemo::parallel::vectorize::{vectorize, Target};
use parmemo::parallel::{delayed, Backend, Parallel};
use parmemo::stats::{correction, wald, walsh_median, walsh_median_rows, Normal};
use parmemo::Shared;
use rayon::prelude::*;
use std::hint::black_box;

/// Dispatch cost: 100 000 tasks that do almost nothing.
fn tiny_tasks(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut group = c.benchmark_group("tiny_tasks_100k");
    group.throughput(Throughput::Elements(N));
    let parallel = Parallel::new();
    group.bench_function("parmemo_map_auto", |b| {
        b.iter(|| parallel.map(|x: u64| x * x, black_box(0..N)));
    });
    group.bench_function("parmemo_run_delayed", |b| {
        b.iter(|| parallel.run((0..N).map(|x| delayed(move || x * x))));
    });
    // Under a timeout the tasks own their data and run on a pool lent to the run.
    let timed = Parallel::new().timeout(std::time::Duration::from_secs(60));
    group.bench_function("parmemo_map_under_timeout", |b| {
        b.iter(|| timed.map(|x: u64| x * x, black_box(0..N)));
    });
    group.bench_function("parmemo_run_iter", |b| {
        b.iter(|| {
            parallel
                .run_iter((0..N).map(|x| delayed(move || x * x)))
                .map(Iterator::count)
        });
    });
    group.bench_function("rayon_par_iter", |b| {
        b.iter(|| (0..N).into_par_iter().map(|x| x * x).collect::<Vec<u64>>());
    });
    group.bench_function("sequential_loop", |b| {
        b.iter(|| black_box(0..N).map(|x| x * x).collect::<Vec<u64>>());
    });
    group.finish();
}

/// The tutorial's guvectorize section: a Walsh median per row of 10 000 x 100 f32.
/// One Walsh median per row over a million f32, in rows of 100 (the tutorial's case, and
/// the short-sample route), 1 000 and 10 000 (the implicit matrix): the parallel rows
/// against a sequential loop of `walsh_median`.
fn walsh_rows(c: &mut Criterion) {
    let data = uniform_f32(1_000_000, 1);
    let mut group = c.benchmark_group("walsh_rows_1e6_f32");
    group.sample_size(20);
    for row_len in [100_usize, 1_000, 10_000] {
        group.bench_with_input(
            BenchmarkId::new("walsh_median_rows", row_len),
            &row_len,
            |b, &row_len| b.iter(|| walsh_median_rows(black_box(&data), row_len)),
        );
        group.bench_with_input(
            BenchmarkId::new("sequential_loop", row_len),
            &row_len,
            |b, &row_len| {
                b.iter(|| {
                    data.chunks_exact(row_len)
                        .map(walsh_median)
                        .collect::<Result<Vec<f32>, _>>()
                });
            },
        );
    }
    group.finish();
}

/// A kernel of four parameters (numba's broadcasting test has four), two of them
/// scalars, over a million f64: `vectorize`'s `apply4` against the loop a user would
/// write by hand.
fn vectorize_four_arguments(c: &mut Criterion) {
    let (x, y) = (uniform(1_000_000, 5), uniform(1_000_000, 6));
    let kernel = |x: f64, y: f64, a: f64, b: f64| a * x + b * y;
    let mut out = vec![0.0; x.len()];
    let mut group = c.benchmark_group("vectorize_4_args_1e6");
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("apply4_sequential", |b| {
        let vectorized = vectorize(kernel).target(Target::Sequential);
        b.iter(|| vectorized.apply4_into(black_box(&x[..]), &y[..], 2.0, 0.5, &mut out));
    });
    group.bench_function("apply4_parallel", |b| {
        let vectorized = vectorize(kernel).target(Target::Parallel);
        b.iter(|| vectorized.apply4_into(black_box(&x[..]), &y[..], 2.0, 0.5, &mut out));
    });
    group.bench_function("hand_loop", |b| {
        b.iter(|| {
            for ((slot, &x), &y) in out.iter_mut().zip(black_box(&x)).zip(&y) {
                *slot = kernel(x, y, 2.0, 0.5);
            }
        });
    });
    group.finish();
}

/// The tutorial's joblib section: 100 samples of 10 000 f32, one Walsh median each.
fn joblib_job(c: &mut Criterion) {
    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, s)).collect();
    let mut group = c.benchmark_group("joblib_job_100x10000_f32");
    group.sample_size(10);
    group.bench_function("parallel_threads", |b| {
        b.iter(|| Parallel::new().map(|s: &Vec<f32>| walsh_median(s), black_box(&samples)));
    });
    group.bench_function("sequential", |b| {
        b.iter(|| {
            Parallel::new()
                .backend(Backend::Sequential)
                .map(|s: &Vec<f32>| walsh_median(s), black_box(&samples))
        });
    });
    group.finish();
}

/// The tutorial's prange section: 10 000 Wald tests and a Bonferroni correction.
fn wald_map_reduce(c: &mut Criterion) {
    let data = uniform(10_000 * 100, 2);
    let mut group = c.benchmark_group("wald_10000x100");
    group.bench_function("p_values_parallel+bonferroni", |b| {
        b.iter(|| {
            wald::p_values(black_box(&data), 100, 0.0, 1.0).and_then(|p| correction::bonferroni(&p))
        });
    });
    group.bench_function("z_test_per_row_loop+bonferroni", |b| {
        b.iter(|| {
            data.chunks_exact(100)
                .map(|row| wald::z_test(row, 0.0, 1.0))
                .collect::<Result<Vec<f64>, _>>()
                .and_then(|p| correction::bonferroni(&p))
        });
    });
    group.finish();
}

/// The tutorial's vectorize section: the normal density over 1e7 points.
fn normal_pdf(c: &mut Criterion) {
    let points: Vec<f64> = uniform(10_000_000, 3)
        .iter()
        .map(|u| 8.0 * u - 4.0)
        .collect();
    let normal = Normal::standard();
    let mut out = vec![0.0; points.len()];
    let mut group = c.benchmark_group("pdf_1e7");
    group.sample_size(10);
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("pdf_into_parallel", |b| {
        b.iter(|| normal.pdf_into(black_box(&points), &mut out));
    });
    group.bench_function("pdf_slice_parallel", |b| {
        b.iter(|| normal.pdf_slice(black_box(&points)));
    });
    group.bench_function("scalar_loop_into", |b| {
        b.iter(|| {
            for (o, &x) in out.iter_mut().zip(black_box(&points)) {
                *o = normal.pdf(x);
            }
        });
    });
    group.bench_function("scalar_loop_collect", |b| {
        b.iter(|| {
            black_box(&points)
                .iter()
                .map(|&x| normal.pdf(x))
                .collect::<Vec<f64>>()
        });
    });
    // The textbook formula with libm's `exp`: what `pdf` was, and what a user writes.
    let scale = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    group.bench_function("textbook_libm_loop_collect", |b| {
        b.iter(|| {
            black_box(&points)
                .iter()
                .map(|&x| scale * (-0.5 * x * x).exp())
                .collect::<Vec<f64>>()
        });
    });
    let textbook = vectorize(move |x: f64| scale * (-0.5 * x * x).exp()).target(Target::Parallel);
    group.bench_function("textbook_libm_vectorize_parallel", |b| {
        b.iter(|| textbook.apply(black_box(&points[..])));
    });
    group.finish();
}

/// Where `Target::Parallel` starts to pay, for a cheap kernel (`exp`): the basis of
/// `PARALLEL_MIN_LEN`. Parallel here forces the split by using rayon directly.
fn vectorize_threshold(c: &mut Criterion) {
    let mut group = c.benchmark_group("vectorize_threshold");
    for n in [1_024_usize, 4_096, 16_384, 65_536] {
        let points = uniform(n, 4);
        let mut out = vec![0.0; n];
        group.bench_with_input(BenchmarkId::new("sequential", n), &points, |b, p| {
            b.iter(|| {
                vectorize(f64::exp)
                    .target(Target::Sequential)
                    .apply_into(p, &mut out)
            });
        });
        group.bench_with_input(BenchmarkId::new("split_over_cores", n), &points, |b, p| {
            b.iter(|| {
                out.par_chunks_mut(1_024)
                    .zip(p.par_chunks(1_024))
                    .for_each(|(o, x)| o.iter_mut().zip(x).for_each(|(o, x)| *o = x.exp()));
            });
        });
    }
    group.finish();
}

fn identity(values: Vec<f32>) -> Vec<f32> {
    values
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn shared_len(array: Shared<[f32]>) -> usize {
    array.len()
}

/// Reads every element, so that the mapping is paid for in full.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn shared_sum(array: Shared<[f32]>) -> f64 {
    array.iter().map(|&x| f64::from(x)).sum()
}

/// A row's weighted sum, the weights shared by the run (`map_with`).
#[allow(clippy::ptr_arg)] // the context's own type, as map_with hands it over
fn weighted_with(weights: &Vec<f64>, row: u32) -> f64 {
    weights.iter().sum::<f64>() * f64::from(row)
}

/// The same, the weights inside each item (joblib's `delayed(f)(row, weights)`).
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn weighted_inside((weights, row): (Vec<f64>, u32)) -> f64 {
    weighted_with(&weights, row)
}

/// The process backend: per-task overhead with auto batching, and the joblib job on
/// processes beside threads.
fn processes(c: &mut Criterion) {
    let on_processes = Parallel::new().backend(Backend::Processes).n_jobs(2);
    let on_threads = Parallel::new().n_jobs(2);
    let _ = on_processes.worker_pids(); // the pool starts outside the measurement
    let mut group = c.benchmark_group("processes");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("tiny_tasks_10k_auto_batching", |b| {
        b.iter(|| on_processes.map(square, black_box(0..10_000)));
    });
    // As completed, each task's result is a reply of its own: what that costs per task.
    group.bench_function("tiny_tasks_10k_unordered", |b| {
        b.iter(|| {
            on_processes
                .run_unordered(square, black_box(0..10_000))
                .map(Iterator::count)
        });
    });
    group.finish();

    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, s)).collect();
    let mut group = c.benchmark_group("joblib_job_processes_vs_threads");
    group.sample_size(10);
    group.bench_function("processes", |b| {
        b.iter_batched(
            || samples.clone(),
            |owned| on_processes.map(walsh_median_owned, owned),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("threads", |b| {
        b.iter(|| on_threads.map(|s: &Vec<f32>| walsh_median(s), black_box(&samples)));
    });
    group.finish();
}

/// Large arrays to worker processes: plain vectors, vectors inside tuples and structs,
/// `Shared` arrays, and a context sent once per worker.
fn processes_arrays(c: &mut Criterion) {
    let on_processes = Parallel::new().backend(Backend::Processes).n_jobs(2);
    let _ = on_processes.worker_pids(); // the pool starts outside the measurement
    let big = uniform_f32(16 * 1024 * 1024, 3);
    let mut group = c.benchmark_group("processes_64mb");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(64 * 1024 * 1024));
    // A new plain vector each call (made outside the measurement), to a task that reads
    // its length; then one that comes back too.
    group.bench_function("new_vec_to_one_task", |b| {
        b.iter_batched(
            || vec![big.clone()],
            |one| on_processes.map(length_of, one),
            criterion::BatchSize::LargeInput,
        );
    });
    // The same vector inside a tuple and in a struct's field (encoded, its numbers in
    // one step), and eight tuples each with an array of its own.
    group.bench_function("new_vec_in_tuple_to_one_task", |b| {
        b.iter_batched(
            || vec![(big.clone(), 1_usize)],
            |one| on_processes.map(length_in_tuple, one),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("new_vec_in_struct_to_one_task", |b| {
        b.iter_batched(
            || {
                vec![Sample {
                    name: "s".to_owned(),
                    values: big.clone(),
                }]
            },
            |one| on_processes.map(length_in_struct, one),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("eight_tuples_each_own_array_to_8_tasks", |b| {
        b.iter_batched(
            || (0..8).map(|k| (big.clone(), k)).collect::<Vec<_>>(),
            |eight| on_processes.map(length_in_tuple, eight),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("new_vec_there_and_back", |b| {
        b.iter_batched(
            || vec![big.clone()],
            |one| on_processes.map(identity, one),
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();

    // The same 64 MB as a `Shared` array: made anew each call (its copy into shared memory
    // included), and one made beforehand for eight tasks.
    let mut group = c.benchmark_group("processes_64mb_shared");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(64 * 1024 * 1024));
    group.bench_function("new_array_to_one_task", |b| {
        b.iter(|| {
            let array: Shared<[f32]> = Shared::from_slice(&big);
            on_processes.map(shared_len, [array])
        });
    });
    let shared: Shared<[f32]> = Shared::from_slice(&big);
    group.bench_function("one_array_to_8_tasks", |b| {
        b.iter(|| on_processes.map(shared_len, vec![shared.clone(); 8]));
    });
    group.bench_function("one_array_to_8_tasks_summed", |b| {
        b.iter(|| on_processes.map(shared_sum, vec![shared.clone(); 8]));
    });
    group.finish();

    // An 8 MB context read by 64 tasks: sent once per worker (`map_with`), against inside
    // each item. The copies are made outside the measurement.
    let weights = vec![0.5_f64; 1024 * 1024];
    let mut group = c.benchmark_group("processes_context_8mb_64_items");
    group.sample_size(10);
    group.bench_function("map_with", |b| {
        b.iter_batched(
            || weights.clone(),
            |context| on_processes.map_with(weighted_with, context, 0..64),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("inside_each_item", |b| {
        b.iter_batched(
            || {
                (0..64)
                    .map(|row| (weights.clone(), row))
                    .collect::<Vec<_>>()
            },
            |items| on_processes.map(weighted_inside, items),
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(
    benches,
    tiny_tasks,
    walsh_rows,
    joblib_job,
    wald_map_reduce,
    normal_pdf,
    vectorize_threshold,
    vectorize_four_arguments,
    processes,
    processes_arrays
);

fn main() {
    // Worker processes of the process backend are this bench binary again.
    parmemo::parallel::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
