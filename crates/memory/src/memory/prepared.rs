//! A call whose key is known, run, recomputed or shelved.

use super::{call::holds_entry, Memory};

use crate::entry::{encode_entry, Framing};
use crate::shape::fingerprint;
use crate::shelved::Shelved;
use crate::store::{Key, Store};
use crate::tally::CallOutcome;
use crate::{FunctionId, MemoryError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A call whose key is known: the result of [`Memory::prepare`].
#[derive(Debug)]
#[must_use = "a prepared call does nothing until it is run"]
pub struct PreparedCall<'m> {
    pub(super) memory: &'m Memory,
    pub(super) function: FunctionId,
    /// `None` when the call runs uncached (no store, or arguments that cannot be hashed).
    pub(super) target: Option<(&'m Arc<dyn Store>, Key)>,
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
            memory.count(CallOutcome::Uncached);
            return memory.compute_logged(&self.function, compute).0;
        };
        if let Some(result) = memory.hit(store, &self.function, &key) {
            return result;
        }
        memory.count(CallOutcome::Miss);
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
            memory.count(CallOutcome::Miss);
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
            memory.count(CallOutcome::Miss);
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
            memory.count(CallOutcome::Uncached);
            return memory.compute_logged(&self.function, compute).0;
        };
        if let Some(result) = memory.hit::<T>(store, &self.function, &key) {
            return Ok(result);
        }
        memory.count(CallOutcome::Miss);
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
            memory.count(CallOutcome::Uncached);
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
            memory.count(CallOutcome::Hit);
            return Ok(Ok(Shelved::stored(memory, key)));
        }
        memory.count(CallOutcome::Miss);
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
            memory.count(CallOutcome::Uncached);
            let (result, _) = memory.compute_logged(&self.function, compute);
            return Ok(Shelved::kept(
                memory,
                None,
                encode_entry(&result, Framing::now(fingerprint::<R>()))?.concatenated(),
            ));
        };
        if holds_entry(store, &key, &self.function, Some(fingerprint::<R>())) {
            memory.count(CallOutcome::Hit);
            return Ok(Shelved::stored(memory, key));
        }
        memory.count(CallOutcome::Miss);
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
