//! Hits and misses beyond one call and one process: what the last cached call of a thread
//! did ([`last_call`]), and the counts a parent's `Memory::stats` adds from its worker
//! processes.
//!
//! A worker process (`Backend::Processes`) calls through a `Memory` of its own, on the same
//! directory as its parent's. For the parent to see those calls, each parent `Memory` on
//! a directory makes sure the file `<dir>/.tallies/<parent pid>` exists (one per process
//! and directory; emptied the first time a process asks for it, so that a file left by
//! a dead process of the same id counts nothing); a worker appends one byte per cached
//! call to its parent's file (`h` a hit, `m` a miss): one `write` with `O_APPEND`, whole
//! even when many workers write at once, and nothing to lose when a worker is killed.
//! The parent counts the bytes written since its `Memory` was created.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a cached call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// Answered from the store.
    Hit,
    /// Computed, and its result stored.
    Miss,
    /// Computed without the cache: caching is off (no store, a disabled `Memory`) or the
    /// arguments could not be hashed.
    Uncached,
}

thread_local! {
    static LAST: Cell<Option<CallOutcome>> = const { Cell::new(None) };
}

/// What the last cached call made on this thread did, through any `Memory` (including a
/// `#[cache]` function's): whether its result came from the store. `None` before the
/// thread's first cached call.
///
/// ```
/// use parmemo_memory::{last_call, CallOutcome, FunctionId, Memory};
/// static F: FunctionId = FunctionId::new("doc", "f", 1);
/// let dir = tempfile::tempdir()?;
/// let memory = Memory::new(dir.path());
/// memory.call(&F, &1_u8, || 2_u8);
/// assert_eq!(last_call(), Some(CallOutcome::Miss));
/// memory.call(&F, &1_u8, || 2_u8);
/// assert_eq!(last_call(), Some(CallOutcome::Hit));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn last_call() -> Option<CallOutcome> {
    LAST.with(Cell::get)
}

pub(crate) fn set_last_call(outcome: CallOutcome) {
    LAST.with(|last| last.set(Some(outcome)));
}

/// The folder of the tally files in a cache directory.
const TALLIES: &str = ".tallies";

/// How often a worker looks again for its parent's tally file when there was none (the
/// parent may create its `Memory` after the worker's first call).
const LOOK_AGAIN: Duration = Duration::from_millis(250);

/// The tally files this process has emptied already: one per directory, shared by all
/// its `Memory`s there.
static STARTED: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Mutex::default);

/// The parent's side: its worker processes' calls on one directory since a point.
#[derive(Debug)]
pub(crate) struct WorkerCalls {
    path: PathBuf,
    /// The counts in the file when this `Memory` was created.
    baseline: (u64, u64),
}

impl WorkerCalls {
    /// Starts counting the calls of this process's workers on `dir`; `None` (counted as
    /// no calls) if the file cannot be made, and in a worker process, whose own workers
    /// are not a thing.
    pub(crate) fn start(dir: &Path) -> Option<WorkerCalls> {
        if parmemo_shared::role::is_worker() {
            return None;
        }
        let folder = dir.join(TALLIES);
        let path = folder.join(std::process::id().to_string());
        let first = STARTED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.clone());
        if first {
            fs::create_dir_all(&folder).ok()?;
            // Emptied, not replaced: a worker that opened it keeps writing to this file.
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .ok()?;
        }
        let baseline = counts(&path);
        Some(WorkerCalls { path, baseline })
    }

    /// The hits and misses of this process's workers since `start`.
    pub(crate) fn since_start(&self) -> (u64, u64) {
        let (hits, misses) = counts(&self.path);
        (
            hits.saturating_sub(self.baseline.0),
            misses.saturating_sub(self.baseline.1),
        )
    }
}

/// The hits and misses recorded in a tally file.
fn counts(path: &Path) -> (u64, u64) {
    let mut bytes = Vec::new();
    if File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .is_err()
    {
        return (0, 0);
    }
    bytes
        .iter()
        .fold((0, 0), |(hits, misses), byte| match byte {
            b'h' => (hits + 1, misses),
            b'm' => (hits, misses + 1),
            _ => (hits, misses),
        })
}

/// A worker's side: its parent's tally file on one directory, once found.
#[derive(Debug)]
pub(crate) struct ParentTally {
    path: PathBuf,
    state: Mutex<(Option<File>, Option<Instant>)>,
}

impl ParentTally {
    /// The tally of this process's parent on `dir`, in a worker process; `None` elsewhere.
    pub(crate) fn for_worker(dir: &Path) -> Option<ParentTally> {
        if !parmemo_shared::role::is_worker() {
            return None;
        }
        let parent = std::os::unix::process::parent_id();
        Some(ParentTally {
            path: dir.join(TALLIES).join(parent.to_string()),
            state: Mutex::default(),
        })
    }

    /// Appends `outcome` to the parent's tally, if the parent keeps one.
    pub(crate) fn record(&self, outcome: CallOutcome) {
        let byte = match outcome {
            CallOutcome::Hit => b'h',
            CallOutcome::Miss => b'm',
            CallOutcome::Uncached => return,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (file, looked) = &mut *state;
        if file.is_none() && looked.is_none_or(|at| at.elapsed() >= LOOK_AGAIN) {
            *looked = Some(Instant::now());
            // Never created here: a parent without a `Memory` on this directory keeps none.
            *file = OpenOptions::new().append(true).open(&self.path).ok();
        }
        if let Some(file) = file.as_mut() {
            let _ = file.write_all(&[byte]);
        }
    }
}
