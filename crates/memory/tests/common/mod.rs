//! What the memory tests share: a logger that keeps warnings so tests can read them.
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
    tempfile::tempdir().expect("a temporary directory").keep()
}
