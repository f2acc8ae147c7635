//! `Memory`: joblib's `Memory`, the cache a `#[cache]` function stores its results in.

mod admin;
mod call;
mod open;
mod prepared;

pub use prepared::PreparedCall;

#[cfg(feature = "sled")]
use crate::store::SledStore;
use crate::store::{Bounded, DirStore, Limits, Store};
use crate::tally::{set_last_call, CallOutcome, ParentTally, WorkerCalls};
use crate::warn::warn;
use crate::{FunctionId, MemoryError};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};

/// What a [`Memory`] has done so far, and what its store holds.
///
/// The calls are those made through this `Memory` since it was created, and those that
/// the worker processes of this process (`Backend::Processes`) made since then through a
/// `Memory` on the same directory (counted apart in `worker_hits` and `worker_misses`,
/// and included in `hits` and `misses`). A worker reports each call to a small file of the
/// directory (`.tallies/<this process's id>`), so the parent sees them without asking
/// the workers; calls of MPI ranks and of unrelated processes are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStats {
    /// Calls answered from the store, here and in worker processes.
    pub hits: u64,
    /// Calls that had to compute (their result was then stored), here and in worker
    /// processes.
    pub misses: u64,
    /// Of `hits`, those made in worker processes.
    pub worker_hits: u64,
    /// Of `misses`, those made in worker processes.
    pub worker_misses: u64,
    /// Entries in the store, from every function and code version.
    pub entries: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

#[derive(Debug, Clone)]
enum Location {
    Files(PathBuf),
    #[cfg(feature = "sled")]
    Sled(PathBuf),
    Custom(Arc<dyn Store>),
    Disabled,
}

/// A persistent cache of function results, keyed by the function's identity and the
/// content of its arguments: joblib's `Memory`.
///
/// Functions use it through the `#[cache(MEMORY)]` attribute (re-exported as
/// `parmemo::cache`), usually with a `static`:
///
/// ```
/// use parmemo_macros::cache;
/// use parmemo_memory::Memory;
/// use std::sync::LazyLock;
///
/// # let dir = tempfile::tempdir()?;
/// # let location = dir.path().join("cache");
/// # static LOCATION: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
/// # LOCATION.set(location).unwrap();
/// static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(LOCATION.get().unwrap()));
///
/// #[cache(MEMORY)]
/// fn slow_square(x: u64) -> u64 {
///     x * x
/// }
///
/// assert_eq!(slow_square(12), 144); // computed and stored
/// assert_eq!(slow_square(12), 144); // loaded
/// assert_eq!(MEMORY.stats()?.hits, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A cache that cannot be used never breaks the computation: a store that cannot be
/// opened or written is reported once and the function runs uncached; a damaged entry,
/// or one of another result type (the function's result type changed since), is
/// reported, recomputed and rewritten. Reports go through the `log` facade when the
/// program has a logger for warnings, else to stderr; each cause once.
pub struct Memory {
    location: Location,
    store: OnceLock<Option<Arc<dyn Store>>>,
    verbose: u8,
    compress: Option<i32>,
    verify_mapped: bool,
    keep_versions: bool,
    durable: bool,
    limits: Limits,
    /// The function versions whose older versions this `Memory` has cleared already.
    cleared: Mutex<HashSet<[u8; 16]>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The calls of this process's workers on the same directory (a parent process).
    worker_calls: Option<WorkerCalls>,
    /// Where this process reports its calls to its parent (a worker process).
    parent_tally: Option<ParentTally>,
    warned: Mutex<HashSet<String>>,
}

impl fmt::Debug for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memory")
            .field("location", &self.location)
            .field("verbose", &self.verbose)
            .field("compress", &self.compress)
            .field("hits", &self.hits.load(Ordering::Relaxed))
            .field("misses", &self.misses.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Memory {
    fn with_location(location: Location) -> Self {
        let dir = match &location {
            Location::Files(path) => Some(path.as_path()),
            _ => None,
        };
        Memory {
            worker_calls: dir.and_then(WorkerCalls::start),
            parent_tally: dir.and_then(ParentTally::for_worker),
            location,
            store: OnceLock::new(),
            verbose: 0,
            compress: None,
            verify_mapped: false,
            keep_versions: false,
            durable: false,
            limits: Limits::default(),
            cleared: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            warned: Mutex::default(),
        }
    }

    /// The cache's directory (`None` for a store given to [`with_store`](Self::with_store)).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path().join("cache"));
    /// assert_eq!(memory.location(), Some(dir.path().join("cache").as_path()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn location(&self) -> Option<&Path> {
        match &self.location {
            Location::Files(path) => Some(path),
            #[cfg(feature = "sled")]
            Location::Sled(path) => Some(path),
            Location::Custom(_) | Location::Disabled => None,
        }
    }

    /// The store, opened on first use; `None` (reported once) if it cannot be opened.
    fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store
            .get_or_init(|| {
                self.open_store()?
                    .map_err(|err| {
                        self.warn_once(&format!("caching is off for this process: {err}"));
                    })
                    .ok()
            })
            .as_ref()
    }

    /// Opens the store of this `Memory`'s location with its settings; `None` for a
    /// location that has no store to open (a custom store, or caching disabled).
    fn open_store(&self) -> Option<Result<Arc<dyn Store>, MemoryError>> {
        let opened = match &self.location {
            #[cfg(feature = "sled")]
            Location::Sled(path) => SledStore::open(path).map(|s| s as Arc<dyn Store>),
            Location::Files(path) => DirStore::open(path)
                .map(|store| Arc::new(store.durable(self.durable)) as Arc<dyn Store>),
            Location::Custom(store) => Ok(Arc::clone(store)),
            Location::Disabled => return None,
        };
        Some(opened.map(|store| {
            if !self.limits.any() {
                return store;
            }
            // The totals live beside the entries when there is a directory that other
            // processes open too; sled's is this process's alone.
            let shared_dir = match &self.location {
                Location::Files(path) => Some(path.as_path()),
                _ => None,
            };
            Arc::new(Bounded::new(store, self.limits, shared_dir)) as Arc<dyn Store>
        }))
    }

    /// After a setting that changes how the store is opened: a store opened already (by
    /// [`open`](Self::open)) is opened again with it.
    fn reopened(self) -> Self {
        if self.store.get().is_none() {
            return self;
        }
        match self.open_store() {
            Some(Ok(store)) => Memory {
                store: OnceLock::from(Some(store)),
                ..self
            },
            Some(Err(err)) => {
                self.warn_once(&format!("the store keeps its earlier settings: {err}"));
                self
            }
            None => self,
        }
    }

    /// The store, or the error that keeps it from opening, for the operations that are
    /// about the cache itself (a cached call runs uncached instead).
    fn require_store(&self) -> Result<&Arc<dyn Store>, MemoryError> {
        if let Some(store) = self.store() {
            return Ok(store);
        }
        if let Location::Disabled = self.location {
            static NOTHING: LazyLock<Arc<dyn Store>> =
                LazyLock::new(|| Arc::new(crate::store::Nothing));
            return Ok(&NOTHING);
        }
        // Open again only to report why; the failed first attempt is what this
        // `Memory` keeps, so a cause that went away meanwhile still leaves it off.
        let reopened = match self.location {
            Location::Custom(_) => None,
            _ => self.open_store().and_then(Result::err),
        };
        Err(reopened.unwrap_or_else(|| MemoryError::Store {
            path: self.location().map(Path::to_owned).unwrap_or_default(),
            message: "the store could not be opened when first used; create a new Memory to retry"
                .to_owned(),
        }))
    }

    /// Counts a call's outcome: in this `Memory`, as the thread's last call, and in the
    /// parent's tally when this process is a worker.
    pub(crate) fn count(&self, outcome: CallOutcome) {
        match outcome {
            CallOutcome::Hit => {
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
            CallOutcome::Miss => {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
            CallOutcome::Uncached => {}
        }
        set_last_call(outcome);
        if let Some(tally) = &self.parent_tally {
            tally.record(outcome);
        }
    }

    /// The calls this process's workers made on the same directory since this `Memory`
    /// was created.
    pub(crate) fn worker_calls(&self) -> (u64, u64) {
        self.worker_calls
            .as_ref()
            .map_or((0, 0), WorkerCalls::since_start)
    }

    fn warn_once(&self, message: &str) {
        self.warn_once_per(message, message);
    }

    /// Reports `message` unless a report of the same `cause` was made already: a store
    /// that refuses writes is one warning, not one per shard or per call.
    fn warn_once_per(&self, cause: &str, message: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if !warned.insert(cause.to_owned()) {
            return;
        }
        warn(message);
    }

    /// The store, for an operation on the entries of `function` (which it is told the
    /// name of, so that a store with named folders finds them).
    pub(crate) fn store_for(&self, function: &FunctionId) -> Result<&Arc<dyn Store>, MemoryError> {
        let store = self.require_store()?;
        store.name_function(function);
        Ok(store)
    }
}
