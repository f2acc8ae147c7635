//! A store on a network or FUSE file system reads its entries, never maps them: there a
//! mapping may see another client's rename or removal as stale pages or `SIGBUS`. bindfs
//! (a FUSE mount of a local folder) stands in for NFS, sshfs and the rest.

mod common;

use parmemo_memory::{DirStore, FunctionId, Memory, Store};
use parmemo_shared::Shared;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

static ARRAY: FunctionId = FunctionId::new("tests::filesystems", "array", 1);

/// A bindfs mount of a new folder, unmounted when dropped.
struct Mounted {
    at: tempfile::TempDir,
    source: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Option<Mounted> {
        let source = tempfile::tempdir().ok()?;
        let at = tempfile::tempdir().ok()?;
        let status = Command::new("bindfs")
            .arg(source.path())
            .arg(at.path())
            .status()
            .ok()?;
        status.success().then_some(Mounted { at, source })
    }

    fn path(&self) -> &Path {
        self.at.path()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let unmounted = Command::new("fusermount")
            .arg("-u")
            .arg(self.at.path())
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = Command::new("umount").arg(self.at.path()).status();
        }
    }
}

/// The mount, or why there is none: a machine without bindfs or FUSE cannot run this
/// test, but CI (which installs bindfs) must.
fn mount() -> Option<Mounted> {
    let mounted = Mounted::new();
    if mounted.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the FUSE test: install bindfs (Debian's package) and allow FUSE"
        );
        eprintln!("skipped: bindfs or FUSE is not available here (CI runs this test)");
    }
    mounted
}

#[test]
fn a_store_on_fuse_reads_large_entries_never_maps_them() {
    let Some(mounted) = mount() else { return };
    let dir = mounted.path().join("cache");
    let n = 1 << 18; // 2 MiB: mapped on a local file system
    let make = || Shared::<[f64]>::from_fn(n, |i| i as f64);
    let stored = Memory::new(&dir).call(&ARRAY, &n, make);
    let computed = std::cell::Cell::new(false);
    let again = Memory::new(&dir).call(&ARRAY, &n, || {
        computed.set(true);
        make()
    });
    assert!(!computed.get(), "a hit");
    assert_eq!(again, stored);
    let files = common::entry_files(&dir);
    assert_eq!(files.len(), 1);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = files[0].display().to_string();
    assert!(
        !maps.lines().any(|line| line.ends_with(&name)),
        "the entry file is not mapped"
    );

    let store: Arc<dyn Store> = Arc::new(DirStore::open(&dir).unwrap());
    let key = store.entries().unwrap()[0].key;
    let entry = store.fetch(&key).unwrap().unwrap();
    assert!(!entry.is_mapped(), "read, on a FUSE mount");

    // The same entry, on the local folder under the mount, is mapped.
    let local = Arc::new(DirStore::open(mounted.source.path().join("cache")).unwrap());
    assert!(local.fetch(&key).unwrap().unwrap().is_mapped());
}
