//! The cache on the paths a real program takes, where it once missed silently or returned
//! a wrong value: unordered arguments, failures, a changed result type, local functions
//! of one name, a store that cannot be written, a deleted directory, header-only checks,
//! results the codec cannot hold, a map as a result.
//!
//! Children are this test binary again, run with `--ignored` on `child_entry` in the
//! role named by `PARMEMO_TEST_ROLE`.

mod common;

use common::fresh_dir;
use parmemo_macros::cache;
use parmemo_memory::{EntryInfo, FunctionId, Key, Memory, MemoryError, Store};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

fn dir_from_env() -> PathBuf {
    std::env::var_os("PARMEMO_TEST_DIR")
        .map_or_else(|| PathBuf::from("target/unused"), PathBuf::from)
}

static FROM_ENV: LazyLock<Memory> = LazyLock::new(|| Memory::new(dir_from_env()));

/// A configuration as users write them: names to weights.
fn weights() -> Vec<(String, u32)> {
    (0..64).map(|i| (format!("gene-{i}"), i * 3)).collect()
}

#[cache(FROM_ENV)]
fn total_weight(weights: &HashMap<String, u32>, tags: &HashSet<String>) -> u64 {
    weights.values().map(|&w| u64::from(w)).sum::<u64>() + tags.len() as u64
}

fn run_child(role: &str, dir: &std::path::Path) -> Output {
    common::child(role, dir)
        .output()
        .expect("the test binary starts again")
}

#[test]
#[ignore = "entry point of the child processes the other tests start"]
fn child_entry() {
    match std::env::var("PARMEMO_TEST_ROLE").as_deref() {
        Ok("map_key") => {
            // Built in this process, with this process's random hash seeds.
            let weights: HashMap<String, u32> = weights().into_iter().rev().collect();
            let tags: HashSet<String> = ["a", "b", "c"].map(String::from).into();
            println!(
                "cached {}",
                total_weight::cache().check_call_in_cache(&weights, &tags)
            );
        }
        Ok("read_only_hit") => {
            let memory = Memory::new(dir_from_env());
            let hit: u8 = memory.call(&READ_ONLY, &1_u8, || 0);
            println!("got {hit}");
            // Misses cannot be stored, in whichever of the 256 shards: one warning.
            for x in 2..40_u8 {
                assert_eq!(memory.call(&READ_ONLY, &x, || x), x);
            }
        }
        Ok("unwritable") => {
            // No logger installed: warnings must reach stderr, once per cause.
            static BLOCKED: LazyLock<Memory> = LazyLock::new(|| Memory::new(dir_from_env()));
            static F: FunctionId = FunctionId::new("tests::trust", "blocked", 1);
            for i in 0..50_u32 {
                assert_eq!(BLOCKED.call(&F, &i, || i + 1), i + 1);
            }
            println!("computed all");
        }
        _ => {}
    }
}

#[test]
fn a_hashmap_argument_hits_in_every_process() {
    let dir = fresh_dir();
    std::env::set_var("PARMEMO_TEST_DIR", &dir);
    let weights_map: HashMap<String, u32> = weights().into_iter().collect();
    let tags: HashSet<String> = ["c", "b", "a"].map(String::from).into();
    let expected: u64 = weights().iter().map(|(_, w)| u64::from(*w)).sum::<u64>() + 3;
    assert_eq!(total_weight(&weights_map, &tags), expected);
    for child in 0..4 {
        let output = run_child("map_key", &dir);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("cached true"),
            "process {child} built the same content in its own order and missed: {stdout}"
        );
    }
}

/// A `load(path)` as users write them: it fails until the file exists.
static LOADS: AtomicUsize = AtomicUsize::new(0);
static FALLIBLE: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));

#[cache(FALLIBLE)]
fn load(path: &str) -> Result<String, std::io::Error> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    std::fs::read_to_string(path)
}

#[cache(FALLIBLE)]
fn load_alias(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

static STICKY_LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache(FALLIBLE, errors = true)]
fn load_keeping_errors(path: &str) -> Result<String, String> {
    STICKY_LOADS.fetch_add(1, Ordering::SeqCst);
    std::fs::read_to_string(path).map_err(|err| err.to_string())
}

#[test]
fn a_failure_is_not_cached_unless_asked() {
    let file = fresh_dir().join("input.txt");
    let path = file.to_str().unwrap();
    assert!(load(path).is_err(), "the file is missing");
    assert!(!load::cache().check_call_in_cache(path));
    assert!(load_alias(path).is_err());
    assert!(!load_alias::cache().check_call_in_cache(path));
    std::fs::write(&file, "data").unwrap();
    assert_eq!(load(path).unwrap(), "data", "computed again once fixed");
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(load(path).unwrap(), "data", "the Ok result is stored");
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    match load::cache().call_and_shelve(path) {
        Ok(Ok(shelved)) => assert_eq!(shelved.get().unwrap(), "data"),
        other => panic!("expected the stored result, got {other:?}"),
    }

    // errors = true: joblib-incompatible, but what some want (an expensive failure).
    assert!(load_keeping_errors(path).is_err());
    std::fs::write(&file, "data").unwrap();
    assert!(
        load_keeping_errors(path).is_err(),
        "the stored Err is replayed"
    );
    assert_eq!(STICKY_LOADS.load(Ordering::SeqCst), 1);
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct MeanSd {
    mean: f64,
    sd: f64,
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct SdMean {
    sd: f64,
    mean: f64,
}

#[test]
fn an_entry_never_decodes_into_a_changed_type() {
    // One function identity, as after `type Out = u32` became `i32` with its tokens
    // unchanged: the old entry must be a miss, never 15 read back as something else.
    static F: FunctionId = FunctionId::new("tests::trust", "retyped", 1);
    static G: FunctionId = FunctionId::new("tests::trust", "summary", 1);
    common::capture_warnings();
    let memory = Memory::new(fresh_dir());
    assert_eq!(memory.call(&F, &1_u8, || u32::MAX - 7), u32::MAX - 7);
    let computed = AtomicUsize::new(0);
    let again: i32 = memory.call(&F, &1_u8, || {
        computed.fetch_add(1, Ordering::SeqCst);
        -8
    });
    assert_eq!(again, -8);
    assert_eq!(computed.load(Ordering::SeqCst), 1, "a miss, recomputed");
    let again: i32 = memory.call(&F, &1_u8, || unreachable!("rewritten as i32"));
    assert_eq!(again, -8);
    let warned = common::warnings_containing("tests::trust::retyped");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("another type"), "{warned:?}");

    // A struct whose fields were reordered (same field types, a binary codec would swap them).
    memory.call(&G, &2_u8, || MeanSd { mean: 1.0, sd: 2.0 });
    let reordered: SdMean = memory.call(&G, &2_u8, || SdMean { sd: 2.0, mean: 1.0 });
    assert_eq!(reordered, SdMean { sd: 2.0, mean: 1.0 });
}

static LOCAL: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));

fn twenty() -> u32 {
    const FACTOR: u32 = 2;
    #[cache(LOCAL)]
    fn scaled(x: u32) -> u32 {
        x * FACTOR
    }
    scaled(10)
}

fn thirty() -> u32 {
    const FACTOR: u32 = 3;
    #[cache(LOCAL)]
    fn scaled(x: u32) -> u32 {
        x * FACTOR
    }
    scaled(10)
}

#[test]
fn local_functions_of_one_name_and_body_do_not_share_entries() {
    for _ in 0..2 {
        assert_eq!(twenty(), 20);
        assert_eq!(thirty(), 30);
    }
}

#[test]
fn an_unwritable_cache_warns_once_on_stderr_and_computes() {
    let dir = fresh_dir();
    let blocked = dir.join("cache");
    std::fs::write(&blocked, "a file where the cache directory should be").unwrap();
    let output = run_child("unwritable", &blocked);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("computed all"), "{stdout}\n{stderr}");
    let warnings = stderr.matches("[Memory] warning").count();
    assert_eq!(
        warnings, 1,
        "one warning, on stderr, without a logger:\n{stderr}"
    );
    assert!(stderr.contains("caching is off"), "{stderr}");
}

#[test]
fn a_deleted_cache_directory_is_created_again() {
    static F: FunctionId = FunctionId::new("tests::trust", "deleted", 1);
    let dir = fresh_dir().join("cache");
    let memory = Memory::new(&dir);
    memory.call(&F, &1_u8, || 1_u8);
    std::fs::remove_dir_all(&dir).unwrap();
    memory.call(&F, &2_u8, || 2_u8);
    assert!(
        memory.check_call_in_cache(&F, &2_u8),
        "stored in the directory created again"
    );
    let again: u8 = memory.call(&F, &2_u8, || unreachable!("stored"));
    assert_eq!(again, 2);
}

static READ_ONLY: FunctionId = FunctionId::new("tests::trust", "read_only", 1);

#[test]
fn a_read_only_cache_serves_its_hits() {
    use std::os::unix::fs::PermissionsExt;
    // Readable by everyone, writable by no one but its owner: another user's view of a
    // shared cache, which is read-only for them.
    // Not under TMPDIR, which may be private to this user (CI makes it 0700): another
    // user must be able to reach the cache.
    // A new directory (made 0755 below), never one named by the process id, which a
    // killed run can leave behind.
    let scratch = tempfile::Builder::new()
        .prefix("pm-read-only")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let dir = scratch.path();
    let cache = dir.join("cache");
    Memory::new(&cache).call(&READ_ONLY, &1_u8, || 11_u8);
    for entry in walk(dir) {
        let mode = if entry.is_dir() { 0o755 } else { 0o444 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    // `/proc/self` belongs to the process's effective user.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    // Another user can reach the cache only if every directory above it lets them pass.
    let reachable = dir.ancestors().skip(1).all(|ancestor| {
        std::fs::metadata(ancestor).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0)
    });
    if root && setpriv.exists() && reachable {
        // Root ignores permission bits: ask as another user, for whom they hold.
        let output = Command::new(setpriv)
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--ignored", "--nocapture"])
            .env("PARMEMO_TEST_ROLE", "read_only_hit")
            .env("PARMEMO_TEST_DIR", &cache)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stdout.contains("got 11"), "{stdout}\n{stderr}");
        assert_eq!(
            stderr.matches("[Memory] warning").count(),
            1,
            "one warning for a cache that refuses writes:\n{stderr}"
        );
    } else {
        let hit: u8 = Memory::new(&cache).call(&READ_ONLY, &1_u8, || 0);
        assert_eq!(hit, 11);
    }
    for entry in walk(dir) {
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    scratch.close().unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    let mut at = 0;
    while at < found.len() {
        if found[at].is_dir() {
            let children: Vec<PathBuf> = std::fs::read_dir(&found[at])
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect();
            found.extend(children);
        }
        at += 1;
    }
    found
}

/// A store that counts what it is asked, around the default store.
#[derive(Debug)]
struct Counting {
    inner: parmemo_memory::DirStore,
    gets: AtomicUsize,
}

impl Store for Counting {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, MemoryError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key)
    }
    fn head(&self, key: &Key, bytes: usize) -> Result<Option<(Vec<u8>, u64)>, MemoryError> {
        self.inner.head(key, bytes)
    }
    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), MemoryError> {
        self.inner.put(key, entry)
    }
    fn remove(&self, key: &Key) -> Result<(), MemoryError> {
        self.inner.remove(key)
    }
    fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        self.inner.remove_prefix(prefix)
    }
    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        self.inner.count_prefix(prefix)
    }
    fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError> {
        self.inner.entries()
    }
    fn clear(&self) -> Result<(), MemoryError> {
        self.inner.clear()
    }
}

#[test]
fn checking_the_cache_reads_the_header_alone_and_is_not_a_use() {
    static F: FunctionId = FunctionId::new("tests::trust", "big", 1).returning::<Vec<f64>>();
    static G: FunctionId = FunctionId::new("tests::trust", "big", 1).returning::<Vec<f32>>();
    let store = Arc::new(Counting {
        inner: parmemo_memory::DirStore::open(fresh_dir()).unwrap(),
        gets: AtomicUsize::new(0),
    });
    let memory = Memory::with_store(store.clone());
    memory.call(&F, &1_u8, || vec![0.5_f64; 1_000_000]);
    let path = store.inner.path_of(&F.key(&1_u8).unwrap());
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let gets = store.gets.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert!(memory.check_call_in_cache(&F, &1_u8));
    }
    assert_eq!(
        store.gets.load(Ordering::SeqCst),
        gets,
        "no payload was read"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before,
        "a check is not a use"
    );
    // A function recorded with another result type does not count the entry as its own.
    assert!(!memory.check_call_in_cache(&G, &1_u8));
}

static EXPIRING: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
static QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache(EXPIRING, expires_after = std::time::Duration::from_secs(2))]
fn quote(symbol: &str) -> String {
    QUOTE_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{symbol}: {}", QUOTE_RUNS.load(Ordering::SeqCst))
}

/// joblib's example of a validation callback: keep only results that took a while.
fn slow_enough(meta: &parmemo_memory::EntryMeta) -> bool {
    meta.compute_time > std::time::Duration::from_millis(200)
}

static VALIDATED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache(EXPIRING, validate = slow_enough)]
fn maybe_slow(ms: u64) -> u64 {
    VALIDATED_RUNS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

#[test]
fn expired_or_refused_results_are_computed_again() {
    let first = quote("ACME");
    assert_eq!(quote("ACME"), first, "fresh: a hit");
    assert!(quote::cache().check_call_in_cache("ACME"));
    std::thread::sleep(std::time::Duration::from_millis(2_200));
    assert!(!quote::cache().check_call_in_cache("ACME"), "expired");
    assert_ne!(quote("ACME"), first, "expired: computed again");
    assert_eq!(QUOTE_RUNS.load(Ordering::SeqCst), 2);

    maybe_slow(0);
    maybe_slow(0);
    assert_eq!(
        VALIDATED_RUNS.load(Ordering::SeqCst),
        2,
        "a fast result is not reused"
    );
    maybe_slow(300);
    maybe_slow(300);
    assert_eq!(VALIDATED_RUNS.load(Ordering::SeqCst), 3, "a slow one is");
}

static REFRESHED: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()));
static VERSION: AtomicUsize = AtomicUsize::new(0);

#[cache(REFRESHED)]
fn snapshot(name: &str) -> String {
    format!("{name} v{}", VERSION.fetch_add(1, Ordering::SeqCst))
}

#[test]
fn a_forced_call_recomputes_and_overwrites() {
    assert_eq!(snapshot("db"), "db v0");
    assert_eq!(snapshot("db"), "db v0");
    assert_eq!(snapshot::cache().call("db"), "db v1");
    assert_eq!(
        snapshot("db"),
        "db v1",
        "the refreshed result is what is stored"
    );
}

static OFF: LazyLock<Memory> = LazyLock::new(Memory::disabled);
static OFF_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache(OFF)]
fn uncached(x: u32) -> u32 {
    OFF_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[test]
fn a_disabled_memory_computes_every_call_and_writes_nothing() {
    assert_eq!(uncached(1), 2);
    assert_eq!(uncached(1), 2);
    assert_eq!(OFF_RUNS.load(Ordering::SeqCst), 2);
    assert!(!uncached::cache().check_call_in_cache(1));
    assert_eq!(uncached::cache().len().unwrap(), 0);
    assert_eq!(OFF.stats().unwrap().entries, 0);
    assert_eq!(OFF.location(), None);
}

#[cfg(feature = "zstd")]
static COMPRESSED: LazyLock<Memory> = LazyLock::new(|| Memory::new(fresh_dir()).compress(3));

#[cfg(feature = "zstd")]
#[cache(COMPRESSED)]
fn counts(n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| i % 10).collect()
}

#[test]
#[cfg(feature = "zstd")]
fn compressed_results_round_trip() {
    let first = counts(200_000);
    assert_eq!(counts(200_000), first);
    let stats = COMPRESSED.stats().unwrap();
    assert_eq!(stats.hits, 1);
    assert!(
        stats.bytes < 200_000,
        "1.6 MB of counts stored in {} bytes",
        stats.bytes
    );
}

/// Writes less than it reads back: `note` is skipped when `None`, which a binary codec
/// cannot tell from its absence.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Skipping {
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    count: u32,
}

/// Needs a self-describing format: a flattened map.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Flattened {
    id: u32,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, u32>,
}

#[test]
fn a_result_the_codec_cannot_hold_is_computed_again_and_the_warning_says_why() {
    static SKIPPING: FunctionId = FunctionId::new("tests::trust", "skipping", 1);
    static FLATTENED: FunctionId = FunctionId::new("tests::trust", "flattened", 1);
    common::capture_warnings();
    let memory = Memory::new(fresh_dir());
    let computed = AtomicUsize::new(0);
    for _ in 0..3 {
        let value = memory.call(&SKIPPING, &1_u8, || {
            computed.fetch_add(1, Ordering::SeqCst);
            Skipping {
                note: None,
                count: 4,
            }
        });
        assert_eq!(
            value,
            Skipping {
                note: None,
                count: 4
            }
        );
    }
    assert_eq!(
        computed.load(Ordering::SeqCst),
        3,
        "never a hit, never a wrong value"
    );
    let warned = common::warnings_containing("tests::trust::skipping");
    assert!(!warned.is_empty());
    assert!(warned[0].contains("skip_serializing_if"), "{warned:?}");

    let rest: std::collections::BTreeMap<String, u32> = [("a".to_owned(), 1)].into();
    for _ in 0..2 {
        let value = memory.call(&FLATTENED, &1_u8, || Flattened {
            id: 7,
            rest: rest.clone(),
        });
        assert_eq!(value.id, 7);
    }
    let warned = common::warnings_containing("tests::trust::flattened");
    assert!(!warned.is_empty());
    assert!(warned[0].contains("#[serde(flatten)]"), "{warned:?}");
}

#[test]
fn a_hashmap_result_comes_back_whole_from_another_memory_on_the_store() {
    static F: FunctionId = FunctionId::new("tests::trust", "hashmap_result", 1);
    let dir = fresh_dir();
    let table: HashMap<String, Vec<f64>> = (0_u8..50)
        .map(|i| (format!("key {i}"), vec![f64::from(i); usize::from(i) % 7]))
        .collect();
    let stored = Memory::new(&dir).call(&F, &3_u8, || table.clone());
    assert_eq!(stored, table);
    // A new `Memory` reads the entry from its file: no value kept in this process helps.
    let read: HashMap<String, Vec<f64>> =
        Memory::new(&dir).call(&F, &3_u8, || unreachable!("a hit, decoded from the file"));
    assert_eq!(read, table);
}
