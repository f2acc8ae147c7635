//! What a user of `#[cache]` and `Memory` sees in one process.

mod common;

use common::{capture_warnings, fresh_dir, warnings_containing};
use parmemo_macros::cache;
#[cfg(feature = "sled")]
use parmemo_memory::SledStore;
use parmemo_memory::{DirStore, FunctionId, Memory};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

static MODEL_OLD: FunctionId = FunctionId::new("tests::caching", "model", 1);
static MODEL_NEW: FunctionId = FunctionId::new("tests::caching", "model", 2);
static EVICT: FunctionId = FunctionId::new("tests::caching", "evict", 1);
#[cfg(feature = "sled")]
static SLED_VICTIM: FunctionId = FunctionId::new("tests::caching", "sled_victim", 1);
static FILE_VICTIM: FunctionId = FunctionId::new("tests::caching", "file_victim", 1);
static UNCACHED: FunctionId = FunctionId::new("tests::caching", "uncached", 1);

#[test]
fn the_second_call_is_loaded_not_computed() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cache(MEMORY)]
    fn walsh_like(sample: &[f32]) -> f64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        sample.iter().map(|&v| f64::from(v)).sum()
    }

    let sample: Vec<f32> = (0..10_000_u16).map(f32::from).collect();
    let first = walsh_like(&sample);
    assert_eq!(walsh_like(&sample), first);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let mut other = sample.clone();
    other[0] = -1.0;
    walsh_like(&other);
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    let stats = MEMORY.stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 2, 2));
    assert!(stats.bytes > 0);
}

#[test]
fn arrays_hashed_in_bulk_find_the_same_entries_as_the_handle() {
    // A call hashes slices and vectors of numbers in bulk; the handle's methods take the
    // arguments' tuple through serde. Both must name the same entry, NaNs included.
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cache(MEMORY)]
    fn weighted(values: &[f32], weights: Vec<f64>, offset: u32, counts: &Vec<i64>) -> f64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let total: f64 = values
            .iter()
            .zip(&weights)
            .map(|(&v, &w)| f64::from(v) * w)
            .filter(|x| !x.is_nan())
            .sum();
        total + f64::from(offset) + counts.iter().sum::<i64>() as f64
    }

    let mut values: Vec<f32> = (0..5_000_u16).map(f32::from).collect();
    values[4_321] = f32::NAN;
    let weights: Vec<f64> = (0..5_000_u16).map(|i| f64::from(i) / 7.0).collect();
    let counts: Vec<i64> = vec![-3, 5, 8];
    let first = weighted(&values, weights.clone(), 9, &counts);
    let handle = weighted::cache();
    assert!(handle.check_call_in_cache(&values, weights.clone(), 9, &counts));

    // Another NaN payload is the same key; a sign-flipped zero is not.
    let mut payload = values.clone();
    payload[4_321] = f32::from_bits(0x7fc0_1234);
    assert_eq!(weighted(&payload, weights.clone(), 9, &counts), first);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let mut signed = values.clone();
    signed[0] = -0.0;
    assert!(!handle.check_call_in_cache(&signed, weights.clone(), 9, &counts));
    weighted(&signed, weights, 9, &counts);
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
}

#[test]
fn ignored_parameters_do_not_change_the_key() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cache(MEMORY, ignore = [label])]
    fn scaled(values: Vec<i64>, factor: i64, label: String) -> Vec<i64> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let _ = label;
        values.into_iter().map(|v| v * factor).collect()
    }

    assert_eq!(scaled(vec![1, 2], 3, "first".into()), [3, 6]);
    assert_eq!(scaled(vec![1, 2], 3, "second".into()), [3, 6]);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    scaled(vec![1, 2], 4, "first".into());
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
}

#[test]
fn the_handle_checks_counts_shelves_and_clears() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));

    #[cache(MEMORY)]
    fn cube(x: u32) -> u64 {
        u64::from(x).pow(3)
    }

    let handle = cube::cache();
    assert!(handle.is_empty().unwrap());
    assert!(!handle.check_call_in_cache(3));
    cube(3);
    cube(4);
    assert!(handle.check_call_in_cache(3));
    assert_eq!(handle.len().unwrap(), 2);

    let shelved = handle.call_and_shelve(5).unwrap();
    assert_eq!(shelved.get().unwrap(), 125);
    assert_eq!(handle.len().unwrap(), 3);
    shelved.clear().unwrap();
    assert!(shelved.get().is_err(), "a cleared shelved result is gone");

    assert_eq!(handle.clear().unwrap(), 2);
    assert!(handle.is_empty().unwrap());
    assert!(!handle.check_call_in_cache(3));
}

#[test]
fn a_new_code_version_has_its_own_entries() {
    // Two versions used in turn, as by two builds sharing a cache on purpose.
    let memory = Memory::new(fresh_dir()).keep_versions(true);
    // Same module and name, different code hash: what editing the body produces.
    assert_eq!(memory.call(&MODEL_OLD, &10_u8, || 100_u32), 100);
    assert_eq!(
        memory.call(&MODEL_NEW, &10_u8, || 200_u32),
        200,
        "edited code recomputes"
    );
    assert_eq!(memory.call(&MODEL_OLD, &10_u8, || 0_u32), 100);
    assert_eq!(
        memory.function(&MODEL_NEW).len().unwrap(),
        1,
        "len counts the current version"
    );
    assert_eq!(
        memory.function(&MODEL_NEW).clear().unwrap(),
        2,
        "clear removes every version"
    );
}

#[test]
fn nan_arguments_share_an_entry_and_signed_zeros_do_not() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cache(MEMORY)]
    fn reciprocal(x: f64) -> f64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        1.0 / x
    }

    assert!(reciprocal(f64::NAN).is_nan());
    assert!(reciprocal(f64::from_bits(f64::NAN.to_bits() | 7)).is_nan());
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(reciprocal(0.0), f64::INFINITY);
    assert_eq!(reciprocal(-0.0), f64::NEG_INFINITY);
    assert_eq!(RUNS.load(Ordering::SeqCst), 3);
}

#[test]
fn threads_on_one_key_agree_and_leave_one_entry() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));

    #[cache(MEMORY)]
    fn slow_sum(n: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(5));
        (0..=n).sum()
    }

    let results: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8).map(|_| scope.spawn(|| slow_sum(1000))).collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(results.iter().all(|&r| r == 500_500));
    assert_eq!(slow_sum::cache().len().unwrap(), 1);
    assert_eq!(slow_sum(1000), 500_500);
}

#[test]
fn reduce_size_evicts_the_least_recently_used() {
    for memory in [Memory::new(fresh_dir()), Memory::open(fresh_dir()).unwrap()] {
        for i in 0..6_u8 {
            memory.call(&EVICT, &i, || vec![i; 1000]);
            std::thread::sleep(Duration::from_millis(20));
        }
        // Use entry 0 again: it becomes the most recent.
        let again: Vec<u8> = memory.call(&EVICT, &0_u8, || unreachable!("0 is stored"));
        assert_eq!(again, vec![0; 1000]);
        assert_eq!(memory.reduce_size(None, Some(3), None).unwrap(), 3);
        assert!(
            memory.check_call_in_cache(&EVICT, &0_u8),
            "recently used survives"
        );
        assert!(memory.check_call_in_cache(&EVICT, &5_u8));
        assert!(
            !memory.check_call_in_cache(&EVICT, &1_u8),
            "least recently used goes"
        );

        let one_entry = memory.stats().unwrap().bytes / 3;
        assert_eq!(memory.reduce_size(Some(one_entry), None, None).unwrap(), 2);
        assert_eq!(memory.stats().unwrap().entries, 1);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            memory
                .reduce_size(None, None, Some(Duration::from_millis(10)))
                .unwrap(),
            1
        );
        assert_eq!(memory.stats().unwrap().entries, 0);
    }
}

#[test]
#[cfg(feature = "sled")]
fn a_corrupt_sled_entry_is_recomputed_rewritten_and_reported() {
    capture_warnings();
    let store = SledStore::open(fresh_dir()).unwrap();
    let memory = Memory::with_store(store.clone());
    memory.call(&SLED_VICTIM, &1_u8, || vec![1.5_f64; 100]);
    let key = SLED_VICTIM.key(&1_u8).unwrap();
    let mut entry = parmemo_memory::Store::get(&*store, &key).unwrap().unwrap();
    // The last byte lies in the stored vector itself (the padding before it carries no
    // value, and is not checked).
    let last = entry.len() - 1;
    entry[last] ^= 0xff;
    parmemo_memory::Store::put(&*store, &key, &entry).unwrap();

    let runs = AtomicUsize::new(0);
    let again = memory.call(&SLED_VICTIM, &1_u8, || {
        runs.fetch_add(1, Ordering::SeqCst);
        vec![1.5_f64; 100]
    });
    assert_eq!(again, vec![1.5; 100]);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the damaged entry is a miss"
    );
    assert!(
        memory.check_call_in_cache(&SLED_VICTIM, &1_u8),
        "and it was rewritten"
    );
    let warned = warnings_containing(&key.to_hex());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("checksum mismatch"), "{warned:?}");
}

#[test]
fn damaged_entry_files_are_recomputed_and_rewritten() {
    capture_warnings();
    let dir = fresh_dir();
    let store = Arc::new(DirStore::open(&dir).unwrap());
    let memory = Memory::with_store(store.clone());
    // A small entry is not synced before its rename (`Memory::durable(false)`): a power
    // loss can leave it empty, cut, or with blocks of zeros where the kernel had not
    // written its data back. Each of those must read as a miss.
    let damages = [
        (1_u8, "flip"),
        (2, "truncate"),
        (3, "empty"),
        (4, "all zeros"),
        (5, "payload zeros"),
    ];
    for (argument, damage) in damages {
        memory.call(&FILE_VICTIM, &argument, || format!("result {argument}"));
        let path = store.path_of(&FILE_VICTIM.key(&argument).unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        match damage {
            "flip" => {
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
            }
            "truncate" => bytes.truncate(bytes.len() - 4),
            "all zeros" => bytes.fill(0),
            "payload zeros" => bytes[48..].fill(0),
            _ => bytes.clear(),
        }
        std::fs::write(&path, &bytes).unwrap();
        let runs = AtomicUsize::new(0);
        let value = memory.call(&FILE_VICTIM, &argument, || {
            runs.fetch_add(1, Ordering::SeqCst);
            format!("result {argument}")
        });
        assert_eq!(value, format!("result {argument}"), "{damage}");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{damage}: recomputed");
        assert!(
            memory.check_call_in_cache(&FILE_VICTIM, &argument),
            "{damage}: rewritten"
        );
        let key = FILE_VICTIM.key(&argument).unwrap().to_hex();
        assert_eq!(
            warnings_containing(&key).len(),
            1,
            "{damage}: one warning naming {key}"
        );
    }
}

#[test]
fn an_unusable_store_warns_once_and_runs_uncached() {
    capture_warnings();
    let blocker = fresh_dir().join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let memory = Memory::new(blocker.join("cache"));
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        let value = memory.call(&UNCACHED, &1_u8, || {
            runs.fetch_add(1, Ordering::SeqCst);
            42_u8
        });
        assert_eq!(value, 42);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let warned = warnings_containing("caching is off");
    assert_eq!(
        warned.iter().filter(|w| w.contains("a-file")).count(),
        1,
        "{warned:?}"
    );
    assert!(
        memory.stats().is_err(),
        "operations about the cache itself report the error"
    );
}

static EDITED_OLD: FunctionId = FunctionId::new("tests::caching", "edited", 1);
static EDITED_NEW: FunctionId = FunctionId::new("tests::caching", "edited", 2);
static NEIGHBOUR: FunctionId = FunctionId::new("tests::caching", "neighbour", 1);

#[test]
fn a_changed_function_clears_its_older_versions_once() {
    capture_warnings();
    let dir = fresh_dir();
    let before = Memory::new(&dir);
    for x in 0..3_u8 {
        before.call(&EDITED_OLD, &x, || u32::from(x));
    }
    before.call(&NEIGHBOUR, &0_u8, || 7_u32);
    // The next run, with the function's body edited: its first store clears the rest.
    let after = Memory::new(&dir);
    after.call(&EDITED_NEW, &0_u8, || 100_u32);
    assert_eq!(
        after.function(&EDITED_OLD).len().unwrap(),
        0,
        "old versions gone"
    );
    assert_eq!(after.function(&EDITED_NEW).len().unwrap(), 1);
    assert!(
        after.check_call_in_cache(&NEIGHBOUR, &0_u8),
        "another function untouched"
    );
    let said = warnings_containing("edited changed: removed 3 entries");
    assert_eq!(said.len(), 1, "one line: {said:?}");
    // Later stores of the new version never touch its own entries.
    after.call(&EDITED_NEW, &1_u8, || 101_u32);
    Memory::new(&dir).call(&EDITED_NEW, &2_u8, || 102_u32);
    assert_eq!(after.function(&EDITED_NEW).len().unwrap(), 3);
    assert_eq!(warnings_containing("edited changed").len(), 1, "said once");
}

#[test]
fn a_function_marked_keep_versions_keeps_its_older_entries() {
    static KEPT_OLD: FunctionId = FunctionId::new("tests::caching", "kept", 1);
    static KEPT_NEW: FunctionId = FunctionId::new("tests::caching", "kept", 2).keeping_versions();
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    #[cache(MEMORY, keep_versions)]
    fn marked(x: u8) -> u8 {
        x
    }
    assert!(marked::cache().id().keeps_versions(), "the macro sets it");
    assert_eq!(marked(3), 3);
    let dir = fresh_dir();
    let memory = Memory::new(&dir);
    memory.call(&KEPT_OLD, &1_u8, || 1_u32);
    memory.call(&KEPT_NEW, &1_u8, || 2_u32);
    assert!(memory.check_call_in_cache(&KEPT_OLD, &1_u8), "kept");
    assert!(memory.check_call_in_cache(&KEPT_NEW, &1_u8));
}

#[test]
fn each_function_lives_in_a_folder_named_after_it() {
    static DIR: LazyLock<std::path::PathBuf> = LazyLock::new(fresh_dir);
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(&*DIR));
    #[cache(MEMORY)]
    fn robust_center(x: u32) -> u32 {
        x / 2
    }
    for x in 0..3 {
        robust_center(x);
    }
    let id = robust_center::cache().id();
    let digest = &id.key(&(0_u32,)).unwrap().to_hex()[..16];
    // `<crate>/<module>/<enclosing function>/<function>-<digest>`, as the type path says.
    let mut expected = DIR.clone();
    expected.extend(id.qualified_name().split("::"));
    let expected = expected.with_file_name(format!("robust_center-{digest}"));
    assert!(expected.is_dir(), "{expected:?} holds the entries");
    let files = walk_files(&expected);
    assert_eq!(
        files
            .iter()
            .filter(|f| std::path::Path::new(f)
                .extension()
                .is_some_and(|e| e == "pmc"))
            .count(),
        3
    );
}

#[test]
fn a_cache_written_without_names_is_moved_into_them_and_still_hits() {
    let dir = fresh_dir();
    // What the store kept before its folders had names: `<digest>/<shard>/<key>.pmc`.
    let key = FILE_VICTIM.key(&7_u8).unwrap();
    let unnamed = DirStore::open(&dir).unwrap();
    Memory::with_store(Arc::new(DirStore::open(dir.join("scratch")).unwrap())).call(
        &FILE_VICTIM,
        &7_u8,
        || "seven".to_owned(),
    );
    let written =
        std::fs::read(DirStore::open(dir.join("scratch")).unwrap().path_of(&key)).unwrap();
    let old_place = dir
        .join(key.to_hex().get(..16).unwrap())
        .join(key.to_hex().get(32..34).unwrap());
    std::fs::create_dir_all(&old_place).unwrap();
    std::fs::write(
        old_place.join(format!("{}.pmc", &key.to_hex()[16..])),
        &written,
    )
    .unwrap();
    assert_eq!(
        unnamed.path_of(&key),
        old_place.join(format!("{}.pmc", &key.to_hex()[16..]))
    );
    let memory = Memory::new(&dir);
    let value = memory.call(&FILE_VICTIM, &7_u8, || -> String { unreachable!("a hit") });
    assert_eq!(value, "seven");
    assert!(!dir.join(key.to_hex().get(..16).unwrap()).exists(), "moved");
    assert_eq!(memory.function(&FILE_VICTIM).len().unwrap(), 1);
}

fn walk_files(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        if entry.file_type().unwrap().is_dir() {
            files.extend(walk_files(&entry.path()));
        } else {
            files.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    files
}

#[test]
fn the_handle_takes_borrowed_arguments_and_clones_only_to_compute() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cache(MEMORY, ignore = [note])]
    fn robust_center(sample: Vec<f32>, label: String, trim: usize, note: &str) -> f64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let _ = note;
        let kept = &sample[trim..sample.len() - trim];
        kept.iter().map(|&x| f64::from(x)).sum::<f64>() / kept.len() as f64 + label.len() as f64
    }

    let sample: Vec<f32> = (0..10_000_u16).map(f32::from).collect();
    let label = String::from("run-1");
    let handle = robust_center::cache();
    // Asking takes borrows: a slice for the Vec, a &str for the String, no clone.
    assert!(!handle.check_call_in_cache(&sample[..], "run-1", 10, "asking"));
    let computed = robust_center(sample.clone(), label.clone(), 10, "first");
    assert!(handle.check_call_in_cache(&sample[..], "run-1", 10, "asking"));
    assert!(handle.check_call_in_cache(&sample, &label, 10_usize, "asking"));
    assert!(handle.check_call_in_cache(sample.clone(), label.clone(), 10, "owned"));
    assert!(!handle.check_call_in_cache(&sample[..], "run-2", 10, "asking"));
    // Shelving a stored call with borrows loads it; a new one computes from clones.
    let shelved = handle
        .call_and_shelve(&sample, "run-1", 10, "shelve")
        .unwrap();
    assert_eq!(shelved.get().unwrap(), computed);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let other = handle
        .call_and_shelve(&sample[..100], "run-1", 10, "shelve")
        .unwrap();
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(
        robust_center(sample[..100].to_vec(), label, 10, "x"),
        other.get().unwrap()
    );
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        2,
        "the shelved call's entry answered"
    );
    // A forced refresh with borrows recomputes.
    assert_eq!(handle.call(&sample, "run-1", 10, "refresh"), computed);
    assert_eq!(RUNS.load(Ordering::SeqCst), 3);
}

#[test]
fn a_borrowed_parameter_takes_a_reference_to_the_owned_buffer() {
    static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
    #[cache(MEMORY)]
    fn total(values: &[u64], name: &str) -> u64 {
        values.iter().sum::<u64>() + name.len() as u64
    }
    let values = vec![1_u64, 2, 3];
    let name = String::from("ab");
    assert_eq!(total(&values, &name), 8);
    let handle = total::cache();
    assert!(handle.check_call_in_cache(&values, &name));
    assert!(handle.check_call_in_cache(&values[..], "ab"));
    assert!(!handle.check_call_in_cache(&values[1..], "ab"));
}
