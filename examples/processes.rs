//! `Backend::Processes`: the tutorial's joblib job in a pool of worker processes (what
//! joblib does by default), then what processes buy: a task that aborts takes down its
//! worker, not the program, and a hung task is killed by its timeout.
//!
//! `cargo run --release --example processes`

mod common;

use common::{best_of, human, row, uniform_f32, SEED};
use parmemo::parallel::{Backend, BatchSize, Error, Parallel};
use parmemo::stats::walsh_median;
use std::time::Duration;

/// A task for worker processes: a plain function of serializable arguments.
// Task arguments arrive owned: they are deserialized in the worker.
#[allow(clippy::needless_pass_by_value)]
fn walsh_median_owned(sample: Vec<f32>) -> Result<f32, String> {
    walsh_median(&sample).map_err(|err| err.to_string())
}

/// A task that crashes its process when asked to (as faulty FFI code might).
fn fragile(x: i32) -> i32 {
    if x == 3 {
        std::process::abort();
    }
    x * 10
}

/// A task that never finishes when asked to.
fn hangs(x: u64) -> u64 {
    if x == 2 {
        std::thread::sleep(Duration::from_secs(3600));
    }
    x
}

fn main() -> Result<(), Error> {
    parmemo::parallel::init(); // first thing: in worker processes, this serves tasks

    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, SEED + s)).collect();
    println!("Walsh median of {} samples of 10 000 f32", samples.len());
    let processes = Parallel::new().backend(Backend::Processes).n_jobs(-1);
    let threads = Parallel::new().n_jobs(-1);
    let started = std::time::Instant::now();
    let pids = processes.worker_pids()?;
    row(
        &format!("start {} worker processes", pids.len()),
        human(started.elapsed()),
    );
    let (on_processes, process_time) =
        best_of(3, || processes.try_map(walsh_median_owned, samples.clone()));
    let (on_threads, thread_time) = best_of(3, || {
        threads.try_map(|s: &Vec<f32>| walsh_median(s), &samples)
    });
    assert_eq!(on_processes?, on_threads?, "processes and threads agree");
    row("Backend::Processes", human(process_time));
    row("Backend::Threads", human(thread_time));

    println!("\nA task that aborts its process (task 3 of 6):");
    let one_by_one = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(1));
    match one_by_one.map(fragile, 0..6) {
        Err(error) => println!("  {error}"),
        Ok(results) => println!("  (no error?) {results:?}"),
    }
    println!(
        "  the pool carries on: {:?}",
        one_by_one.map(fragile, [1, 2])?
    );

    println!("\nA task that hangs, under a 500 ms timeout (task 2 of 4):");
    let bounded = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .timeout(Duration::from_millis(500));
    match bounded.map(hangs, 0..4) {
        Err(error) => println!("  {error}"),
        Ok(results) => println!("  (no error?) {results:?}"),
    }
    Ok(())
}
