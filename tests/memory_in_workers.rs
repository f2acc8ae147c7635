//! The README's `Memory::new` used from `Backend::Processes` workers and from their
//! parent at once: one cache, shared, every result computed once.

use parmemo::parallel::{Backend, Parallel};
use parmemo::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::sync::LazyLock;

/// Set by the test before the pool starts; the workers inherit it.
const DIR: &str = "PARMEMO_TEST_WORKERS_CACHE";

fn dir() -> PathBuf {
    std::env::var_os(DIR).map_or_else(|| PathBuf::from("target/unused"), PathBuf::from)
}

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(dir().join("cache")));

/// Notes each computation in a log every process appends to (small appends are atomic).
#[parmemo::cache(MEMORY)]
fn slow_square(x: u64) -> u64 {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir().join("computed.log"))
        .expect("the log opens");
    writeln!(log, "{x} in {}", std::process::id()).expect("the log is written");
    x * x
}

fn computations() -> usize {
    std::fs::read_to_string(dir().join("computed.log")).map_or(0, |log| log.lines().count())
}

#[test]
fn workers_and_their_parent_share_the_default_store() {
    let root = tempfile::tempdir().unwrap();
    // No thread reads the environment yet: the pool starts below.
    std::env::set_var(DIR, root.path());
    let workers = Parallel::new().backend(Backend::Processes).n_jobs(4);
    let squares = workers.map(slow_square, 0..20_u64).unwrap();
    assert_eq!(squares, (0..20).map(|x| x * x).collect::<Vec<u64>>());
    assert_eq!(computations(), 20, "each distinct call computed once");
    let log = std::fs::read_to_string(root.path().join("computed.log")).unwrap();
    let pids: std::collections::HashSet<&str> = log
        .lines()
        .filter_map(|line| line.split(" in ").nth(1))
        .collect();
    assert!(
        !pids.contains(std::process::id().to_string().as_str()),
        "computed in workers"
    );

    // Again in the workers, then in the parent: every call a hit.
    assert_eq!(workers.map(slow_square, (0..20_u64).rev()).unwrap()[0], 361);
    for x in 0..20 {
        assert_eq!(slow_square(x), x * x);
    }
    assert_eq!(computations(), 20, "no call computed twice");
}
