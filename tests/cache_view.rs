//! The `cache` example, a look into a cache directory: what it lists, and what its
//! `clear` and `clear-stale` commands remove.

use parmemo::memory::{DirStore, FunctionId, Memory};
use std::path::{Path, PathBuf};
use std::process::Command;

static FIT_OLD: FunctionId = FunctionId::new("sweep::fits", "robust_center", 1);
static FIT_NEW: FunctionId = FunctionId::new("sweep::fits", "robust_center", 2);
static LOAD: FunctionId = FunctionId::new("sweep::io", "load", 1);

/// The example's binary, which `cargo test` builds beside the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    profile.join("examples").join("cache")
}

fn run(args: &[&str]) -> String {
    let output = Command::new(example())
        .args(args)
        .output()
        .expect("the example runs (cargo test builds it)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("text")
}

#[test]
fn the_cache_example_lists_versions_and_clears_what_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // Two builds kept on purpose (keep_versions), and another function.
    let memory = Memory::new(&cache).keep_versions(true);
    for x in 0..4_u8 {
        memory.call(&FIT_OLD, &x, || f64::from(x));
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    for x in 0..2_u8 {
        memory.call(&FIT_NEW, &x, || f64::from(x) * 2.0);
    }
    memory.call(&LOAD, &"data.csv", || vec![1_u32; 100]);

    let functions = DirStore::open(&cache).unwrap().functions().unwrap();
    let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["sweep::fits::robust_center", "sweep::io::load"]);
    let fit = &functions[0];
    assert_eq!((fit.versions.len(), fit.entries()), (2, 6));
    assert!(fit.versions[0].latest);
    assert_eq!(
        fit.versions[0].entries, 2,
        "the newest version is the latest"
    );

    let cache_arg = cache.to_str().unwrap();
    let table = run(&[cache_arg]);
    assert!(table.contains("sweep::fits::robust_center"), "{table}");
    assert!(table.contains("(latest)"), "{table}");
    assert!(table.contains("7 entries"), "{table}");

    let said = run(&[cache_arg, "clear-stale", "robust_center"]);
    assert!(said.contains("removed 4 entries"), "{said}");
    assert!(memory.check_call_in_cache(&FIT_NEW, &1_u8));
    assert!(!memory.check_call_in_cache(&FIT_OLD, &1_u8));

    let said = run(&[cache_arg, "clear", "io::load"]);
    assert!(
        said.contains("removed 1 entries of sweep::io::load"),
        "{said}"
    );
    assert_eq!(memory.stats().unwrap().entries, 2);

    let refused = Command::new(example())
        .args([cache_arg, "clear", "nothing_here"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no function named nothing_here"));
}
