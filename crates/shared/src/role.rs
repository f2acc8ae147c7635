//! What this process is to parmemo: a program of its own, or a worker process serving a
//! parent (`Backend::Processes`). The cache uses it to report a worker's calls to its
//! parent's counts.

use std::sync::atomic::{AtomicBool, Ordering};

static WORKER: AtomicBool = AtomicBool::new(false);

/// Records that this process serves a parent as a worker (the process backend calls it
/// before it takes its first task).
///
/// ```
/// // A worker's entry point does this; an ordinary program never does.
/// assert!(!parmemo_shared::role::is_worker());
/// ```
pub fn mark_worker() {
    WORKER.store(true, Ordering::Relaxed);
}

/// Whether this process serves a parent as a worker process.
///
/// ```
/// assert!(!parmemo_shared::role::is_worker());
/// ```
#[must_use]
pub fn is_worker() -> bool {
    WORKER.load(Ordering::Relaxed)
}
