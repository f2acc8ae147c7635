//! `parmemo-memory`: hits, misses and scale, on both stores, in one run.
//!
//! `cargo bench -p parmemo-benches --bench memory`; the latest numbers are in
//! docs/benchmarks.md. joblib's figures on this kind of machine, for comparison: hit
//! with a 40 KB argument 296 us, with an 8 MB argument 11.7 ms, miss overhead with a
//! 40 KB argument 667 us.

use criterion::{criterion_group, BatchSize, Criterion};
use parmemo::memory::{FunctionId, Memory, Store};
use parmemo::Shared;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

static SMALL: FunctionId = FunctionId::new("bench", "small", 1);
static SAMPLE: FunctionId = FunctionId::new("bench", "sample", 1);
static SCALE: FunctionId = FunctionId::new("bench", "scale", 1);

/// The default store (one file per entry, `Memory::new`) and sled (`Memory::sled`).
fn stores() -> Vec<(&'static str, Memory, tempfile::TempDir)> {
    let files_dir = tempfile::tempdir().expect("a temporary directory");
    let sled_dir = tempfile::tempdir().expect("a temporary directory");
    vec![
        (
            "files",
            Memory::open(files_dir.path()).expect("a fresh directory store"),
            files_dir,
        ),
        (
            "sled",
            Memory::open_sled(sled_dir.path()).expect("a fresh sled store"),
            sled_dir,
        ),
    ]
}

fn floats(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.618).fract()).collect()
}

static BIG_ARRAY: FunctionId = FunctionId::new("benches::memory", "big_array", 1);
static BIG_VEC: FunctionId = FunctionId::new("benches::memory", "big_vec", 1);
static BIG_PAIR: FunctionId = FunctionId::new("benches::memory", "big_pair", 1);

/// A cached 200 MB array hit by a new `Memory` each time (as a new process would open
/// it): as a `Shared` array (the file mapped) and as a plain `Vec<f64>` (read, decoded).
fn big_hits(c: &mut Criterion) {
    const N: usize = 25 << 20; // 200 MiB of f64
    let dir = tempfile::tempdir().expect("a temporary directory");
    let make = || (0..N).map(|i| i as f64).collect::<Vec<f64>>();
    Memory::new(dir.path()).call(&BIG_ARRAY, &N, || Shared::<[f64]>::from(make()));
    Memory::new(dir.path()).call(&BIG_VEC, &N, make);
    Memory::new(dir.path()).call(&BIG_PAIR, &N, || (make(), N));
    let mut group = c.benchmark_group("memory_hit_200MB");
    group.sample_size(10);
    group.bench_function("shared_array_mapped", |b| {
        b.iter(|| {
            let hit: Shared<[f64]> =
                Memory::new(dir.path()).call(&BIG_ARRAY, &N, || unreachable!());
            black_box(hit[N - 1])
        });
    });
    group.bench_function("shared_array_mapped_and_verified", |b| {
        b.iter(|| {
            let memory = Memory::new(dir.path()).verify_mapped_arrays(true);
            let hit: Shared<[f64]> = memory.call(&BIG_ARRAY, &N, || unreachable!());
            black_box(hit[N - 1])
        });
    });
    group.bench_function("plain_vec_read", |b| {
        b.iter(|| {
            let hit: Vec<f64> = Memory::new(dir.path()).call(&BIG_VEC, &N, || unreachable!());
            black_box(hit[N - 1])
        });
    });
    // The same hit as a new process's first call (a child of this bench, timed from its
    // `Memory::new` to the vector in hand): what a script that runs once pays.
    group.bench_function("plain_vec_read_new_process", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| hit_in_a_new_process(dir.path())).sum());
    });
    // The vector inside a tuple: encoded with the result, its numbers in one step.
    group.bench_function("vec_in_tuple_read", |b| {
        b.iter(|| {
            let hit: (Vec<f64>, usize) =
                Memory::new(dir.path()).call(&BIG_PAIR, &N, || unreachable!());
            black_box(hit.0[N - 1])
        });
    });
    group.finish();
}

/// Set for a child of `plain_vec_read_new_process`: the directory to hit.
const NEW_PROCESS_HIT: &str = "PARMEMO_BENCH_NEW_PROCESS_HIT";

/// Runs this bench as a new process that hits the 200 MB vector once, and returns the
/// time it measured.
fn hit_in_a_new_process(dir: &std::path::Path) -> std::time::Duration {
    let child = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env(NEW_PROCESS_HIT, dir)
        .output()
        .expect("a child process");
    let printed = String::from_utf8_lossy(&child.stdout);
    let nanos: u64 = printed.trim().parse().unwrap_or_else(|_| {
        panic!(
            "the child printed {printed:?}: {}",
            String::from_utf8_lossy(&child.stderr)
        )
    });
    std::time::Duration::from_nanos(nanos)
}

/// In the child: the hit as this process's first call, its time printed in nanoseconds.
fn new_process_hit(dir: &std::ffi::OsStr) {
    const N: usize = 25 << 20;
    let started = std::time::Instant::now();
    let hit: Result<Vec<f64>, &str> = Memory::new(dir)
        .prepare(&BIG_VEC, &N)
        .run_fallible(|| Err("not stored"));
    let elapsed = started.elapsed();
    match hit {
        Ok(hit) if hit.len() == N => println!("{}", elapsed.as_nanos()),
        _ => eprintln!("no stored vector of {N} in {}", dir.to_string_lossy()),
    }
}

fn hits(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_hit");
    let small_sample = floats(10_000); // 40 KB
    let large_sample = floats(2_000_000); // 8 MB
    for (name, memory, _dir) in stores() {
        memory.call(&SMALL, &7_u64, || 49_u64);
        memory.call(&SAMPLE, &small_sample, || 0.5_f64);
        memory.call(&SAMPLE, &large_sample, || 0.25_f64);
        group.bench_function(format!("{name}/scalar_argument"), |b| {
            b.iter(|| memory.call(&SMALL, black_box(&7_u64), || -> u64 { unreachable!() }));
        });
        group.bench_function(format!("{name}/40KB_argument"), |b| {
            b.iter(|| {
                memory.call(&SAMPLE, black_box(&small_sample), || -> f64 {
                    unreachable!()
                })
            });
        });
        group.bench_function(format!("{name}/8MB_argument"), |b| {
            b.iter(|| {
                memory.call(&SAMPLE, black_box(&large_sample), || -> f64 {
                    unreachable!()
                })
            });
        });
    }
    group.finish();
}

/// The stores of the `#[cache]` functions below, in directories that outlive the run.
static MACRO_FILES: LazyLock<Memory> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Memory::new(dir.keep())
});
static MACRO_SLED: LazyLock<Memory> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Memory::sled(dir.keep())
});

#[parmemo::cache(MACRO_FILES)]
fn cached_sum(sample: &[f32]) -> f64 {
    sample.iter().map(|&v| f64::from(v)).sum()
}

#[parmemo::cache(MACRO_SLED)]
fn cached_sum_sled(sample: &[f32]) -> f64 {
    sample.iter().map(|&v| f64::from(v)).sum()
}

#[parmemo::cache(MACRO_FILES)]
fn cached_square(x: u64) -> u64 {
    x * x
}

/// Hits through `#[cache]`, which hashes slices of numbers in bulk (`Memory::call`
/// above takes serde's route, one number at a time).
fn macro_hits(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_hit_cache_macro");
    for (label, sample) in [
        ("40KB_argument", floats(10_000)),
        ("8MB_argument", floats(2_000_000)),
    ] {
        for (store, cached) in [
            ("files", cached_sum as fn(&[f32]) -> f64),
            ("sled", cached_sum_sled),
        ] {
            let stored = cached(&sample);
            group.bench_function(format!("{store}/{label}"), |b| {
                b.iter(|| {
                    let loaded = cached(black_box(&sample));
                    assert_eq!(loaded.to_bits(), stored.to_bits());
                });
            });
        }
    }
    cached_square(7);
    group.bench_function("files/scalar_argument", |b| {
        b.iter(|| cached_square(black_box(7)));
    });
    group.finish();
}

/// The store `name` (`"files"` or `"sled"`) in `dir`, opened now.
fn open_store(name: &str, dir: &std::path::Path) -> Memory {
    if name == "sled" {
        Memory::open_sled(dir)
    } else {
        Memory::open(dir)
    }
    .expect("a fresh store")
}

/// A fresh `Memory`'s first call on a store that holds 400 MB (8 entries of 50 MB):
/// what a new process pays before its first hit. sled reads its whole log on open; the
/// files store opens nothing but the entry asked for.
fn fresh_open(c: &mut Criterion) {
    static BIG: FunctionId = FunctionId::new("bench", "big", 1);
    let mut group = c.benchmark_group("memory_first_call_on_400MB");
    group.sample_size(10);
    let big = vec![1_u8; 50 * 1024 * 1024];
    for name in ["files", "sled"] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        {
            let memory = open_store(name, dir.path());
            for i in 0..8_u8 {
                memory.call(&BIG, &i, || big.clone());
            }
            memory.call(&SMALL, &7_u64, || 49_u64);
        }
        group.bench_function(format!("{name}/open_and_scalar_hit"), |b| {
            b.iter(|| {
                let memory = if name == "sled" {
                    Memory::sled(dir.path())
                } else {
                    Memory::new(dir.path())
                };
                let hit = memory.call(&SMALL, &7_u64, || -> u64 { unreachable!() });
                assert_eq!(hit, 49);
            });
        });
    }
    group.finish();
}

fn misses(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_miss_overhead");
    group.sample_size(30);
    let counter = AtomicU32::new(0);
    for (name, memory, _dir) in stores() {
        group.bench_function(format!("{name}/40KB_argument_durable_write"), |b| {
            b.iter_batched(
                || {
                    // A fresh argument each time: every call is a miss.
                    let mut sample = floats(10_000);
                    sample[0] = f32::from_bits(counter.fetch_add(1, Ordering::Relaxed));
                    sample
                },
                |sample| memory.call(&SAMPLE, &sample, || 0.5_f64),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// A hit in a store of `entries` entries: the same entry bytes under many keys.
fn filled(name: &str, entries: u32) -> (Memory, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let memory = open_store(name, dir.path());
    memory.call(&SCALE, &0_u32, || 1.0_f64);
    let template = {
        let key = SCALE.key(&0_u32).expect("a key");
        let store: std::sync::Arc<dyn Store> = if name == "sled" {
            parmemo::memory::SledStore::open(dir.path()).expect("the open store")
        } else {
            std::sync::Arc::new(parmemo::memory::DirStore::open(dir.path()).expect("the store"))
        };
        let entry = store.get(&key).expect("a read").expect("the entry");
        (store, entry)
    };
    let (store, entry) = template;
    let batch: Vec<_> = (1..entries)
        .map(|i| (SCALE.key(&i).expect("a key"), entry.clone()))
        .collect();
    store.put_many(&batch).expect("the bulk write");
    (memory, dir)
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_hit_at_scale");
    for (name, small, large) in [
        ("sled", 1_000_u32, 1_000_000_u32),
        ("files", 1_000, 100_000),
    ] {
        for entries in [small, large] {
            let (memory, _dir) = filled(name, entries);
            group.bench_function(format!("{name}/{entries}_entries/same_key"), |b| {
                let key = entries / 2;
                b.iter(|| memory.call(&SCALE, black_box(&key), || -> f64 { unreachable!() }));
            });
            group.bench_function(format!("{name}/{entries}_entries/random_keys"), |b| {
                let mut i = 0_u32;
                b.iter(|| {
                    i = (i + 7919) % entries;
                    memory.call(&SCALE, black_box(&i), || -> f64 { unreachable!() })
                });
            });
        }
    }
    group.finish();
}

/// A miss of a small result in a store of 100 000 entries: without a limit, with a limit
/// the store is far from (the bound's own cost: counting the write), and with an items
/// limit the store is at (each miss then also removes the least recently used entry, on
/// the bound's background thread). Goal: the bounded misses cost at most 1.2x the
/// unbounded one. Run it with `TMPDIR` on a tmpfs too: on a disk file system, removing
/// an entry costs the file system about what creating one does.
fn misses_at_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_miss_at_scale");
    group.sample_size(20);
    let entries = 100_000_u32;
    let (_filled, dir) = filled("files", entries);
    let next = AtomicU32::new(entries);
    let mut miss = |name: &str, memory: &Memory| {
        // The first call opens the store, which a bound lists on its background thread;
        // the measured misses start once that listing is in.
        memory.call(&SCALE, &0_u32, || 1.0_f64);
        memory.wait_for_checks();
        group.bench_function(format!("files/100000_entries/{name}"), |b| {
            b.iter(|| {
                let i = next.fetch_add(1, Ordering::Relaxed);
                memory.call(&SCALE, black_box(&i), || 1.0_f64)
            });
        });
    };
    miss("no_limit", &Memory::new(dir.path()));
    miss(
        "items_limit_not_reached",
        &Memory::new(dir.path()).items_limit(10 * entries as usize),
    );
    miss(
        "items_limit_full",
        &Memory::new(dir.path()).items_limit(entries as usize),
    );
    group.finish();
}

criterion_group!(
    benches,
    hits,
    macro_hits,
    misses,
    fresh_open,
    scale,
    big_hits,
    misses_at_scale
);
fn main() {
    if let Some(dir) = std::env::var_os(NEW_PROCESS_HIT) {
        new_process_hit(&dir);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
