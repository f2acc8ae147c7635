//! `Backend::Processes` with real faults: panics, aborts, exits, kills, hangs. The
//! attacks and the forgetful user are in `process_safety.rs`.

use parmemo_parallel::{Backend, BatchSize, Error, Parallel, Processes};
use std::time::Duration;

// Not needed where workers are recognised before `main` (Linux, macOS, the BSDs); kept
// to show that it compiles and changes nothing there.
parmemo_parallel::enable_test_support!();

fn square(x: u64) -> u64 {
    x * x
}

fn checked_half(x: u64) -> Result<u64, String> {
    if x.is_multiple_of(2) {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

fn panics_at_seven(x: u64) -> u64 {
    assert!(x != 7, "seven is not allowed");
    x
}

// A task's argument arrives owned: it is deserialized in the worker.
#[allow(clippy::needless_pass_by_value)]
fn dies(how: String) -> u32 {
    match how.as_str() {
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "kill" => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(10));
            0
        }
        _ => 1,
    }
}

fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn processes(n: i32) -> Parallel<Processes> {
    Parallel::new().backend(Backend::Processes).n_jobs(n)
}

#[test]
fn results_come_back_in_input_order() {
    let p = processes(2);
    let squares = p.map(square, 0..5_000).unwrap();
    assert_eq!(squares, (0..5_000).map(|x| x * x).collect::<Vec<u64>>());
    assert_eq!(p.try_map(checked_half, [2, 4, 6]).unwrap(), [1, 2, 3]);
    assert_eq!(
        p.try_map(checked_half, [2, 3]),
        Err(Error::task(1, "3 is odd"))
    );
}

#[test]
fn a_panic_names_the_task_and_the_worker_survives() {
    let p = processes(2).batch_size(BatchSize::Fixed(1));
    let before = p.worker_pids().unwrap();
    match p.map(panics_at_seven, 0..20) {
        Err(Error::Task { index, message, .. }) => {
            assert_eq!(index, 7);
            assert!(message.contains("seven is not allowed"), "{message}");
        }
        other => panic!("expected a task error, got {other:?}"),
    }
    assert_eq!(p.map(square, [3]).unwrap(), [9]);
    assert_eq!(
        p.worker_pids().unwrap(),
        before,
        "a panic does not cost a worker"
    );
}

#[test]
fn the_pool_is_reused_across_calls() {
    let p = processes(3);
    let first = p.worker_pids().unwrap();
    assert_eq!(first.len(), 3);
    p.map(square, 0..100).unwrap();
    p.map(square, 0..100).unwrap();
    assert_eq!(
        p.worker_pids().unwrap(),
        first,
        "no new process for a second call"
    );
}

#[test]
fn a_dying_worker_is_reported_and_replaced() {
    let p = processes(1).batch_size(BatchSize::Fixed(1));
    for (how, cause) in [
        ("abort", "SIGABRT"),
        ("exit", "exit status: 3"),
        ("kill", "SIGKILL"),
    ] {
        let tasks = vec!["fine".to_owned(), how.to_owned(), "fine".to_owned()];
        match p.map(dies, tasks) {
            Err(Error::WorkerDied {
                index,
                cause: reported,
            }) => {
                assert_eq!(index, 1, "{how}");
                assert!(reported.contains(cause), "{how}: {reported}");
            }
            other => panic!("{how}: expected a dead worker, got {other:?}"),
        }
        assert_eq!(
            p.map(square, [4]).unwrap(),
            [16],
            "{how}: the pool works again"
        );
    }
    assert_no_zombies();
}

#[test]
fn a_task_past_its_timeout_is_killed_with_its_worker() {
    let p = processes(1).timeout(Duration::from_millis(300));
    let before = p.worker_pids().unwrap();
    assert_eq!(
        p.map(sleeps, [0, 10_000, 0]),
        Err(Error::Timeout { index: 1 })
    );
    assert_eq!(p.map(sleeps, [1, 2]).unwrap(), [1, 2]);
    assert_ne!(
        p.worker_pids().unwrap(),
        before,
        "the killed worker was replaced"
    );
    assert_no_zombies();
}

/// No child of this process is left dead and unreaped.
fn assert_no_zombies() {
    let me = std::process::id().to_string();
    let zombies: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: comm may hold spaces, so split after the ')'.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = after.split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .collect();
    assert!(zombies.is_empty(), "zombie children: {zombies:?}");
}

// Owned, as every task argument: it is deserialized in the worker.
#[allow(clippy::needless_pass_by_value)]
fn checksum(bytes: Vec<u8>) -> (usize, u64) {
    (bytes.len(), bytes.iter().map(|&b| u64::from(b)).sum())
}

#[test]
fn a_64_megabyte_argument_round_trips() {
    let big: Vec<u8> = (0..64 * 1024 * 1024_u32).map(|i| (i % 251) as u8).collect();
    let expected = checksum(big.clone());
    let p = processes(1).batch_size(BatchSize::Fixed(1));
    assert_eq!(p.map(checksum, [big]).unwrap(), [expected]);
}

/// The calls every backend must answer alike, with the same plain functions.
trait SameBehaviour {
    fn squares(&self, n: u64) -> Result<Vec<u64>, Error>;
    fn halves(&self, items: Vec<u64>) -> Result<Vec<u64>, Error>;
    fn streamed(&self, n: u64) -> Result<Vec<u64>, Error>;
    fn unordered(&self, n: u64) -> Result<Vec<(usize, u64)>, Error>;
}

/// The in-process backends take the same functions (closures would do too).
macro_rules! same_behaviour_in_process {
    ($($backend:ty),*) => {$(
        impl SameBehaviour for Parallel<$backend> {
            fn squares(&self, n: u64) -> Result<Vec<u64>, Error> {
                self.map(square, 0..n)
            }
            fn halves(&self, items: Vec<u64>) -> Result<Vec<u64>, Error> {
                self.try_map(checked_half, items)
            }
            fn streamed(&self, n: u64) -> Result<Vec<u64>, Error> {
                self.run_iter((0..n).map(|x| parmemo_parallel::delayed(move || square(x))))?.collect()
            }
            fn unordered(&self, n: u64) -> Result<Vec<(usize, u64)>, Error> {
                self.run_unordered((0..n).map(|x| parmemo_parallel::delayed(move || square(x))))?.collect()
            }
        }
    )*};
}

same_behaviour_in_process!(parmemo_parallel::Sequential, parmemo_parallel::Threads);

impl SameBehaviour for Parallel<Processes> {
    fn squares(&self, n: u64) -> Result<Vec<u64>, Error> {
        self.map(square, 0..n)
    }
    fn halves(&self, items: Vec<u64>) -> Result<Vec<u64>, Error> {
        self.try_map(checked_half, items)
    }
    fn streamed(&self, n: u64) -> Result<Vec<u64>, Error> {
        self.run_iter(square, 0..n)?.collect()
    }
    fn unordered(&self, n: u64) -> Result<Vec<(usize, u64)>, Error> {
        self.run_unordered(square, 0..n)?.collect()
    }
}

#[test]
fn every_backend_behaves_alike() {
    let backends: Vec<(&str, Box<dyn SameBehaviour>)> = vec![
        (
            "sequential",
            Box::new(Parallel::new().backend(Backend::Sequential)),
        ),
        ("threads", Box::new(Parallel::new().n_jobs(2))),
        ("processes", Box::new(processes(2))),
    ];
    let squares: Vec<u64> = (0..3_000).map(|x| x * x).collect();
    for (name, backend) in &backends {
        assert_eq!(backend.squares(3_000).as_ref(), Ok(&squares), "{name}: map");
        assert_eq!(backend.squares(0), Ok(vec![]), "{name}: empty input");
        assert_eq!(
            backend.streamed(3_000).as_ref(),
            Ok(&squares),
            "{name}: run_iter"
        );
        let mut pairs = backend.unordered(500).unwrap();
        pairs.sort_unstable();
        assert_eq!(
            pairs,
            (0..500).map(|i| (i, (i * i) as u64)).collect::<Vec<_>>(),
            "{name}: run_unordered"
        );
        assert_eq!(
            backend.halves((0..100).map(|x| 2 * x).chain([41]).collect()),
            Err(Error::task(100, "41 is odd")),
            "{name}: the first error names its task"
        );
    }
}

/// A value whose `Deserialize` rejects 13: serializing works, decoding in the worker fails.
#[derive(Debug)]
struct Picky(u8);

impl serde::Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u8::deserialize(deserializer)?;
        if value == 13 {
            Err(serde::de::Error::custom("13 is unlucky"))
        } else {
            Ok(Picky(value))
        }
    }
}

// Owned, as every task argument: it is deserialized in the worker.
#[allow(clippy::needless_pass_by_value)]
fn unwrap_picky(picky: Picky) -> u8 {
    picky.0
}

#[test]
fn undecodable_arguments_are_an_error_naming_the_task() {
    let p = processes(1).batch_size(BatchSize::Fixed(1));
    match p.map(unwrap_picky, [Picky(1), Picky(2), Picky(13)]) {
        Err(Error::Task { index, message, .. }) => {
            assert_eq!(index, 2);
            assert!(message.contains("13 is unlucky"), "{message}");
        }
        other => panic!("expected a task error, got {other:?}"),
    }
    assert_eq!(p.map(unwrap_picky, [Picky(7)]).unwrap(), [7]);
}

fn aborts_at_five(x: u32) -> u32 {
    if x == 5 {
        std::process::abort();
    }
    x
}

#[test]
fn a_death_inside_a_batch_names_the_task_that_caused_it() {
    let p = processes(1).batch_size(BatchSize::Fixed(8));
    match p.map(aborts_at_five, 0..8) {
        Err(Error::WorkerDied { index, cause }) => {
            assert_eq!(index, 5, "{cause}");
            assert!(cause.contains("SIGABRT"), "{cause}");
        }
        other => panic!("expected a dead worker, got {other:?}"),
    }
    assert_eq!(p.map(aborts_at_five, [1, 2]).unwrap(), [1, 2]);
    assert_no_zombies();
}

fn noisy(x: u64) -> u64 {
    println!("worker output on stdout for {x}");
    eprintln!("worker output on stderr for {x}");
    x + 1
}

#[test]
fn a_worker_printing_does_not_disturb_the_protocol() {
    let p = processes(2);
    let results = p.map(noisy, 0..200).unwrap();
    assert_eq!(results, (1..=200).collect::<Vec<u64>>());
}
