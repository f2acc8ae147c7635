//! Which function a cache entry belongs to: its path, its name, a hash of its code, and
//! the type it returns.

use crate::entry::{EntryMeta, CODEC_VERSION};
use crate::hash::{hash_parts, name_digest, KeyPart, SerdePart};
use crate::store::Key;
use crate::MemoryError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// The identity of a cached function, as the `#[cache]` macro records it.
///
/// `code_hash` is a hash of the function's tokens taken when the macro expands it, so an
/// edited body (or signature) is a different function with its own entries, while an
/// edited comment (not a token) or doc comment (stripped first) is not.
///
/// Two functions share entries only if they are the same item: the macro records the
/// function's full path, enclosing functions included (two `fn helper` local to two
/// different functions of one module are two functions), and the fingerprint of the
/// type it returns, checked before any stored result is decoded.
///
/// ```
/// use parmemo_memory::FunctionId;
/// static F: FunctionId = FunctionId::new("my_crate::stats", "median", 0xC0DE);
/// assert_eq!(F.qualified_name(), "my_crate::stats::median");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FunctionId {
    module: &'static str,
    name: &'static str,
    code_hash: u64,
    /// The full path, enclosing functions included (a type name, so known at run time).
    path: Option<fn() -> &'static str>,
    /// The fingerprint of the type the function returns.
    result_type: Option<fn() -> u64>,
    /// How long a stored result stays valid.
    expires_after: Option<Duration>,
    /// Whether a stored result may answer a call.
    validate: Option<fn(&EntryMeta) -> bool>,
    /// Whether the entries of the function's other code versions stay when this one
    /// stores its first result.
    keep_versions: bool,
}

impl PartialEq for FunctionId {
    fn eq(&self, other: &Self) -> bool {
        self.qualified_name() == other.qualified_name() && self.code_hash == other.code_hash
    }
}

impl Eq for FunctionId {}

impl std::hash::Hash for FunctionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.qualified_name().hash(state);
        self.code_hash.hash(state);
    }
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
            path: None,
            result_type: None,
            expires_after: None,
            validate: None,
            keep_versions: false,
        }
    }

    /// This identity with the entries of its other code versions kept when it stores its
    /// first result (by default they are removed, as joblib clears a function whose code
    /// changed; [`Memory::keep_versions`](crate::Memory::keep_versions) keeps them for
    /// every function of a cache). `#[cache(MEMORY, keep_versions)]` sets it: for a
    /// function that two builds share a cache for on purpose.
    ///
    /// ```
    /// use parmemo_memory::FunctionId;
    /// static F: FunctionId = FunctionId::new("m", "f", 2).keeping_versions();
    /// assert!(F.keeps_versions());
    /// ```
    #[must_use]
    pub const fn keeping_versions(self) -> Self {
        FunctionId {
            keep_versions: true,
            ..self
        }
    }

    /// Whether the entries of this function's other code versions are kept (see
    /// [`keeping_versions`](Self::keeping_versions)).
    #[must_use]
    pub const fn keeps_versions(&self) -> bool {
        self.keep_versions
    }

    /// This identity with stored results valid for `lifetime` after they were stored;
    /// older ones are computed again (and replace the old), as joblib's
    /// `cache_validation_callback=expires_after(...)`. `#[cache(MEMORY, expires_after =
    /// Duration::from_secs(3600))]` sets it.
    ///
    /// ```
    /// use parmemo_memory::FunctionId;
    /// use std::time::Duration;
    /// static QUOTES: FunctionId =
    ///     FunctionId::new("m", "quotes", 1).expires_after(Duration::from_secs(600));
    /// # let _ = &QUOTES;
    /// ```
    #[must_use]
    pub const fn expires_after(self, lifetime: Duration) -> Self {
        FunctionId {
            expires_after: Some(lifetime),
            ..self
        }
    }

    /// This identity with a validation callback: a stored result answers a call only if
    /// `validate` accepts its [`EntryMeta`] (joblib's `cache_validation_callback`); else it
    /// is computed again. `#[cache(MEMORY, validate = path::to::fn)]` sets it.
    ///
    /// ```
    /// use parmemo_memory::{EntryMeta, FunctionId};
    /// use std::time::Duration;
    /// // joblib's example: only results that took more than 0.1 s are worth keeping.
    /// fn slow_enough(meta: &EntryMeta) -> bool {
    ///     meta.compute_time > Duration::from_millis(100)
    /// }
    /// static F: FunctionId = FunctionId::new("m", "f", 1).validated_by(slow_enough);
    /// # let _ = &F;
    /// ```
    #[must_use]
    pub const fn validated_by(self, validate: fn(&EntryMeta) -> bool) -> Self {
        FunctionId {
            validate: Some(validate),
            ..self
        }
    }

    /// Whether a stored result with `meta` may answer a call: not expired, and accepted
    /// by the validation callback.
    pub(crate) fn accepts(&self, meta: &EntryMeta) -> bool {
        let fresh = self.expires_after.is_none_or(|lifetime| {
            SystemTime::now()
                .duration_since(meta.stored_at)
                .map_or(true, |age| age <= lifetime)
        });
        fresh && self.validate.is_none_or(|validate| validate(meta))
    }

    /// This identity with the function's full path given by `path` (what `#[cache]`
    /// records: the type name of an item generated beside the function, which names the
    /// functions that enclose it).
    ///
    /// ```
    /// use parmemo_memory::FunctionId;
    /// static F: FunctionId = FunctionId::new("m", "f", 1).within(|| "m::outer::f");
    /// assert_eq!(F.qualified_name(), "m::outer::f");
    /// assert_ne!(F, FunctionId::new("m", "f", 1));
    /// ```
    #[must_use]
    pub const fn within(self, path: fn() -> &'static str) -> Self {
        FunctionId {
            path: Some(path),
            ..self
        }
    }

    /// This identity with the type the function returns, so that
    /// [`check_call_in_cache`](crate::Memory::check_call_in_cache) can tell an entry of
    /// another type from a usable one.
    ///
    /// ```
    /// use parmemo_memory::FunctionId;
    /// static F: FunctionId = FunctionId::new("m", "f", 1).returning::<Vec<f64>>();
    /// assert_eq!(F.name(), "f");
    /// ```
    #[must_use]
    pub const fn returning<R: Serialize + DeserializeOwned>(self) -> Self {
        FunctionId {
            result_type: Some(crate::shape::fingerprint::<R> as fn() -> u64),
            ..self
        }
    }

    /// The fingerprint of the recorded result type, if one was recorded.
    pub(crate) fn result_type(&self) -> Option<u64> {
        self.result_type.map(|fingerprint| fingerprint())
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

    /// The function's path, `module::name` or, for a function local to another, with the
    /// enclosing functions: `module::outer::name`; what joblib logs.
    ///
    /// ```
    /// # use parmemo_memory::FunctionId;
    /// assert_eq!(FunctionId::new("a::b", "f", 1).qualified_name(), "a::b::f");
    /// ```
    #[must_use]
    pub fn qualified_name(&self) -> String {
        match self.path {
            Some(path) => path().to_owned(),
            None => format!("{}::{}", self.module, self.name),
        }
    }

    /// The key prefix shared by every entry of this function, whatever its code version:
    /// a digest of its [`qualified_name`](Self::qualified_name).
    ///
    /// ```
    /// # use parmemo_memory::FunctionId;
    /// let f = FunctionId::new("m", "f", 1);
    /// assert_eq!(&f.key(&1_u8)?.as_bytes()[..8], &f.name_prefix());
    /// # Ok::<(), parmemo_memory::MemoryError>(())
    /// ```
    #[must_use]
    pub fn name_prefix(&self) -> [u8; 8] {
        match self.path {
            Some(path) => name_digest(&[path()]),
            None => name_digest(&[self.module, "::", self.name]),
        }
        .to_le_bytes()
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
