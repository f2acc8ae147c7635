//! `parmemo-stats` kernels against their naive versions, in one run.
//!
//! `cargo bench -p parmemo-benches --bench stats`; the latest numbers are in
//! docs/benchmarks.md.

mod common;

use common::{uniform, uniform_f32};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parmemo::stats::reference::walsh_median_naive;
use parmemo::stats::{correction, wald, walsh_median, Normal};
use std::hint::black_box;

fn walsh(c: &mut Criterion) {
    let mut group = c.benchmark_group("walsh_median");
    for n in [100_usize, 1_000, 10_000] {
        let sample = uniform_f32(n, 42);
        group.bench_with_input(BenchmarkId::new("fast", n), &sample, |b, s| {
            b.iter(|| walsh_median(black_box(s)));
        });
        if n == 10_000 {
            // 5e7 averages: a few seconds a call, so fewer samples.
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("naive", n), &sample, |b, s| {
            b.iter(|| walsh_median_naive(black_box(s)));
        });
    }
    group.finish();
}

fn wald_tests(c: &mut Criterion) {
    let (rows, row_len) = (10_000, 100);
    // Normal(0.1, 1)-like data is not needed for timing; uniform values cost the same.
    let data = uniform(rows * row_len, 7);
    let mut group = c.benchmark_group("wald");
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("p_values_10000x100", |b| {
        b.iter(|| wald::p_values(black_box(&data), row_len, 0.0, 1.0));
    });
    group.bench_function("p_values_10000x100+bonferroni", |b| {
        b.iter(|| {
            wald::p_values(black_box(&data), row_len, 0.0, 1.0)
                .and_then(|p| correction::bonferroni(&p))
        });
    });
    group.finish();
}

fn normal_pdf(c: &mut Criterion) {
    let points: Vec<f64> = uniform(10_000_000, 3)
        .iter()
        .map(|v| 8.0 * v - 4.0)
        .collect();
    let normal = Normal::standard();
    let mut out = vec![0.0; points.len()];
    let mut group = c.benchmark_group("normal_pdf");
    group.sample_size(20);
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("pdf_into_1e7", |b| {
        b.iter(|| normal.pdf_into(black_box(&points), &mut out));
    });
    group.finish();
}

criterion_group!(benches, walsh, wald_tests, normal_pdf);
criterion_main!(benches);
