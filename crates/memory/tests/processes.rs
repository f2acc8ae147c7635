//! Several processes and one cache, for real: a held lock, a process killed right after
//! a cached call returns, four processes writing one shared directory.
//!
//! The children are this test binary run again with `--ignored` on `child_entry`, in the
//! role named by `PARMEMO_TEST_ROLE`.

mod common;

use parmemo_macros::cache;
use parmemo_memory::Memory;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::LazyLock;

fn dir_from_env() -> PathBuf {
    std::env::var_os("PARMEMO_TEST_DIR")
        .map_or_else(|| PathBuf::from("target/unused"), PathBuf::from)
}

/// The store under test: the default (one file per entry), or sled when
/// `PARMEMO_TEST_STORE=sled`.
fn store_from_env(dir: &Path) -> Memory {
    #[cfg(feature = "sled")]
    if std::env::var("PARMEMO_TEST_STORE").as_deref() == Ok("sled") {
        return Memory::sled(dir);
    }
    Memory::new(dir)
}

static EITHER: LazyLock<Memory> = LazyLock::new(|| store_from_env(&dir_from_env()));
static SHARED: LazyLock<Memory> = LazyLock::new(|| Memory::new(dir_from_env()));

#[cache(EITHER)]
fn durable_square(x: u64) -> u64 {
    x * x
}

/// What the shared-directory workers compute: easy to check, a few hundred bytes each.
fn expected_row(key: u64) -> Vec<u64> {
    (0..40).map(|i| key * 1_000 + i).collect()
}

#[cache(SHARED)]
fn shared_row(key: u64) -> Vec<u64> {
    expected_row(key)
}

#[cfg(feature = "sled")]
static LOCKED: parmemo_memory::FunctionId = parmemo_memory::FunctionId::new("tests", "locked", 1);

const SHARED_KEYS: u64 = 500;
const CALLS_PER_WORKER: u64 = 2_000;

fn spawn_child(role: &str, dir: &Path, worker: u32) -> Child {
    spawn_child_on(role, dir, worker, "files")
}

fn spawn_child_on(role: &str, dir: &Path, worker: u32, store: &str) -> Child {
    common::child(role, dir)
        .env("PARMEMO_TEST_WORKER", worker.to_string())
        .env("PARMEMO_TEST_STORE", store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the test binary starts again as a child")
}

/// Reads the child's stdout until a line holding `marker`, and returns the line from the
/// marker on (libtest prints `test child_entry ... ` before the child's own output).
fn wait_for(child: &mut Child, marker: &str) -> String {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .expect("the child's stdout is readable");
        assert!(read > 0, "the child exited before printing {marker:?}");
        if let Some(at) = line.find(marker) {
            return line[at..].trim_end().to_owned();
        }
    }
}

#[test]
#[ignore = "entry point of the child processes the other tests start"]
fn child_entry() {
    let role = std::env::var("PARMEMO_TEST_ROLE").unwrap_or_default();
    match role.as_str() {
        #[cfg(feature = "sled")]
        "hold" => {
            let _memory =
                Memory::open_sled(dir_from_env()).expect("the first process gets the lock");
            println!("ready");
            // Hold the lock until the parent closes our stdin.
            let _ = std::io::stdin().lines().count();
        }
        "call_then_wait" => {
            let value = durable_square(7);
            println!("returned {value}");
            std::io::stdout().flush().expect("stdout flushes");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        "shared_worker" => {
            let worker: u64 = std::env::var("PARMEMO_TEST_WORKER")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            for call in 0..CALLS_PER_WORKER {
                let key = (call * 7 + worker * 131) % SHARED_KEYS;
                assert_eq!(
                    shared_row(key),
                    expected_row(key),
                    "worker {worker} got a wrong result for {key}"
                );
            }
            println!("done");
        }
        _ => {}
    }
}

#[test]
#[cfg(feature = "sled")]
fn a_second_process_on_a_sled_store_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = spawn_child("hold", dir.path(), 0);
    wait_for(&mut holder, "ready");

    let error = Memory::open_sled(dir.path()).expect_err("the store is held by the child");
    assert!(
        matches!(error, parmemo_memory::MemoryError::Locked { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("Memory::new(dir)"),
        "the message names the fix: {error}"
    );

    // The lazy constructor does not fail: calls run uncached.
    let lazy = Memory::sled(dir.path());
    assert_eq!(lazy.call(&LOCKED, &1_u8, || 5_u8), 5);
    assert!(!lazy.check_call_in_cache(&LOCKED, &1_u8));

    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert!(
        Memory::open_sled(dir.path()).is_ok(),
        "the lock goes with the process"
    );
}

#[test]
fn a_result_survives_a_kill_right_after_the_call_returns() {
    let stores: &[&str] = if cfg!(feature = "sled") {
        &["files", "sled"]
    } else {
        &["files"]
    };
    for &store in stores {
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_child_on("call_then_wait", dir.path(), 0, store);
        assert_eq!(wait_for(&mut child, "returned"), "returned 49");
        child.kill().expect("SIGKILL reaches the child");
        child.wait().unwrap();

        #[cfg(feature = "sled")]
        let memory = if store == "sled" {
            Memory::open_sled(dir.path()).expect("the dead child's lock is released")
        } else {
            Memory::open(dir.path()).expect("the directory opens")
        };
        #[cfg(not(feature = "sled"))]
        let memory = Memory::open(dir.path()).expect("the directory opens");
        let identity = durable_square::cache().id();
        assert!(memory.check_call_in_cache(identity, &(&7_u64,)), "{store}");
        let loaded: u64 = memory.call(identity, &(&7_u64,), || {
            unreachable!("stored before the kill")
        });
        assert_eq!(loaded, 49, "{store}");
    }
}

#[test]
fn four_processes_share_one_directory_without_losing_or_corrupting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut workers: Vec<Child> = (0..4)
        .map(|w| spawn_child("shared_worker", dir.path(), w))
        .collect();
    for worker in &mut workers {
        wait_for(worker, "done");
        assert!(worker.wait().unwrap().success());
    }

    let memory = Memory::open(dir.path()).unwrap();
    let identity = shared_row::cache().id();
    assert_eq!(
        memory.function(identity).len().unwrap(),
        usize::try_from(SHARED_KEYS).unwrap()
    );
    for key in 0..SHARED_KEYS {
        let stored: Vec<u64> = memory.call(identity, &(&key,), || {
            panic!("entry {key} is missing or damaged")
        });
        assert_eq!(stored, expected_row(key));
    }
    let leftovers: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
