//! How a `Memory` is made and set up: its store, and its settings.

use super::{Location, Memory};
#[cfg(feature = "sled")]
use crate::store::SledStore;
use crate::store::Store;
use crate::MemoryError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

impl Memory {
    /// A cache in directory `dir`, one file per entry (`DirStore`), as joblib keeps
    /// it: many processes may use it at once (the workers of `Backend::Processes`, two
    /// cluster jobs on one directory, on a network file system too), it opens in constant
    /// time whatever it holds, a deleted directory is created again at the next write, and
    /// a read-only one still serves hits. The directory is created at the first call, and
    /// here already when this process is not a worker process: it holds the file where
    /// worker processes report their calls (see [`stats`](Self::stats)).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path());
    /// assert_eq!(memory.location(), Some(dir.path()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Memory::with_location(Location::Files(dir.as_ref().to_owned()))
    }

    /// A cache in directory `dir` on the embedded sled database ([`SledStore`]), opened at
    /// the first call. Its hits cost less than a file's (about 1 us against 5), but only
    /// one process at a time may open it (another gets [`MemoryError::Locked`] and runs
    /// uncached), and opening it reads its whole log (a second per few hundred MB).
    /// Choose it for one long-running process with many small entries.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::sled(dir.path());
    /// assert_eq!(memory.location(), Some(dir.path()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "sled")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sled")))]
    pub fn sled(dir: impl AsRef<Path>) -> Self {
        Memory::with_location(Location::Sled(dir.as_ref().to_owned()))
    }

    /// [`new`](Self::new), opening the store now so that a failure is an error here.
    ///
    /// # Errors
    /// [`MemoryError::Io`] when the directory cannot be created.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::open(dir.path())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, MemoryError> {
        let memory = Memory::new(dir);
        if let Some(opened) = memory.open_store() {
            let _ = memory.store.set(Some(opened?));
        }
        Ok(memory)
    }

    /// [`sled`](Self::sled), opening the database now so that a failure is an error here.
    ///
    /// # Errors
    /// [`MemoryError::Locked`] when another process holds the database;
    /// [`MemoryError::Io`] or [`MemoryError::Store`] when it cannot be opened.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::open_sled(dir.path())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "sled")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sled")))]
    pub fn open_sled(dir: impl AsRef<Path>) -> Result<Self, MemoryError> {
        let store: Arc<dyn Store> = SledStore::open(dir.as_ref())?;
        let memory = Memory::sled(dir);
        let _ = memory.store.set(Some(store));
        Ok(memory)
    }

    /// A cache that caches nothing: every call computes and nothing is written, as
    /// joblib's `Memory(location=None)`. For turning caching off without touching the
    /// cached functions (a flag, a test).
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// let memory = Memory::disabled();
    /// assert_eq!(memory.call(&F, &1_u8, || 2_u8), 2);
    /// assert_eq!(memory.call(&F, &1_u8, || 3_u8), 3, "computed again");
    /// assert!(!memory.check_call_in_cache(&F, &1_u8));
    /// assert_eq!(memory.stats()?.entries, 0);
    /// # Ok::<(), parmemo_memory::MemoryError>(())
    /// ```
    #[must_use]
    pub fn disabled() -> Self {
        Memory::with_location(Location::Disabled)
    }

    /// Compresses results whose encoding is larger than 4 KiB with zstd at `level` (1 to
    /// 22; 3 is zstd's default): smaller entries for results that compress well (counts,
    /// repeated values, text), at some CPU time per store and load. Entries record
    /// whether they are compressed, so a cache may hold both kinds.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "zeros", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path()).compress(3);
    /// memory.call(&F, &1_u8, || vec![0_u64; 100_000]);
    /// assert!(memory.stats()?.bytes < 10_000, "800 KB of zeros stored in a few KB");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    #[cfg(feature = "zstd")]
    #[cfg_attr(docsrs, doc(cfg(feature = "zstd")))]
    pub fn compress(mut self, level: i32) -> Self {
        self.compress = Some(level);
        self
    }

    /// Whether a hit on a large entry checks the checksum of every `Shared` array in the
    /// result before returning it. A large entry on a local file system is mapped, not
    /// read, and its arrays are handed out as slices of the mapping (joblib's
    /// `mmap_mode='r'`): a 200 MB array comes back in microseconds. What is checked at
    /// once is the header, the payload with the array table (their checksums), and that
    /// every array lies inside the file. The arrays' own checksums, which read every
    /// byte, are checked right after the hit by a background thread (default), or before
    /// it returns (with this set).
    ///
    /// Entries are written once and renamed into place, so a mapped entry is never a torn
    /// or half-written one; the checksums catch damage to the file itself. Without this
    /// setting, a damaged mapped entry is served by the hits before its check (one, for a
    /// file damaged at rest; a file that passed is trusted for a quarter second): the
    /// background check reports it on stderr and removes it (within milliseconds;
    /// [`wait_for_checks`](Self::wait_for_checks) waits for it), so no later call, through
    /// any `Memory`, is served it again. With it,
    /// a damaged entry is never served. Entries read rather than mapped (small ones, those
    /// on a network or FUSE file system, or from a sled store) are always checked whole.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path()).verify_mapped_arrays(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn verify_mapped_arrays(mut self, verify: bool) -> Self {
        self.verify_mapped = verify;
        self
    }

    /// A cache on a store of your own.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let dir = tempfile::tempdir()?;
    /// let store = Arc::new(parmemo_memory::DirStore::open(dir.path())?);
    /// let memory = parmemo_memory::Memory::with_store(store);
    /// assert_eq!(memory.location(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_store(store: Arc<dyn Store>) -> Self {
        let memory = Memory::with_location(Location::Custom(Arc::clone(&store)));
        let _ = memory.store.set(Some(store));
        memory
    }

    /// Logging of calls, as joblib's `verbose`: 0 silent; 1 prints
    /// `[Memory] Calling module::function...` and its duration for each computed call;
    /// 2 also prints each load from the cache. Lines go to stderr.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path()).verbose(1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn verbose(mut self, level: u8) -> Self {
        self.verbose = level;
        self
    }

    /// Whether the entries of a function's older versions stay when a new version (the
    /// same function with edited code) stores its first result. By default they go, as
    /// joblib clears a function whose code changed: the first write of a new version
    /// removes the others' entries from the store, with one line on stderr
    /// (`[Memory] warning: robust_center changed: removed 100 entries (4.1 MB) of its
    /// previous versions`). Keep them for a cache that two builds share on purpose (each
    /// would clear the other's entries in turn).
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static OLD: FunctionId = FunctionId::new("doc", "model", 1);
    /// static NEW: FunctionId = FunctionId::new("doc", "model", 2); // its code edited
    /// let dir = tempfile::tempdir()?;
    /// Memory::new(dir.path()).call(&OLD, &1_u8, || 10_u32);
    /// let shared = Memory::new(dir.path()).keep_versions(true);
    /// shared.call(&NEW, &1_u8, || 20_u32);
    /// assert!(shared.check_call_in_cache(&OLD, &1_u8), "kept");
    /// Memory::new(dir.path()).call(&NEW, &2_u8, || 30_u32);
    /// assert!(!shared.check_call_in_cache(&OLD, &1_u8), "cleared by a default Memory");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep_versions(mut self, keep: bool) -> Self {
        self.keep_versions = keep;
        self
    }

    /// Keeps the store's entries within `bytes` in total (their files' sizes), removing
    /// the least recently used as results are stored: a bound that holds itself, where
    /// [`reduce_size`](Self::reduce_size) is a one-off. Every `Memory` with a limit on a
    /// directory shares one count of what it holds (a small `.usage` file there, updated
    /// under a lock), so worker processes and parallel jobs hold the bound together.
    ///
    /// A miss costs no more for it: the write is counted in memory, and a background
    /// thread of this `Memory` adds the counts to the shared file and removes the least
    /// recently used entries while the store is over (about one per write once it is
    /// full). While results come faster than it removes entries, the store may exceed the
    /// limit by a 64th of it (one entry for a small limit): past that, the writing call
    /// removes entries itself. [`wait_for_checks`](Self::wait_for_checks) waits until the
    /// store is within the limit. The store is never listed on a call: a listing runs on
    /// the background thread when the store opens and after each half-limit of writes, to
    /// correct the count (writes by `Memory`s without a limit, a process killed before
    /// its thread's next round, a tenth of a second at most).
    ///
    /// An entry another process used since this one last saw it counts as used then, so
    /// it is not the one removed. A result larger than the limit is removed right after
    /// it is stored. The view of the entries by last use costs about 150 bytes of memory
    /// per entry (150 MB for a million entries).
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "block", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path()).bytes_limit(64 * 1024);
    /// for seed in 0..100_u64 {
    ///     memory.call(&F, &seed, || vec![seed; 1000]); // 8 KB each
    /// }
    /// memory.wait_for_checks();
    /// assert!(memory.stats()?.bytes <= 64 * 1024);
    /// assert!(memory.check_call_in_cache(&F, &99_u64), "the most recent stay");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn bytes_limit(mut self, bytes: u64) -> Self {
        self.limits.bytes = Some(bytes);
        self.reopened()
    }

    /// Keeps at most `items` entries in the store, removing the least recently used as
    /// results are stored; see [`bytes_limit`](Self::bytes_limit) for how it holds.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "small", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path()).items_limit(10);
    /// for x in 0..50_u32 {
    ///     memory.call(&F, &x, || x + 1);
    /// }
    /// memory.wait_for_checks();
    /// assert_eq!(memory.stats()?.entries, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn items_limit(mut self, items: usize) -> Self {
        self.limits.items = Some(items as u64);
        self.reopened()
    }

    /// Removes entries unused for longer than `age`, checked by the background thread of
    /// [`bytes_limit`](Self::bytes_limit) every tenth of a second while this `Memory`
    /// lives (a store no bounded `Memory` opens keeps them;
    /// [`reduce_size`](Self::reduce_size) clears them on demand).
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let week = Duration::from_secs(7 * 24 * 3600);
    /// let memory = parmemo_memory::Memory::new(dir.path()).age_limit(week);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn age_limit(mut self, age: Duration) -> Self {
        self.limits.age = Some(age);
        self.reopened()
    }

    /// Whether each stored result is synced to the disk before the call returns (an
    /// `fdatasync` per miss), so that it survives a power loss; see
    /// `DirStore::durable`. Off by default, which makes a miss of a small result several
    /// times cheaper: after a power loss an entry the kernel had not written back is
    /// missing or reads as damaged (every entry is checksummed), so it is computed again,
    /// never served wrong. Entries of 1 MiB or more, which hits map, are synced either
    /// way. Only the file store ([`Memory::new`]) has the setting.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path()).durable(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self.reopened()
    }
}
