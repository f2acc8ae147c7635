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
    // The parent's Memory exists before the run: its stats count the workers' calls.
    LazyLock::force(&MEMORY);
    let workers = Parallel::new().backend(Backend::Processes).n_jobs(4);
    let squares = workers.map(slow_square, 0..20_u64).unwrap();
    assert_eq!(squares, (0..20).map(|x| x * x).collect::<Vec<u64>>());
    assert_eq!(computations(), 20, "each distinct call computed once");
    let stats = MEMORY.stats().unwrap();
    assert_eq!(
        (stats.misses, stats.worker_misses, stats.hits),
        (20, 20, 0),
        "the workers' misses, seen by the parent: {stats:?}"
    );
    let log = std::fs::read_to_string(root.path().join("computed.log")).unwrap();
    let pids: std::collections::HashSet<&str> = log
        .lines()
        .filter_map(|line| line.split(" in ").nth(1))
        .collect();
    assert!(
        !pids.contains(std::process::id().to_string().as_str()),
        "computed in workers"
    );

    // Again in the workers, then in the parent: every call a hit, and each task can
    // tell that its call was one.
    let again = workers.map(square_and_outcome, (0..20_u64).rev()).unwrap();
    assert_eq!(again[0], (361, true));
    assert!(again.iter().all(|&(_, hit)| hit), "every worker call a hit");
    for x in 0..20 {
        assert_eq!(slow_square(x), x * x);
        assert_eq!(
            parmemo::memory::last_call(),
            Some(parmemo::memory::CallOutcome::Hit)
        );
    }
    assert_eq!(computations(), 20, "no call computed twice");
    let stats = MEMORY.stats().unwrap();
    assert_eq!(
        (stats.hits, stats.worker_hits, stats.misses),
        (40, 20, 20),
        "{stats:?}"
    );
}

/// A task that says whether its cached call was answered from the store.
fn square_and_outcome(x: u64) -> (u64, bool) {
    let square = slow_square(x);
    let hit = parmemo::memory::last_call() == Some(parmemo::memory::CallOutcome::Hit);
    (square, hit)
}

/// The file that backs `address` in this process, as `/proc/self/maps` names it.
fn backing_file(address: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .find_map(|line| {
            let (range, rest) = line.split_once(' ')?;
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (start <= address && address < end)
                .then(|| rest.split_whitespace().nth(4).unwrap_or("").to_owned())
        })
        .unwrap_or_default()
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn sum_where_it_lies(array: parmemo::Shared<[f64]>) -> (f64, String) {
    (array.iter().sum(), backing_file(array.as_ptr() as usize))
}

/// A mapped hit's array (an ordinary file, not a sealed memfd) goes to a worker as the
/// entry file's descriptor, which the worker maps too: the one path where a worker maps
/// an unsealed file, on the cache's promise that entries are never written in place.
#[test]
fn a_mapped_hit_reaches_a_worker_as_the_entry_file() {
    let root = tempfile::tempdir().unwrap();
    let n = 1 << 18; // 2 MiB: mapped on a hit
                     // Written by a worker (its miss), so the parent's call below is a hit from the file.
    let entry_dir = root.path().join("arrays");
    let written = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(1)
        .map(write_ramp_in, vec![(entry_dir.display().to_string(), n)])
        .unwrap();
    assert_eq!(written, [n]);
    let hit = parmemo::memory::Memory::new(&entry_dir).call(&RAMP_ID, &n, || unreachable_ramp(n));
    let in_parent = backing_file(hit.as_ptr() as usize);
    let is_entry = std::path::Path::new(&in_parent)
        .extension()
        .is_some_and(|extension| extension == "pmc");
    assert!(is_entry, "the hit maps the entry file: {in_parent}");
    let answers = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .map(sum_where_it_lies, vec![hit.clone(); 2])
        .unwrap();
    for (sum, in_worker) in answers {
        assert_eq!(sum, (0..n).map(|i| i as f64).sum::<f64>());
        assert_eq!(in_worker, in_parent, "the worker maps the same entry file");
    }
}

static RAMP_ID: parmemo::memory::FunctionId =
    parmemo::memory::FunctionId::new("tests::memory_in_workers", "ramp_in", 1);

fn unreachable_ramp(_: usize) -> parmemo::Shared<[f64]> {
    panic!("a hit was expected: the worker stored this entry")
}

/// Stores the ramp under `dir` from a worker.
fn write_ramp_in((dir, n): (String, usize)) -> usize {
    let stored = parmemo::memory::Memory::new(dir).call(&RAMP_ID, &n, || {
        parmemo::Shared::<[f64]>::from_fn(n, |i| i as f64)
    });
    stored.len()
}

static VERBOSE: LazyLock<Memory> = LazyLock::new(|| Memory::new(dir().join("verbose")).verbose(2));

/// A cached function whose calls print two lines each (`verbose(2)`).
#[parmemo::cache(VERBOSE)]
fn noisy(x: u64) -> u64 {
    x + 1
}

/// The child of `verbose_lines_of_worker_processes_never_mix`: 200 cached calls on four
/// workers, one task a batch, all printing to the stderr they inherited.
#[test]
#[ignore = "run as a child process by verbose_lines_of_worker_processes_never_mix"]
fn role_verbose_workers() {
    let workers = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(4)
        .batch_size(parmemo::parallel::BatchSize::Fixed(1));
    let plus_one = workers.map(noisy, 0..200_u64).unwrap();
    assert_eq!(plus_one, (1..=200).collect::<Vec<u64>>());
}

/// Each verbose line of each worker goes out in one write: four workers printing 400
/// lines at once never mix two lines into one (`eprintln!` wrote a line in pieces:
/// `[Memory] Calling [Memory] Calling a::f...`).
#[test]
fn verbose_lines_of_worker_processes_never_mix() {
    let root = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "role_verbose_workers",
            "--ignored",
            "--nocapture",
        ])
        .env(DIR, root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child failed: {stderr}");
    let mut calling = 0;
    let mut done = 0;
    for line in stderr.lines() {
        for mark in ["[Memory]", "_____"] {
            if line.contains(mark) {
                assert!(
                    line.starts_with(mark) && line.matches(mark).count() == 1,
                    "a mixed line: {line:?}"
                );
            }
        }
        calling += usize::from(line.starts_with("[Memory] Calling "));
        done += usize::from(line.starts_with("_____noisy - "));
    }
    assert_eq!(
        (calling, done),
        (200, 200),
        "every call printed its two lines"
    );
}
