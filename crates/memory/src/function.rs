//! The operations on one cached function's entries.

use crate::shelved::Shelved;
use crate::{FunctionId, Memory, MemoryError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One function's entries in a [`Memory`]: what `#[cache]`'s generated
/// `name::cache()` handle offers with the function's own argument types.
///
/// ```
/// use parmemo_memory::{FunctionId, Memory};
/// static F: FunctionId = FunctionId::new("doc", "f", 1);
/// let dir = tempfile::tempdir()?;
/// let memory = Memory::new(dir.path());
/// let f = memory.function(&F);
/// assert!(f.is_empty()?);
/// memory.call(&F, &7_u8, || 49_u16);
/// assert!(f.check_call_in_cache(&7_u8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CachedFunction<'m> {
    memory: &'m Memory,
    id: &'m FunctionId,
}

impl<'m> CachedFunction<'m> {
    pub(crate) fn new(memory: &'m Memory, id: &'m FunctionId) -> Self {
        CachedFunction { memory, id }
    }

    /// The function's identity.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let memory = Memory::new(tempfile::tempdir()?.path());
    /// assert_eq!(memory.function(&F).id().name(), "f");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> &'m FunctionId {
        self.id
    }

    /// Removes every entry of this function, from every version of its code; returns
    /// how many.
    ///
    /// # Errors
    /// When the store cannot be opened or written.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// memory.call(&F, &1_u8, || 1_u8);
    /// assert_eq!(memory.function(&F).clear()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<usize, MemoryError> {
        self.memory
            .store_for(self.id)?
            .remove_prefix(&self.id.name_prefix())
    }

    /// How many results of this version of the function are stored.
    ///
    /// # Errors
    /// When the store cannot be opened or listed.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// memory.call(&F, &1_u8, || 1_u8);
    /// assert_eq!(memory.function(&F).len()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> Result<usize, MemoryError> {
        self.memory
            .store_for(self.id)?
            .count_prefix(&self.id.version_prefix())
    }

    /// Whether no result of this version of the function is stored.
    ///
    /// # Errors
    /// As [`len`](Self::len).
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// assert!(Memory::new(dir.path()).function(&F).is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, MemoryError> {
        Ok(self.len()? == 0)
    }

    /// Whether a call with `arguments` would be answered from the cache.
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// assert!(!memory.function(&F).check_call_in_cache(&1_u8));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_call_in_cache<A: Serialize + ?Sized>(&self, arguments: &A) -> bool {
        self.memory.check_call_in_cache(self.id, arguments)
    }

    /// [`Memory::call_and_shelve`] for this function.
    ///
    /// # Errors
    /// As [`Memory::call_and_shelve`].
    ///
    /// ```
    /// # use parmemo_memory::{FunctionId, Memory};
    /// # static F: FunctionId = FunctionId::new("doc", "f", 1);
    /// # let dir = tempfile::tempdir()?;
    /// # let memory = Memory::new(dir.path());
    /// let shelved = memory.function(&F).call_and_shelve(&2_u8, || 4_u8)?;
    /// assert_eq!(shelved.get()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_and_shelve<A, R>(
        &self,
        arguments: &A,
        compute: impl FnOnce() -> R,
    ) -> Result<Shelved<'m, R>, MemoryError>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.memory.call_and_shelve(self.id, arguments, compute)
    }
}
