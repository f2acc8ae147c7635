//! Cached results holding `Shared` arrays: stored raw and page-aligned, a hit on a large
//! entry maps the file (no copy), and damage is found where the docs say it is.

mod common;

use parmemo_memory::{FunctionId, Memory};
use parmemo_shared::Shared;
use std::path::{Path, PathBuf};

static ARRAYS: FunctionId = FunctionId::new("tests::arrays", "arrays", 1);

type Result2 = (String, Shared<[f64]>, Vec<Shared<[u32]>>);

fn compute(n: usize) -> Result2 {
    (
        format!("{n} values"),
        Shared::from_fn(n, |i| i as f64 * 0.5),
        vec![Shared::from_fn(3, |i| u32::try_from(i).unwrap_or(0)); 2],
    )
}

/// The call on `n` through `memory`, and whether it computed (a miss) or not (a hit).
fn called(memory: &Memory, n: usize) -> (Result2, bool) {
    let computed = std::cell::Cell::new(false);
    let result = memory.call(&ARRAYS, &n, || {
        computed.set(true);
        compute(n)
    });
    (result, computed.get())
}

/// Flips one bit of the byte `from_end` bytes before the end of `file`.
fn flip_near_the_end(file: &Path, from_end: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() - from_end;
    bytes[at] ^= 0x20;
    std::fs::write(file, &bytes).unwrap();
}

/// The one entry file under `dir`.
fn entry_file(dir: &Path) -> PathBuf {
    let mut found = common::entry_files(dir);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// Whether `address` lies in a mapping of `file` in this process.
fn maps_file(address: usize, file: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = file.display().to_string();
    maps.lines().any(|line| {
        let Some((range, _)) = line.split_once(' ') else {
            return false;
        };
        let Some((start, end)) = range.split_once('-') else {
            return false;
        };
        let start = usize::from_str_radix(start, 16).unwrap_or(0);
        let end = usize::from_str_radix(end, 16).unwrap_or(0);
        start <= address && address < end && line.ends_with(&name)
    })
}

#[test]
fn a_large_hit_maps_its_arrays_from_the_entry_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let n = 1 << 20; // 8 MiB: mapped, not read
    let first = Memory::new(&dir).call(&ARRAYS, &n, || compute(n));
    let calls = std::cell::Cell::new(0);
    let again = Memory::new(&dir).call(&ARRAYS, &n, || {
        calls.set(calls.get() + 1);
        compute(n)
    });
    assert_eq!(calls.get(), 0, "a hit");
    assert_eq!(again, first);
    let file = entry_file(&dir);
    assert!(
        maps_file(again.1.as_ptr() as usize, &file),
        "the array is the file, mapped"
    );
    assert_eq!(again.1.as_ptr() as usize % 4096, 0, "page-aligned");
    assert!(
        again.1.is_mappable(),
        "and can go on to a worker process as the same file"
    );
}

#[test]
fn damage_to_a_mapped_array_is_found_when_asked_and_truncation_always() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let n = 1 << 20;
    let (stored, _) = called(&Memory::new(&dir), n);
    let file = entry_file(&dir);
    // Inside the large array: the two small ones after it take a page each.
    flip_near_the_end(&file, 2 * 4096 + 100);
    let checked = called(&Memory::new(&dir).verify_mapped_arrays(true), n);
    assert_eq!(
        checked,
        (stored.clone(), true),
        "the damage found, recomputed"
    );
    // Cut short: the table says the arrays lie past the end; never mapped, recomputed.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 5000]).unwrap();
    assert_eq!(
        called(&Memory::new(&dir), n),
        (stored, true),
        "truncation found"
    );
}

#[test]
fn small_entries_with_arrays_are_read_and_checked_whole() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let n = 1000; // far below the size that is mapped
    let (stored, _) = called(&Memory::new(&dir), n);
    // Inside the first small array (the last two arrays start a page apart).
    flip_near_the_end(&entry_file(&dir), 4100);
    assert_eq!(
        called(&Memory::new(&dir), n),
        (stored, true),
        "checked on every read hit"
    );
}

#[test]
#[cfg(feature = "sled")]
fn arrays_round_trip_through_the_sled_store() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let n = 1 << 16;
    // One handle: sled lets one open at a time, and releases its lock lazily.
    let memory = Memory::sled(&dir);
    let (stored, _) = called(&memory, n);
    let (again, computed) = called(&memory, n);
    assert!(!computed, "a hit");
    assert!(again == stored, "the same arrays");
}

static VECTORS: FunctionId = FunctionId::new("tests::arrays", "vectors", 1);

/// A plain vector result: stored raw like an array, read back into a vector of its own.
fn vector_call(memory: &Memory, n: usize) -> (Vec<f32>, bool) {
    let computed = std::cell::Cell::new(false);
    let result = memory.call(&VECTORS, &n, || {
        computed.set(true);
        (0..n).map(|i| i as f32 - 0.5).collect::<Vec<f32>>()
    });
    (result, computed.get())
}

#[test]
fn plain_vector_results_are_stored_raw_and_every_hit_is_checked() {
    // 20 MiB: read while a second thread faults the new vector's pages in.
    for n in [0, 1000, 5 << 20] {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let (stored, computed) = vector_call(&Memory::new(&dir), n);
        assert!(computed);
        let file = entry_file(&dir);
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(
            size < 4 * n as u64 + 2 * 4096,
            "raw bytes ({size} for {n} f32), not an encoding"
        );
        assert_eq!(vector_call(&Memory::new(&dir), n), (stored.clone(), false));
        if n == 0 {
            continue;
        }
        // A flipped bit in the vector is found on a plain hit, mapped entry or not,
        // without `verify_mapped_arrays`.
        flip_near_the_end(&file, 7);
        assert_eq!(
            vector_call(&Memory::new(&dir), n),
            (stored.clone(), true),
            "the damage found, recomputed"
        );
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(
            vector_call(&Memory::new(&dir), n),
            (stored, true),
            "truncation found"
        );
    }
}

#[test]
fn a_damaged_mapped_array_is_served_at_most_once_then_removed() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let n = 1 << 18; // 2 MiB: mapped
    let (stored, _) = called(&Memory::new(&dir), n);
    let file = entry_file(&dir);
    flip_near_the_end(&file, 2 * 4096 + 100);
    let memory = Memory::new(&dir);
    let (served, computed) = called(&memory, n);
    assert!(
        !computed,
        "the hit returns at once, before its arrays are hashed"
    );
    assert_ne!(served, stored, "the one damaged hit");
    drop(served);
    memory.wait_for_checks();
    assert!(!file.exists(), "the background check removed the entry");
    // Through another `Memory` of this process, as through the first: recomputed.
    assert_eq!(called(&Memory::new(&dir), n), (stored.clone(), true));
    assert_eq!(
        called(&memory, n),
        (stored, false),
        "and stored again, whole"
    );
}

/// A small deterministic generator (xorshift64*), so a failing round can be replayed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Damages `file` at a random place: a flipped bit, or a run of overwritten bytes.
fn mutate(file: &Path, state: &mut u64) {
    let mut bytes = std::fs::read(file).unwrap();
    let len = bytes.len() as u64;
    let at = usize::try_from(next(state) % len).unwrap();
    if next(state).is_multiple_of(2) {
        bytes[at] ^= 1 << (next(state) % 8);
    } else {
        let run = usize::try_from(1 + next(state) % 64).unwrap();
        let end = (at + run).min(bytes.len());
        let value = u8::try_from(next(state) % 256).unwrap();
        for byte in &mut bytes[at..end] {
            *byte = if *byte == value { !value } else { value };
        }
    }
    std::fs::write(file, &bytes).unwrap();
}

/// Random damage to entries, mapped (2 MiB) and read (a few KiB), with both settings:
/// a read entry, or a mapped one with `verify_mapped_arrays(true)`, is never served
/// damaged; a mapped one by default is served damaged at most once, and the call after
/// the background check computes.
#[test]
fn mutated_entries_are_never_served_twice() {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut wrong_once = 0;
    for round in 0..40 {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let (n, verify) = match round % 4 {
            0 => (1 << 18, false),
            1 => (1 << 18, true),
            2 => (500, false),
            _ => (500, true),
        };
        let mapped = n >= 1 << 18;
        let (stored, _) = called(&Memory::new(&dir), n);
        mutate(&entry_file(&dir), &mut state);
        let memory = Memory::new(&dir).verify_mapped_arrays(verify);
        let (first, _) = called(&memory, n);
        if first != stored {
            assert!(
                mapped && !verify,
                "round {round}: a damaged entry served with verify={verify}, mapped={mapped}"
            );
            wrong_once += 1;
        }
        drop(first);
        memory.wait_for_checks();
        let (second, _) = called(&Memory::new(&dir), n);
        assert_eq!(second, stored, "round {round}: served damaged twice");
    }
    // Damage inside the large array (most of a 2 MiB entry) is what the first hit serves.
    assert!(
        wrong_once > 0,
        "no round damaged a mapped array: the test tests nothing"
    );
}

/// A file that passed its check is trusted for a quarter second (a loop of hits would
/// otherwise hash the same bytes over and over): damage written in place right after a
/// passed check is found at the first hit after that pause, and the entry removed.
#[test]
fn damage_after_a_passed_check_is_found_after_the_pause() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let n = 1 << 18;
    let (stored, _) = called(&Memory::new(&dir), n);
    let memory = Memory::new(&dir);
    assert_eq!(called(&memory, n), (stored.clone(), false), "a sound hit");
    memory.wait_for_checks();
    let file = entry_file(&dir);
    flip_near_the_end(&file, 2 * 4096 + 100);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let (served, computed) = called(&memory, n);
    assert!(!computed);
    assert_ne!(served, stored, "served once, before its check");
    drop(served);
    memory.wait_for_checks();
    assert!(!file.exists(), "the check after the pause removed it");
    assert_eq!(called(&memory, n), (stored, true));
}
