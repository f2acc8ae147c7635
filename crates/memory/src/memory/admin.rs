//! The cache itself: per-function handles, clearing, eviction, counts.

use super::{Memory, MemoryStats};
use crate::function::CachedFunction;
use crate::verify;
use crate::{FunctionId, MemoryError};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

impl Memory {
    /// Waits until the background work of this process's cache is done: the checks of the
    /// mapped hits made so far (see [`verify_mapped_arrays`](Self::verify_mapped_arrays)),
    /// after which any damaged entry those hits served has been reported and removed; and
    /// the evictions a size limit asked for (see [`bytes_limit`](Self::bytes_limit)),
    /// after which the store is within its limits. For a program that wants to know,
    /// before it reports its results, that they came from sound entries.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let memory = parmemo_memory::Memory::new(dir.path());
    /// memory.wait_for_checks(); // nothing was checked: returns at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_checks(&self) {
        verify::settled();
        if let Some(store) = self.store.get().and_then(Option::as_ref) {
            store.settle();
        }
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

    /// Hits and misses since this `Memory` was created (with those of this process's
    /// worker processes on the same directory: see [`MemoryStats`]), and what the store
    /// holds.
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
        let (worker_hits, worker_misses) = self.worker_calls();
        Ok(MemoryStats {
            hits: self.hits.load(Ordering::Relaxed) + worker_hits,
            misses: self.misses.load(Ordering::Relaxed) + worker_misses,
            worker_hits,
            worker_misses,
            entries: entries.len(),
            bytes: entries.iter().map(|e| e.size).sum(),
        })
    }
}
