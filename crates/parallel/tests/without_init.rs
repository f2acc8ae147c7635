//! A program that forgets `parmemo_parallel::init()` (a harness of its own, so that this
//! `main` is the program's): its workers must serve, never run `main` and never start
//! workers of their own.
//!
//! The guard: `main` marks the environment its workers inherit; a worker that reached
//! `main` would see the mark and exit at once instead of starting a pool, so even a
//! regression cannot multiply processes.

use parmemo_parallel::{Backend, Parallel};

const RAN_MAIN: &str = "PARMEMO_TEST_WITHOUT_INIT_RAN_MAIN";

fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    if std::env::var_os(RAN_MAIN).is_some() {
        eprintln!("a worker process ran main");
        std::process::exit(99);
    }
    // No thread exists yet: changing the environment is sound here.
    std::env::set_var(RAN_MAIN, "1");
    let on_processes = Parallel::new().backend(Backend::Processes).n_jobs(3);
    let squares = on_processes.map(square, 0..1_000);
    assert_eq!(
        squares,
        Ok((0..1_000).map(square).collect::<Vec<u64>>()),
        "workers serve without init()"
    );
    let pids = on_processes.worker_pids().expect("the pool is alive");
    assert_eq!(pids.len(), 3, "no worker ran main and died");
    println!("without_init: 1 passed, 0 failed");
}
