//! What the memory tests share: a logger that keeps warnings so tests can read them, and
//! a listing of a cache's entry files.
#![allow(dead_code)] // each test file uses the part it needs

use std::sync::{Mutex, Once, PoisonError};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LINES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary).
pub fn capture_warnings() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if log::set_logger(&Capture).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
}

/// The warnings logged so far that contain `needle`.
pub fn warnings_containing(needle: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|line| line.contains(needle))
        .cloned()
        .collect()
}

/// A fresh directory that outlives the test (statics may point at it).
pub fn fresh_dir() -> std::path::PathBuf {
    // Under cargo's scratch directory for tests, not the system's temporary directory:
    // caches that statics hold outlive any guard, and must not pile up in TMPDIR.
    tempfile::Builder::new()
        .prefix("memory-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
        .keep()
}

/// This test binary again, running only its ignored `child_entry` test in `role`, with
/// the cache directory `dir` (both read from the environment by the child).
pub fn child(role: &str, dir: &std::path::Path) -> std::process::Command {
    let mut command =
        std::process::Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args([
            "--exact",
            "child_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PARMEMO_TEST_ROLE", role)
        .env("PARMEMO_TEST_DIR", dir);
    command
}

/// The entry files under `dir`, at any depth (not the temporary files of a write, nor
/// the cache's own records: their names, or their folders', start with a dot).
pub fn entry_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(next).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}
