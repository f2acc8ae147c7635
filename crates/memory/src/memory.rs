//! `Memory`: joblib's `Memory`, the cache a `#[cache]` function stores its results in.

use crate::codec::{decode_entry, encode_entry, EntryMeta, Framing, Header, Unusable, HEADER};
use crate::function::CachedFunction;
use crate::shape::fingerprint;
use crate::shelved::Shelved;
use crate::store::{DirStore, Key, SledStore, Store};
use crate::verify;
use crate::warn::warn;
use crate::{FunctionId, MemoryError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// What a [`Memory`] has done so far, and what its store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStats {
    /// Calls answered from the store.
    pub hits: u64,
    /// Calls that had to compute (their result was then stored).
    pub misses: u64,
    /// Entries in the store, from every function and code version.
    pub entries: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

#[derive(Debug, Clone)]
enum Location {
    Files(PathBuf),
    Sled(PathBuf),
    Custom,
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
    hits: AtomicU64,
    misses: AtomicU64,
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
        Memory {
            location,
            store: OnceLock::new(),
            verbose: 0,
            compress: None,
            verify_mapped: false,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            warned: Mutex::default(),
        }
    }

    /// A cache in directory `dir`, one file per entry ([`DirStore`]), as joblib keeps
    /// it: many processes may use it at once (the workers of `Backend::Processes`, two
    /// cluster jobs on one directory, on a network file system too), it opens in constant
    /// time whatever it holds, a deleted directory is created again at the next write, and
    /// a read-only one still serves hits. The directory is created at the first call.
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

    /// The same as [`new`](Self::new), by the name that says what it is for: a cache that
    /// several processes share.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::shared(dir.path());
    /// assert_eq!(memory.stats()?.entries, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shared(dir: impl AsRef<Path>) -> Self {
        Memory::new(dir)
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
        let store: Arc<dyn Store> = Arc::new(DirStore::open(dir.as_ref())?);
        let memory = Memory::new(dir);
        let _ = memory.store.set(Some(store));
        Ok(memory)
    }

    /// The same as [`open`](Self::open).
    ///
    /// # Errors
    /// [`MemoryError::Io`] when the directory cannot be created.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::open_shared(dir.path())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_shared(dir: impl AsRef<Path>) -> Result<Self, MemoryError> {
        Memory::open(dir)
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
    /// setting, a damaged mapped entry is served once: the background check reports it on
    /// stderr and removes it (within milliseconds; [`wait_for_checks`](Self::wait_for_checks)
    /// waits for it), so no later call, through any `Memory`, is served it again. With it,
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

    /// Waits until the background checks of the mapped hits made so far in this process
    /// (see [`verify_mapped_arrays`](Self::verify_mapped_arrays)) are done: after it, any
    /// damaged entry those hits served has been reported and removed. For a program that
    /// wants to know, before it reports its results, that they came from sound entries.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path());
    /// memory.wait_for_checks(); // nothing was checked: returns at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_checks(&self) {
        verify::settled();
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
        let memory = Memory::with_location(Location::Custom);
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

    /// The cache's directory (`None` for a store given to [`with_store`](Self::with_store)).
    ///
    /// ```
    /// let memory = parmemo_memory::Memory::new("/tmp/somewhere");
    /// assert_eq!(memory.location(), Some(std::path::Path::new("/tmp/somewhere")));
    /// ```
    #[must_use]
    pub fn location(&self) -> Option<&Path> {
        match &self.location {
            Location::Files(path) | Location::Sled(path) => Some(path),
            Location::Custom | Location::Disabled => None,
        }
    }

    /// The store, opened on first use; `None` (reported once) if it cannot be opened.
    fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store
            .get_or_init(|| {
                let opened: Result<Arc<dyn Store>, MemoryError> = match &self.location {
                    Location::Sled(path) => SledStore::open(path).map(|s| s as Arc<dyn Store>),
                    Location::Files(path) => {
                        DirStore::open(path).map(|s| Arc::new(s) as Arc<dyn Store>)
                    }
                    Location::Custom | Location::Disabled => return None,
                };
                opened
                    .map_err(|err| {
                        self.warn_once(&format!("caching is off for this process: {err}"));
                    })
                    .ok()
            })
            .as_ref()
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
        let reopened = match &self.location {
            Location::Sled(path) => SledStore::open(path).err(),
            Location::Files(path) => DirStore::open(path).err(),
            Location::Custom | Location::Disabled => None,
        };
        Err(reopened.unwrap_or_else(|| MemoryError::Store {
            path: self.location().map(Path::to_owned).unwrap_or_default(),
            message: "the store could not be opened when first used; create a new Memory to retry"
                .to_owned(),
        }))
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

    /// Returns the stored result of `function` on `arguments`, or runs `compute`, stores
    /// its result and returns it. What the `#[cache]` macro expands to.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static DOUBLE: FunctionId = FunctionId::new("doc", "double", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// assert_eq!(memory.call(&DOUBLE, &21_u32, || 42_u32), 42);
    /// assert_eq!(memory.call(&DOUBLE, &21_u32, || 0_u32), 42); // the stored result
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<A, R>(&self, function: &FunctionId, arguments: &A, compute: impl FnOnce() -> R) -> R
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.prepare(function, arguments).run(compute)
    }

    /// The first half of [`call`](Self::call): computes the key of a call (hashing the
    /// arguments) and returns a [`PreparedCall`] that no longer borrows them, so that
    /// the computation can take them by value. What the `#[cache]` macro expands to.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static LEN: FunctionId = FunctionId::new("doc", "len", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// let owned = vec![1, 2, 3];
    /// let call = memory.prepare(&LEN, &owned);
    /// assert_eq!(call.run(move || owned.len()), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prepare<A: Serialize + ?Sized>(
        &self,
        function: &FunctionId,
        arguments: &A,
    ) -> PreparedCall<'_> {
        PreparedCall {
            memory: self,
            function: *function,
            target: self.store_and_key(function, arguments),
        }
    }

    /// [`prepare`](Self::prepare) with the arguments as key parts, each hashed by the
    /// fastest route for its type: what the `#[cache]` macro expands to.
    #[doc(hidden)]
    pub fn prepare_parts(
        &self,
        function: &FunctionId,
        parts: &[&dyn crate::__private::KeyPart],
    ) -> PreparedCall<'_> {
        PreparedCall {
            memory: self,
            function: *function,
            target: self.store_and_key_with(function, || function.key_of_parts(parts)),
        }
    }

    fn store_and_key<A: Serialize + ?Sized>(
        &self,
        function: &FunctionId,
        arguments: &A,
    ) -> Option<(&Arc<dyn Store>, Key)> {
        self.store_and_key_with(function, || function.key(arguments))
    }

    fn store_and_key_with(
        &self,
        function: &FunctionId,
        key: impl FnOnce() -> Result<Key, MemoryError>,
    ) -> Option<(&Arc<dyn Store>, Key)> {
        let store = self.store()?;
        match key() {
            Ok(key) => Some((store, key)),
            Err(err) => {
                self.warn_once(&format!(
                    "{} runs uncached: {err}",
                    function.qualified_name()
                ));
                None
            }
        }
    }

    /// Runs `compute`, logged at `verbose >= 1`; returns its result and how long it took.
    fn compute_logged<R>(
        &self,
        function: &FunctionId,
        compute: impl FnOnce() -> R,
    ) -> (R, Duration) {
        if self.verbose > 0 {
            eprintln!("[Memory] Calling {}...", function.qualified_name());
        }
        let started = Instant::now();
        let result = compute();
        let took = started.elapsed();
        if self.verbose > 0 {
            let seconds = took.as_secs_f64();
            eprintln!(
                "_____{} - {seconds:.1}s, {:.1}min",
                function.name(),
                seconds / 60.0
            );
        }
        (result, took)
    }

    /// The stored result under `key`, counted and logged as a hit; `None` for a miss.
    fn hit<R: DeserializeOwned + 'static>(
        &self,
        store: &Arc<dyn Store>,
        function: &FunctionId,
        key: &Key,
    ) -> Option<R> {
        let started = Instant::now();
        let result = self.load(store, function, key)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        if self.verbose >= 2 {
            eprintln!(
                "[Memory] Loaded {} from the cache ({:.1?})",
                function.qualified_name(),
                started.elapsed()
            );
        }
        Some(result)
    }

    /// The stored result under `key`, or `None` (a damaged entry, or one of another
    /// type, is reported, removed, and so recomputed and rewritten by the caller).
    fn load<R: DeserializeOwned + 'static>(
        &self,
        store: &Arc<dyn Store>,
        function: &FunctionId,
        key: &Key,
    ) -> Option<R> {
        match store.fetch(key) {
            Ok(Some(entry)) if !still_valid(entry.bytes(), function) => None,
            Ok(Some(entry)) => match decode_entry(&entry, fingerprint::<R>(), self.verify_mapped) {
                Ok((result, unchecked)) => {
                    if let Some(unchecked) = unchecked {
                        verify::check_later(
                            unchecked,
                            Arc::clone(store),
                            *key,
                            &function.qualified_name(),
                        );
                    }
                    Some(result)
                }
                Err(Unusable::OtherType) => {
                    let name = function.qualified_name();
                    self.warn_once_per(
                        &format!("other type: {name}"),
                        &format!(
                            "stored results of {name} hold another type than it returns now \
                             (its result type changed since they were stored): recomputing \
                             and rewriting them"
                        ),
                    );
                    let _ = store.remove(key);
                    None
                }
                Err(Unusable::Damaged(reason)) => {
                    self.warn_once(&format!(
                        "cache entry {} of {} is unreadable ({reason}): recomputing and rewriting it",
                        key.to_hex(),
                        function.qualified_name()
                    ));
                    let _ = store.remove(key);
                    None
                }
            },
            Ok(None) => None,
            Err(err) => {
                self.warn_once(&format!(
                    "reading the cache failed, computing instead: {err}"
                ));
                None
            }
        }
    }

    fn save<R: Serialize + DeserializeOwned + 'static>(
        &self,
        store: &Arc<dyn Store>,
        function: &FunctionId,
        key: &Key,
        result: &R,
        took: Duration,
    ) -> bool {
        let framing = Framing {
            result_type: fingerprint::<R>(),
            meta: EntryMeta {
                stored_at: SystemTime::now(),
                compute_time: took,
            },
            compress: self.compress,
        };
        let stored =
            encode_entry(result, framing).and_then(|entry| store.put_parts(key, &entry.parts()));
        if let Err(err) = &stored {
            let name = function.qualified_name();
            let cause = match err {
                MemoryError::Io { source, .. } => {
                    format!("not stored: {name}: {:?}", source.kind())
                }
                other => format!("not stored: {name}: {other}"),
            };
            self.warn_once_per(
                &cause,
                &format!("results of {name} are not being stored: {err}"),
            );
        }
        stored.is_ok()
    }

    /// Whether a call of `function` on `arguments` would be answered from the cache,
    /// without running or loading anything: an entry is stored whose header is intact,
    /// whose length matches it and, when `function` records its result type
    /// ([`FunctionId::returning`], as `#[cache]` does), whose type is that one. Only the
    /// header is read, and the check is not a use for eviction. A payload damaged since
    /// it was written is found (and recomputed) by the call itself.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// assert!(!memory.check_call_in_cache(&F, &1_u8));
    /// memory.call(&F, &1_u8, || 2_u8);
    /// assert!(memory.check_call_in_cache(&F, &1_u8));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_call_in_cache<A: Serialize + ?Sized>(
        &self,
        function: &FunctionId,
        arguments: &A,
    ) -> bool {
        let Some((store, key)) = self.store_and_key(function, arguments) else {
            return false;
        };
        holds_entry(store, &key, function, function.result_type())
    }

    /// Computes (or finds) the result of `function` on `arguments` and returns a handle
    /// that loads it later, instead of the result itself: joblib's `call_and_shelve`.
    /// If the result cannot be stored, the handle keeps it in memory.
    ///
    /// # Errors
    /// [`MemoryError::Encode`] if the result cannot be serialized.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "big", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// let shelved = memory.call_and_shelve(&F, &3_u32, || vec![0.5_f64; 3])?;
    /// assert_eq!(shelved.get()?, vec![0.5; 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_and_shelve<A, R>(
        &self,
        function: &FunctionId,
        arguments: &A,
        compute: impl FnOnce() -> R,
    ) -> Result<Shelved<'_, R>, MemoryError>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.prepare(function, arguments).shelve(compute)
    }

    /// The entry under `key`, for [`Shelved`].
    pub(crate) fn load_key<R: DeserializeOwned + 'static>(
        &self,
        key: &Key,
    ) -> Result<R, MemoryError> {
        let store = self.require_store()?;
        let entry = store
            .fetch(key)?
            .ok_or_else(|| MemoryError::Missing { key: key.to_hex() })?;
        let (value, unchecked) = decode_entry(&entry, fingerprint::<R>(), self.verify_mapped)
            .map_err(|reason| MemoryError::Corrupt {
                key: key.to_hex(),
                reason: reason.to_string(),
            })?;
        if let Some(unchecked) = unchecked {
            verify::check_later(unchecked, Arc::clone(store), *key, &key.to_hex());
        }
        Ok(value)
    }

    /// Removes the entry under `key`, for [`Shelved`].
    pub(crate) fn remove_key(&self, key: &Key) -> Result<(), MemoryError> {
        self.require_store()?.remove(key)
    }

    /// The per-function operations (clear, count, check, shelve) for `function`; the
    /// `#[cache]` macro's `name::cache()` handle wraps this with typed arguments.
    ///
    /// ```
    /// use parmemo_memory::{FunctionId, Memory};
    /// static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// memory.call(&F, &1_u8, || 1_u8);
    /// memory.call(&F, &2_u8, || 2_u8);
    /// assert_eq!(memory.function(&F).len()?, 2);
    /// assert_eq!(memory.function(&F).clear()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn function<'m>(&'m self, function: &'m FunctionId) -> CachedFunction<'m> {
        CachedFunction::new(self, function)
    }

    pub(crate) fn store_for_operations(&self) -> Result<&Arc<dyn Store>, MemoryError> {
        self.require_store()
    }

    /// Removes every entry of every function.
    ///
    /// # Errors
    /// When the store cannot be opened or written.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// memory.call(&F, &1_u8, || 1_u8);
    /// memory.clear()?;
    /// assert_eq!(memory.stats()?.entries, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<(), MemoryError> {
        self.require_store()?.clear()
    }

    /// Evicts the least recently used entries until at most `max_items` entries of at
    /// most `max_bytes` in total remain, none unused for longer than `max_age`; `None`
    /// leaves that limit off. Returns how many entries were removed.
    ///
    /// # Errors
    /// When the store cannot be opened, listed or written.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// for i in 0..5_u8 {
    ///     memory.call(&F, &i, || i);
    /// }
    /// assert_eq!(memory.reduce_size(None, Some(2), None)?, 3);
    /// assert!(memory.check_call_in_cache(&F, &4_u8)); // the most recent stay
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reduce_size(
        &self,
        max_bytes: Option<u64>,
        max_items: Option<usize>,
        max_age: Option<Duration>,
    ) -> Result<usize, MemoryError> {
        let store = self.require_store()?;
        let mut entries = store.entries()?;
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.last_used));
        let now = SystemTime::now();
        let (mut kept, mut kept_bytes, mut removed) = (0_usize, 0_u64, 0);
        for entry in entries {
            let too_old = max_age
                .is_some_and(|age| now.duration_since(entry.last_used).is_ok_and(|d| d > age));
            let too_many = max_items.is_some_and(|items| kept >= items);
            let too_big = max_bytes.is_some_and(|bytes| kept_bytes + entry.size > bytes);
            if too_old || too_many || too_big {
                store.remove(&entry.key)?;
                removed += 1;
            } else {
                kept += 1;
                kept_bytes += entry.size;
            }
        }
        Ok(removed)
    }

    /// Hits and misses since this `Memory` was created, and what the store holds.
    ///
    /// # Errors
    /// When the store cannot be opened or listed.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// let dir = tempfile::tempdir()?;
    /// let memory = Memory::new(dir.path());
    /// memory.call(&F, &1_u8, || 1_u8);
    /// memory.call(&F, &1_u8, || 1_u8);
    /// let stats = memory.stats()?;
    /// assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Result<MemoryStats, MemoryError> {
        let entries = self.require_store()?.entries()?;
        Ok(MemoryStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: entries.len(),
            bytes: entries.iter().map(|e| e.size).sum(),
        })
    }
}

/// Whether `store` holds an entry under `key` whose header says it would answer a call
/// of `function` returning the type whose fingerprint is `result_type`: whole, of that
/// type, neither expired nor refused by the function's validation. Reads the header alone.
fn holds_entry(
    store: &Arc<dyn Store>,
    key: &Key,
    function: &FunctionId,
    result_type: Option<u64>,
) -> bool {
    match store.head(key, HEADER) {
        Ok(Some((head, total))) => Header::read(&head).is_ok_and(|header| {
            header.answers(total, result_type) && function.accepts(&header.meta())
        }),
        _ => false,
    }
}

/// Whether `entry` is still valid for `function` (its expiry and validation); an entry
/// whose header cannot be read is left for decoding to report.
fn still_valid(entry: &[u8], function: &FunctionId) -> bool {
    Header::read(entry).map_or(true, |header| function.accepts(&header.meta()))
}

/// A call whose key is known: the result of [`Memory::prepare`].
#[derive(Debug)]
#[must_use = "a prepared call does nothing until it is run"]
pub struct PreparedCall<'m> {
    memory: &'m Memory,
    function: FunctionId,
    /// `None` when the call runs uncached (no store, or arguments that cannot be hashed).
    target: Option<(&'m Arc<dyn Store>, Key)>,
}

impl<'m> PreparedCall<'m> {
    /// The stored result, or `compute`'s, stored for next time.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// assert_eq!(memory.prepare(&F, &1_u8).run(|| 2_u8), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run<R>(self, compute: impl FnOnce() -> R) -> R
    where
        R: Serialize + DeserializeOwned + 'static,
    {
        let memory = self.memory;
        let Some((store, key)) = self.target else {
            return memory.compute_logged(&self.function, compute).0;
        };
        if let Some(result) = memory.hit(store, &self.function, &key) {
            return result;
        }
        memory.misses.fetch_add(1, Ordering::Relaxed);
        let (result, took) = memory.compute_logged(&self.function, compute);
        memory.save(store, &self.function, &key, &result, took);
        result
    }

    /// Computes the result again and stores it over what was stored, whatever that was:
    /// a forced refresh (`name::cache().call(args)` of a `#[cache]` function).
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// assert_eq!(memory.prepare(&F, &1_u8).run(|| 2_u8), 2);
    /// assert_eq!(memory.prepare(&F, &1_u8).recompute(|| 3_u8), 3);
    /// assert_eq!(memory.prepare(&F, &1_u8).run(|| 4_u8), 3, "the refreshed result");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recompute<R>(self, compute: impl FnOnce() -> R) -> R
    where
        R: Serialize + DeserializeOwned + 'static,
    {
        let memory = self.memory;
        let (result, took) = memory.compute_logged(&self.function, compute);
        if let Some((store, key)) = self.target {
            memory.misses.fetch_add(1, Ordering::Relaxed);
            memory.save(store, &self.function, &key, &result, took);
        }
        result
    }

    /// [`recompute`](Self::recompute) for a computation that can fail: an `Ok` result
    /// replaces what was stored; an `Err` is returned and the stored result is kept.
    ///
    /// # Errors
    /// `compute`'s own error; it is not stored.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// assert_eq!(memory.prepare(&F, &1_u8).recompute_fallible(|| Ok::<u8, String>(5)), Ok(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recompute_fallible<T, E>(self, compute: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let memory = self.memory;
        let (result, took) = memory.compute_logged(&self.function, compute);
        let result = result?;
        if let Some((store, key)) = self.target {
            memory.misses.fetch_add(1, Ordering::Relaxed);
            memory.save(store, &self.function, &key, &result, took);
        }
        Ok(result)
    }

    /// [`run`](Self::run) for a computation that can fail: only an `Ok` result is stored
    /// (joblib never stores an exception), so a failure is computed again at the next
    /// call, once its cause may be gone. What `#[cache]` expands to for a function that
    /// returns `Result`, unless asked `errors = true`. The stored value is the `T`, so
    /// `E` need not be serializable.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let failed: Result<u8, String> = memory.prepare(&F, &1_u8).run_fallible(|| Err("offline".into()));
    /// assert!(failed.is_err());
    /// assert!(!memory.check_call_in_cache(&F, &1_u8), "a failure is not stored");
    /// let fixed: Result<u8, String> = memory.prepare(&F, &1_u8).run_fallible(|| Ok(2));
    /// assert_eq!(fixed, Ok(2));
    /// assert!(memory.check_call_in_cache(&F, &1_u8));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `compute`'s own error, when it fails; it is not stored.
    pub fn run_fallible<T, E>(self, compute: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let memory = self.memory;
        let Some((store, key)) = self.target else {
            return memory.compute_logged(&self.function, compute).0;
        };
        if let Some(result) = memory.hit::<T>(store, &self.function, &key) {
            return Ok(result);
        }
        memory.misses.fetch_add(1, Ordering::Relaxed);
        let (result, took) = memory.compute_logged(&self.function, compute);
        let result = result?;
        memory.save(store, &self.function, &key, &result, took);
        Ok(result)
    }

    /// [`shelve`](Self::shelve) for a computation that can fail: an `Ok` result is
    /// stored and shelved, an `Err` is returned and not stored.
    ///
    /// # Errors
    /// [`MemoryError::Encode`] if the result cannot be serialized; `compute`'s own error
    /// comes back inside `Ok`.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let shelved = memory.prepare(&F, &1_u8).shelve_fallible(|| Ok::<u8, String>(2))?;
    /// assert_eq!(shelved.map(|s| s.get().ok()), Ok(Some(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shelve_fallible<T, E>(
        self,
        compute: impl FnOnce() -> Result<T, E>,
    ) -> Result<Result<Shelved<'m, T>, E>, MemoryError>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let memory = self.memory;
        let result_type = fingerprint::<T>();
        let Some((store, key)) = self.target else {
            return match memory.compute_logged(&self.function, compute).0 {
                Ok(result) => Ok(Ok(Shelved::kept(
                    memory,
                    None,
                    encode_entry(&result, Framing::now(result_type))?.concatenated(),
                ))),
                Err(err) => Ok(Err(err)),
            };
        };
        if holds_entry(store, &key, &self.function, Some(result_type)) {
            memory.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Ok(Shelved::stored(memory, key)));
        }
        memory.misses.fetch_add(1, Ordering::Relaxed);
        let (result, took) = memory.compute_logged(&self.function, compute);
        let result = match result {
            Ok(result) => result,
            Err(err) => return Ok(Err(err)),
        };
        if memory.save(store, &self.function, &key, &result, took) {
            Ok(Ok(Shelved::stored(memory, key)))
        } else {
            Ok(Ok(Shelved::kept(
                memory,
                Some(key),
                encode_entry(&result, Framing::now(result_type))?.concatenated(),
            )))
        }
    }

    /// A [`Shelved`] handle to the stored result, computing and storing it first if
    /// needed; see [`Memory::call_and_shelve`].
    ///
    /// # Errors
    /// [`MemoryError::Encode`] if the result cannot be serialized.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let shelved = memory.prepare(&F, &1_u8).shelve(|| 2_u8)?;
    /// assert_eq!(shelved.get()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shelve<R>(self, compute: impl FnOnce() -> R) -> Result<Shelved<'m, R>, MemoryError>
    where
        R: Serialize + DeserializeOwned + 'static,
    {
        let memory = self.memory;
        let Some((store, key)) = self.target else {
            let (result, _) = memory.compute_logged(&self.function, compute);
            return Ok(Shelved::kept(
                memory,
                None,
                encode_entry(&result, Framing::now(fingerprint::<R>()))?.concatenated(),
            ));
        };
        if holds_entry(store, &key, &self.function, Some(fingerprint::<R>())) {
            memory.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Shelved::stored(memory, key));
        }
        memory.misses.fetch_add(1, Ordering::Relaxed);
        let (result, took) = memory.compute_logged(&self.function, compute);
        if memory.save(store, &self.function, &key, &result, took) {
            Ok(Shelved::stored(memory, key))
        } else {
            Ok(Shelved::kept(
                memory,
                Some(key),
                encode_entry(&result, Framing::now(fingerprint::<R>()))?.concatenated(),
            ))
        }
    }
}
