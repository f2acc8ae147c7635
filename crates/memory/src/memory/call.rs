//! The call protocol: the key, a hit (load and check), a miss (compute, store), and the
//! warnings on the way.

use super::prepared::PreparedCall;
use super::Memory;
use crate::entry::{decode_entry, encode_entry, EntryMeta, Framing, Header, Unusable, HEADER};
use crate::shape::fingerprint;
use crate::shelved::Shelved;
use crate::store::{Key, Store};
use crate::tally::CallOutcome;
use crate::verify;
use crate::warn::{line, warn};
use crate::{FunctionId, MemoryError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

impl Memory {
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

    pub(super) fn store_and_key<A: Serialize + ?Sized>(
        &self,
        function: &FunctionId,
        arguments: &A,
    ) -> Option<(&Arc<dyn Store>, Key)> {
        self.store_and_key_with(function, || function.key(arguments))
    }

    pub(super) fn store_and_key_with(
        &self,
        function: &FunctionId,
        key: impl FnOnce() -> Result<Key, MemoryError>,
    ) -> Option<(&Arc<dyn Store>, Key)> {
        let store = self.store()?;
        store.name_function(function);
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
    pub(super) fn compute_logged<R>(
        &self,
        function: &FunctionId,
        compute: impl FnOnce() -> R,
    ) -> (R, Duration) {
        if self.verbose > 0 {
            line(&format!(
                "[Memory] Calling {}...",
                function.qualified_name()
            ));
        }
        let started = Instant::now();
        let result = compute();
        let took = started.elapsed();
        if self.verbose > 0 {
            let seconds = took.as_secs_f64();
            line(&format!(
                "_____{} - {seconds:.1}s, {:.1}min",
                function.name(),
                seconds / 60.0
            ));
        }
        (result, took)
    }

    /// The stored result under `key`, counted and logged as a hit; `None` for a miss.
    pub(super) fn hit<R: DeserializeOwned + 'static>(
        &self,
        store: &Arc<dyn Store>,
        function: &FunctionId,
        key: &Key,
    ) -> Option<R> {
        let started = Instant::now();
        let result = self.load(store, function, key)?;
        self.count(CallOutcome::Hit);
        if self.verbose >= 2 {
            line(&format!(
                "[Memory] Loaded {} from the cache ({:.1?})",
                function.qualified_name(),
                started.elapsed()
            ));
        }
        Some(result)
    }

    /// The stored result under `key`, or `None` (a damaged entry, or one of another
    /// type, is reported, removed, and so recomputed and rewritten by the caller).
    pub(super) fn load<R: DeserializeOwned + 'static>(
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

    pub(super) fn save<R: Serialize + DeserializeOwned + 'static>(
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
        } else {
            self.clear_older_versions(store, function);
        }
        stored.is_ok()
    }

    /// After the first result this `Memory` stores for a version of `function`, the
    /// entries of the function's other versions are removed (unless `keep_versions`).
    fn clear_older_versions(&self, store: &Arc<dyn Store>, function: &FunctionId) {
        if self.keep_versions || function.keeps_versions() {
            return;
        }
        let version = function.version_prefix();
        let first = self
            .cleared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(version);
        if !first {
            return;
        }
        match store.remove_other_versions(&version) {
            Ok((0, _)) => {}
            Ok((removed, bytes)) => warn(&format!(
                "{} changed: removed {removed} entries ({}) of its previous versions \
                 (Memory::keep_versions(true) keeps them)",
                function.name(),
                crate::warn::human_bytes(bytes)
            )),
            Err(err) => warn(&format!(
                "{} changed, and the entries of its previous versions could not be removed: \
                 {err}",
                function.name()
            )),
        }
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
}

/// Whether `store` holds an entry under `key` whose header says it would answer a call
/// of `function` returning the type whose fingerprint is `result_type`: whole, of that
/// type, neither expired nor refused by the function's validation. Reads the header alone.
pub(super) fn holds_entry(
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
pub(super) fn still_valid(entry: &[u8], function: &FunctionId) -> bool {
    Header::read(entry).map_or(true, |header| function.accepts(&header.meta()))
}
