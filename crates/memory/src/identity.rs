//! Which function a cache entry belongs to: its path, its name and a hash of its code.

use crate::codec::CODEC_VERSION;
use crate::hash::{hash_parts, name_digest, KeyPart, SerdePart};
use crate::store::Key;
use crate::MemoryError;
use serde::Serialize;

/// The identity of a cached function, as the `#[cache]` macro records it.
///
/// `code_hash` is a hash of the function's tokens taken when the macro expands it, so an
/// edited body (or signature) is a different function with its own entries, while an
/// edited comment (not a token) or doc comment (stripped first) is not.
///
/// ```
/// use parmemo_memory::FunctionId;
/// static F: FunctionId = FunctionId::new("my_crate::stats", "median", 0xC0DE);
/// assert_eq!(F.qualified_name(), "my_crate::stats::median");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionId {
    module: &'static str,
    name: &'static str,
    code_hash: u64,
}

impl FunctionId {
    /// The identity of function `name` in module `module` whose code hashes to
    /// `code_hash`.
    #[must_use]
    pub const fn new(module: &'static str, name: &'static str, code_hash: u64) -> Self {
        FunctionId {
            module,
            name,
            code_hash,
        }
    }

    /// The function's name, as written.
    ///
    /// ```
    /// # use parmemo_memory::FunctionId;
    /// assert_eq!(FunctionId::new("m", "f", 1).name(), "f");
    /// ```
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `module::name`, as joblib names a function in its logs.
    ///
    /// ```
    /// # use parmemo_memory::FunctionId;
    /// assert_eq!(FunctionId::new("a::b", "f", 1).qualified_name(), "a::b::f");
    /// ```
    #[must_use]
    pub fn qualified_name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// The key prefix shared by every entry of this function, whatever its code version.
    pub(crate) fn name_prefix(&self) -> [u8; 8] {
        name_digest(self.module, self.name).to_le_bytes()
    }

    /// The key prefix of this function at this code version and codec version.
    pub(crate) fn version_prefix(&self) -> [u8; 16] {
        let mut prefix = [0; 16];
        prefix[..8].copy_from_slice(&self.name_prefix());
        let version = self.code_hash ^ u64::from(CODEC_VERSION).rotate_left(48);
        prefix[8..].copy_from_slice(&version.to_le_bytes());
        prefix
    }

    /// The store key of a call of this function with `arguments`.
    ///
    /// # Errors
    /// [`MemoryError::Encode`] if an argument's `Serialize` implementation fails.
    ///
    /// ```
    /// # use parmemo_memory::FunctionId;
    /// let f = FunctionId::new("m", "f", 1);
    /// assert_eq!(f.key(&(1.5_f64, "x"))?, f.key(&(1.5_f64, "x"))?);
    /// assert_ne!(f.key(&(1.5_f64, "x"))?, f.key(&(1.5_f64, "y"))?);
    /// # Ok::<(), parmemo_memory::MemoryError>(())
    /// ```
    pub fn key<A: Serialize + ?Sized>(&self, arguments: &A) -> Result<Key, MemoryError> {
        self.key_of_parts(&[&SerdePart(arguments)])
    }

    /// The store key of a call whose arguments come as key parts (what `#[cache]`
    /// expands to); equal to [`key`](Self::key) of the tuple of the same arguments.
    ///
    /// # Errors
    /// [`MemoryError::Encode`] if an argument's `Serialize` implementation fails.
    #[doc(hidden)]
    pub fn key_of_parts(&self, parts: &[&dyn KeyPart]) -> Result<Key, MemoryError> {
        let mut key = [0; 32];
        key[..16].copy_from_slice(&self.version_prefix());
        key[16..].copy_from_slice(&hash_parts(parts)?.to_le_bytes());
        Ok(Key(key))
    }
}
