//! A size bound that holds itself: `items_limit`, `bytes_limit` and `age_limit` held as
//! entries are written, by one process and by two at once on one directory. While writes
//! go on, a store may exceed a limit by its slack (a 64th, at least one entry) until the
//! background keeper removes the rest; `wait_for_checks` waits for it.
//!
//! The children are this test binary run again with `--ignored` on `child_entry`.

mod common;

use common::{entry_files, fresh_dir};
use parmemo_memory::{FunctionId, Memory};
use std::time::Duration;

static BLOCK: FunctionId = FunctionId::new("tests::limits", "block", 1);
static OTHER: FunctionId = FunctionId::new("tests::limits", "other", 1);

fn block(seed: u64) -> Vec<u64> {
    vec![seed; 100]
}

fn bytes_on_disk(dir: &std::path::Path) -> u64 {
    entry_files(dir)
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "pmc"))
        .map(|path| std::fs::metadata(path).map_or(0, |meta| meta.len()))
        .sum()
}

fn entries_on_disk(dir: &std::path::Path) -> usize {
    entry_files(dir)
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "pmc"))
        .count()
}

#[test]
fn an_items_limit_holds_after_every_write_of_400_entries() {
    let dir = fresh_dir();
    let memory = Memory::new(&dir).items_limit(100);
    for seed in 0..400 {
        memory.call(&BLOCK, &seed, || block(seed));
        assert!(
            entries_on_disk(&dir) <= 101,
            "{} entries after write {seed}",
            entries_on_disk(&dir)
        );
    }
    memory.wait_for_checks();
    assert_eq!(entries_on_disk(&dir), 100);
    // The least recently used went: the last 100 written stay.
    let kept: Vec<u64> = (0..400)
        .filter(|seed| memory.check_call_in_cache(&BLOCK, seed))
        .collect();
    assert_eq!(kept, (300..400).collect::<Vec<_>>());
}

#[test]
fn a_bytes_limit_holds_and_keeps_what_was_just_used() {
    let dir = fresh_dir();
    let limit = 40 * 1024;
    let memory = Memory::new(&dir).bytes_limit(limit);
    memory.call(&OTHER, &0_u8, || vec![7_u64; 100]);
    for seed in 0..400 {
        memory.call(&BLOCK, &seed, || block(seed));
        // A hit on the first entry now and then: it was used last, so it is never the
        // one removed.
        if seed % 10 == 0 {
            std::thread::sleep(Duration::from_millis(12));
            let hit = memory.call(&OTHER, &0_u8, || -> Vec<u64> { unreachable!("a hit") });
            assert_eq!(hit, vec![7_u64; 100]);
        }
        let slack = limit / 64;
        let held = bytes_on_disk(&dir);
        assert!(held <= limit + slack, "{held} bytes");
    }
    memory.wait_for_checks();
    let held = bytes_on_disk(&dir);
    assert!(held <= limit, "{held} bytes");
    assert!(
        memory.check_call_in_cache(&OTHER, &0_u8),
        "the entry in use stays"
    );
    assert!(
        bytes_on_disk(&dir) > limit / 2,
        "the bound removes no more than it must"
    );
}

#[test]
fn an_age_limit_removes_entries_unused_for_longer() {
    let dir = fresh_dir();
    let memory = Memory::new(&dir).age_limit(Duration::from_millis(300));
    for seed in 0..5 {
        memory.call(&BLOCK, &seed, || block(seed));
    }
    std::thread::sleep(Duration::from_millis(400));
    memory.call(&BLOCK, &100, || block(100));
    memory.wait_for_checks();
    assert_eq!(entries_on_disk(&dir), 1, "only the new entry stays");
}

#[test]
fn a_limited_store_counts_what_was_there_before() {
    let dir = fresh_dir();
    let unbounded = Memory::new(&dir);
    for seed in 0..50 {
        unbounded.call(&BLOCK, &seed, || block(seed));
    }
    let bounded = Memory::new(&dir).items_limit(30);
    bounded.call(&BLOCK, &1000, || block(1000));
    // The first write lists the store in the background; the next writes hold the bound
    // once the listing is in.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seed = 1001;
    while entries_on_disk(&dir) > 30 {
        assert!(std::time::Instant::now() < deadline, "the bound never held");
        std::thread::sleep(Duration::from_millis(5));
        bounded.call(&BLOCK, &seed, || block(seed));
        seed += 1;
    }
    assert!(
        bounded.check_call_in_cache(&BLOCK, &1000),
        "the newest stays"
    );
}

#[test]
fn two_processes_on_one_directory_hold_one_bound() {
    let dir = fresh_dir();
    let children: Vec<_> = (0..2)
        .map(|worker| {
            common::child("bounded_writer", &dir)
                .env("PARMEMO_TEST_WORKER", worker.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("the test binary starts again as a child")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("the child ends").success());
    }
    // Each process ended once its keeper caught up; what one wrote while the other's
    // keeper ran its last round is within their slack (one entry each).
    let left = entries_on_disk(&dir);
    assert!(left <= 102, "{left} entries for a bound of 100");
    assert!(
        left >= 50,
        "{left} entries: the bound removed more than it must"
    );
    // A third process on the same bound lists the store, and holds it exactly.
    let third = Memory::new(&dir).items_limit(100);
    third.call(&BLOCK, &99_999, || block(99_999));
    third.wait_for_checks();
    assert!(entries_on_disk(&dir) <= 100);
}

#[test]
#[ignore = "run by the tests above as a child process"]
fn child_entry() {
    let dir = std::env::var_os("PARMEMO_TEST_DIR").expect("the parent sets the directory");
    let worker: u64 = std::env::var("PARMEMO_TEST_WORKER")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    let memory = Memory::new(dir).items_limit(100);
    for call in 0..300 {
        let seed = worker * 10_000 + call;
        assert_eq!(memory.call(&BLOCK, &seed, || block(seed)), block(seed));
    }
    memory.wait_for_checks();
}

#[test]
fn a_small_items_limit_holds_exactly_once_the_checks_are_done() {
    static SMALL: FunctionId = FunctionId::new("limits", "small", 1);
    for round in 0..200 {
        let dir = fresh_dir();
        let memory = Memory::new(&dir).items_limit(10);
        for x in 0..50_u32 {
            memory.call(&SMALL, &x, || x + 1);
        }
        memory.wait_for_checks();
        assert_eq!(entries_on_disk(&dir), 10, "round {round}");
    }
}
