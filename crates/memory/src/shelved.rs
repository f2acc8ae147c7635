//! `Shelved`: a handle to a stored result, loaded when asked for.

use crate::entry::decode_entry;
use crate::shape::fingerprint;
use crate::store::Entry;
use crate::store::Key;
use crate::{Memory, MemoryError};
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;

/// A result left in the cache until it is needed: joblib's `MemorizedResult`, returned
/// by `call_and_shelve`. Useful to pass many large results around (to workers, say)
/// without holding them in memory.
///
/// ```
/// use parmemo_memory::{FunctionId, Memory};
/// static F: FunctionId = FunctionId::new("doc", "big", 1);
/// let dir = tempfile::tempdir()?;
/// let memory = Memory::new(dir.path());
/// let shelved = memory.call_and_shelve(&F, &10_u32, || vec![1_u8; 10])?;
/// assert_eq!(shelved.get()?.len(), 10);
/// shelved.clear()?;
/// assert!(shelved.get().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Shelved<'m, R> {
    memory: &'m Memory,
    key: Option<Key>,
    /// The encoded result, when it could not be stored (joblib's `NotMemorizedResult`).
    kept: Option<Entry>,
    result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Shelved<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shelved")
            .field("key", &self.key)
            .field("kept_in_memory", &self.kept.is_some())
            .finish_non_exhaustive()
    }
}

impl<'m, R: DeserializeOwned + 'static> Shelved<'m, R> {
    pub(crate) fn stored(memory: &'m Memory, key: Key) -> Self {
        Shelved {
            memory,
            key: Some(key),
            kept: None,
            result: PhantomData,
        }
    }

    pub(crate) fn kept(memory: &'m Memory, key: Option<Key>, entry: Vec<u8>) -> Self {
        Shelved {
            memory,
            key,
            kept: Some(Entry::Owned(entry)),
            result: PhantomData,
        }
    }

    /// The result: loaded from the store (or from memory when it could not be stored).
    ///
    /// # Errors
    /// [`MemoryError::Missing`] once the entry was cleared or evicted,
    /// [`MemoryError::Corrupt`] if it was damaged meanwhile.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let shelved = memory.call_and_shelve(&F, &2_u8, || "four".to_owned())?;
    /// assert_eq!(shelved.get()?, "four");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<R, MemoryError> {
        match (&self.kept, &self.key) {
            // Verified (`true`): nothing comes back unchecked.
            (Some(entry), key) => decode_entry(entry, fingerprint::<R>(), true)
                .map(|(value, _)| value)
                .map_err(|reason| MemoryError::Corrupt {
                    key: key.map_or_else(|| "(not stored)".to_owned(), |k| k.to_hex()),
                    reason: reason.to_string(),
                }),
            (None, Some(key)) => self.memory.load_key(key),
            (None, None) => Err(MemoryError::Missing {
                key: "(not stored)".to_owned(),
            }),
        }
    }

    /// The key the result is stored under, if it was stored.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let shelved = memory.call_and_shelve(&F, &2_u8, || 4_u8)?;
    /// assert_eq!(shelved.key(), Some(F.key(&2_u8)?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn key(&self) -> Option<Key> {
        self.key
    }

    /// Removes the stored result.
    ///
    /// # Errors
    /// When the store cannot be written.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let shelved = memory.call_and_shelve(&F, &2_u8, || 4_u8)?;
    /// shelved.clear()?;
    /// assert!(!memory.check_call_in_cache(&F, &2_u8));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<(), MemoryError> {
        match &self.key {
            Some(key) => self.memory.remove_key(key),
            None => Ok(()),
        }
    }
}
