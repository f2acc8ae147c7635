//! Big data at memory speed: one large matrix read by many tasks on worker processes
//! without a copy, and a large cached result mapped back from the cache on the next run.
//! joblib does the first with auto-memmapping (its workers map a dump of the array) and
//! the second with `Memory(mmap_mode='r')`; the joblib figures printed beside ours were
//! measured on the 2-core machine the project is built on (docs/benchmarks.md).
//!
//! `cargo run --release --example big_data` (twice: the second run hits the cache)

mod common;

use common::{best_of, human, row};
use parmemo::memory::Memory;
use parmemo::parallel::{Backend, BatchSize, Error, Parallel};
use parmemo::Shared;
use std::sync::LazyLock;

/// 64 MB of f64: 8 192 rows of 1 024.
const ROWS: usize = 8_192;
const COLUMNS: usize = 1_024;

/// The cache, under the cargo target directory.
static MEMORY: LazyLock<Memory> = LazyLock::new(|| {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    Memory::new(std::path::Path::new(&target).join("parmemo-big-data-cache"))
});

/// A task of a worker process: the mean of rows `first..first + count` of the matrix,
/// read where it lies (the worker maps the parent's memory).
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn block_mean((matrix, first, count): (Shared<[f64]>, usize, usize)) -> f64 {
    let block = &matrix[first * COLUMNS..(first + count) * COLUMNS];
    block.iter().sum::<f64>() / block.len() as f64
}

/// A task on a plain vector: no `Shared` needed, the vector crosses whole as raw bytes.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn plain_mean(values: Vec<f64>) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// An expensive result worth caching: a large array.
#[parmemo::cache(MEMORY)]
fn column_cumsum(seed: u64) -> Shared<[f64]> {
    Shared::write_with(ROWS * COLUMNS, |out| {
        let mut state = seed;
        let mut running = 0.0;
        for x in out.iter_mut() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            running += (state >> 11) as f64 / (1_u64 << 53) as f64;
            *x = running;
        }
    })
}

fn main() -> Result<(), Error> {
    parmemo::parallel::init(); // first thing: in worker processes, this serves tasks

    let matrix: Shared<[f64]> = Shared::from_fn(ROWS * COLUMNS, |i| (i % 977) as f64);
    println!(
        "one {} MB matrix ({ROWS} x {COLUMNS} f64), in shared memory: {}",
        (ROWS * COLUMNS * 8) >> 20,
        matrix.is_mappable()
    );
    let p = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(1));
    p.worker_pids()?; // the pool starts outside the measurement
    let blocks = |tasks: usize| {
        let rows = ROWS / tasks;
        (0..tasks)
            .map(|t| (matrix.clone(), t * rows, rows))
            .collect::<Vec<_>>()
    };
    let (means, eight) = best_of(3, || p.map(block_mean, blocks(8)));
    let means = means?;
    let overall = means.iter().sum::<f64>() / means.len() as f64;
    row(
        "8 tasks each reading 1/8 of it",
        format!("{} (joblib, the array to 8 tasks: 42 ms)", human(eight)),
    );
    let (_, one) = best_of(3, || p.map(block_mean, [(matrix.clone(), 0, ROWS)]));
    row(
        "1 task reading all of it",
        format!("{} (mean {overall:.3})", human(one)),
    );
    let (_, fresh) = best_of(3, || {
        let copy: Shared<[f64]> = Shared::from_slice(&matrix);
        p.map(block_mean, [(copy, 0, 1)])
    });
    row(
        "a new copy of it to 1 task",
        format!("{} (joblib, a new array: 42 ms)", human(fresh)),
    );
    let plain: Vec<f64> = matrix.to_vec();
    let (plain_means, as_vec) = best_of(3, || p.map(plain_mean, [plain.clone()]));
    row(
        "the same as a plain Vec<f64>, copied, to 1 task",
        format!(
            "{} (mean {:.3}; the copy made in the call)",
            human(as_vec),
            plain_means?[0]
        ),
    );

    let started = std::time::Instant::now();
    let cumsum = column_cumsum(7);
    let first = started.elapsed();
    let (again, hit) = best_of(3, || column_cumsum(7));
    row(
        "a 64 MB cached result, first call",
        format!(
            "{} (computed, or mapped if an earlier run stored it)",
            human(first)
        ),
    );
    row(
        "the same call again",
        format!("{} (joblib, a mapped hit of 200 MB: 2.2 ms)", human(hit)),
    );
    assert_eq!(again[ROWS * COLUMNS - 1], cumsum[ROWS * COLUMNS - 1]);
    // A cached array goes on to worker processes as the same file, mapped again there.
    let from_cache = p.map(block_mean, [(again, 0, ROWS)])?;
    row(
        "its mean, from a worker process",
        format!("{:.3}", from_cache[0]),
    );
    if let Some(dir) = MEMORY.location() {
        println!("cache: {}", dir.display());
    }
    Ok(())
}
