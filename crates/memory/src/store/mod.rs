//! Where entries live: a small interface and its two implementations.

mod bounded;
mod dir;
mod filesystem;
mod layout;
mod summary;

pub(crate) use self::bounded::{Bounded, Limits};
#[cfg(feature = "sled")]
mod sled;

pub use self::dir::DirStore;
#[cfg(feature = "sled")]
pub use self::sled::SledStore;
pub use self::summary::{FunctionSummary, VersionSummary};

use crate::{FunctionId, MemoryError};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// Entries at least this large are mapped by a store that can, rather than read: mapping
/// costs a few system calls, reading costs a copy of every byte. The entry format aligns
/// arrays to pages only in entries this large.
pub(crate) const MAPPED_FROM: u64 = 1 << 20;

/// The key of one cached call: the function's name digest (8 bytes), its code and codec
/// version (8 bytes), and the XXH3-128 of its arguments (16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub(crate) [u8; 32]);

impl Key {
    /// The key's bytes.
    ///
    /// ```
    /// let key = parmemo_memory::FunctionId::new("m", "f", 1).key(&1_u8)?;
    /// assert_eq!(key.as_bytes().len(), 32);
    /// # Ok::<(), parmemo_memory::MemoryError>(())
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as lowercase hex, as logs and file names show it.
    ///
    /// ```
    /// let key = parmemo_memory::FunctionId::new("m", "f", 1).key(&1_u8)?;
    /// assert_eq!(key.to_hex().len(), 64);
    /// # Ok::<(), parmemo_memory::MemoryError>(())
    /// ```
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.to_hex())
    }
}

/// The `N` bytes spelled by `text`, exactly `2 * N` hex digits; `None` for anything else
/// (what the store reads back from its own file and folder names).
pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A stored entry as a store hands it out: its bytes, read into memory or mapped from
/// the file that holds them (then the arrays of a result come back as slices of the
/// mapping, without a copy).
#[derive(Debug)]
pub enum Entry {
    /// The entry's bytes, read.
    Owned(Vec<u8>),
    /// The entry's file, mapped read-only; the store never writes an entry in place.
    Mapped {
        /// The mapping of the whole entry.
        map: Arc<memmap2::Mmap>,
        /// The file it maps, so that another process can map it too.
        file: Arc<std::fs::File>,
    },
}

impl Entry {
    /// The entry's bytes.
    ///
    /// ```
    /// let entry = parmemo_memory::Entry::Owned(vec![1, 2]);
    /// assert_eq!(entry.bytes(), &[1, 2]);
    /// ```
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Entry::Owned(bytes) => bytes,
            Entry::Mapped { map, .. } => map,
        }
    }

    /// Whether the bytes are a mapping of the entry's file.
    #[must_use]
    pub fn is_mapped(&self) -> bool {
        matches!(self, Entry::Mapped { .. })
    }

    /// The `len` bytes at `offset` as an array's memory: a slice of the mapping, or a copy.
    pub(crate) fn array(
        &self,
        offset: usize,
        len: usize,
    ) -> std::io::Result<parmemo_shared::attach::Attachment> {
        use parmemo_shared::attach::Attachment;
        match self {
            Entry::Owned(bytes) => bytes
                .get(offset..offset + len)
                .map(Attachment::copied)
                .ok_or_else(|| std::io::Error::other("outside the entry")),
            Entry::Mapped { map, file } => {
                Attachment::within(Arc::clone(map), Some(Arc::clone(file)), offset, len)
            }
        }
    }
}

/// What [`Store::entries`] reports of each entry, for eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's key.
    pub key: Key,
    /// Its size in bytes, header included.
    pub size: u64,
    /// When it was last written or read.
    pub last_used: SystemTime,
}

/// Where cache entries live. Implementations must make `put` visible to other processes
/// before returning (a process killed right after a cached call returns must find its
/// entry), and must never expose a half-written entry to `get`, from this process or
/// another. Whether `put` also survives a power loss is the store's choice: entries are
/// checksummed, so one lost or torn by a power loss reads as a miss, never as a result.
///
/// A store of your own, here entries in memory (for tests, or a process that wants a
/// cache that ends with it), plugged in with [`Memory::with_store`](crate::Memory::with_store):
///
/// ```
/// use parmemo_memory::{EntryInfo, FunctionId, Key, Memory, MemoryError, Store};
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use std::time::SystemTime;
///
/// #[derive(Debug, Default)]
/// struct InMemory(Mutex<HashMap<Key, (Vec<u8>, SystemTime)>>);
///
/// impl Store for InMemory {
///     fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, MemoryError> {
///         let mut entries = self.0.lock().unwrap();
///         Ok(entries.get_mut(key).map(|(entry, used)| {
///             *used = SystemTime::now();
///             entry.clone()
///         }))
///     }
///     fn put(&self, key: &Key, entry: &[u8]) -> Result<(), MemoryError> {
///         self.0.lock().unwrap().insert(*key, (entry.to_vec(), SystemTime::now()));
///         Ok(())
///     }
///     fn remove(&self, key: &Key) -> Result<(), MemoryError> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
///     fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
///         let mut entries = self.0.lock().unwrap();
///         let before = entries.len();
///         entries.retain(|key, _| !key.as_bytes().starts_with(prefix));
///         Ok(before - entries.len())
///     }
///     fn count_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
///         let entries = self.0.lock().unwrap();
///         Ok(entries.keys().filter(|key| key.as_bytes().starts_with(prefix)).count())
///     }
///     fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError> {
///         let entries = self.0.lock().unwrap();
///         Ok(entries
///             .iter()
///             .map(|(key, (entry, used))| EntryInfo { key: *key, size: entry.len() as u64, last_used: *used })
///             .collect())
///     }
///     fn clear(&self) -> Result<(), MemoryError> {
///         self.0.lock().unwrap().clear();
///         Ok(())
///     }
/// }
///
/// static SQUARE: FunctionId = FunctionId::new("docs", "square", 1);
/// let memory = Memory::with_store(Arc::new(InMemory::default()));
/// assert_eq!(memory.call(&SQUARE, &7_u64, || 49_u64), 49);
/// assert_eq!(memory.call(&SQUARE, &7_u64, || -> u64 { unreachable!("a hit") }), 49);
/// ```
pub trait Store: Send + Sync + fmt::Debug {
    /// Tells the store the name of the function whose keys start with
    /// `function`'s name prefix, before its entries are read or written: a store that
    /// shows its entries to people (folders named after functions) uses it. Called at
    /// every call, so it must be cheap once the function is known. The default ignores it.
    fn name_function(&self, function: &FunctionId) {
        let _ = function;
    }
    /// The entry stored under `key`, if any; records the use for eviction.
    ///
    /// # Errors
    /// When the underlying storage fails (not when the key is absent).
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, MemoryError>;
    /// The first `bytes` bytes of the entry under `key` (fewer if it is shorter) and its
    /// whole length, without reading the rest and without counting as a use: what
    /// `check_call_in_cache` reads. The default reads the whole entry; stores that can
    /// read a prefix override it.
    ///
    /// # Errors
    /// When the underlying storage fails (not when the key is absent).
    fn head(&self, key: &Key, bytes: usize) -> Result<Option<(Vec<u8>, u64)>, MemoryError> {
        Ok(self.get(key)?.map(|mut entry| {
            let total = entry.len() as u64;
            entry.truncate(bytes);
            (entry, total)
        }))
    }
    /// The entry stored under `key`, mapped from its file when the store can and the
    /// entry is large (a result's arrays then come back without a copy); records the use.
    /// The default reads it with [`get`](Self::get).
    ///
    /// # Errors
    /// When the underlying storage fails (not when the key is absent).
    fn fetch(&self, key: &Key) -> Result<Option<Entry>, MemoryError> {
        Ok(self.get(key)?.map(Entry::Owned))
    }
    /// The size and last use of the entry under `key`, without reading it or counting a
    /// use: what a size limit checks before it evicts an entry another process may have
    /// used since. The default reads the header with [`head`](Self::head) and reports no
    /// use (`UNIX_EPOCH`); stores that record uses override it.
    ///
    /// # Errors
    /// When the underlying storage fails (not when the key is absent).
    fn info(&self, key: &Key) -> Result<Option<EntryInfo>, MemoryError> {
        Ok(self.head(key, 0)?.map(|(_, size)| EntryInfo {
            key: *key,
            size,
            last_used: SystemTime::UNIX_EPOCH,
        }))
    }
    /// Stores `entry` under `key`, replacing any previous one.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), MemoryError>;
    /// Stores the entry made of `parts` one after the other (a result's header and
    /// payload, then its arrays), as [`put`](Self::put) would store their concatenation.
    /// The default concatenates them; stores that can write them in turn override it.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn put_parts(&self, key: &Key, parts: &[&[u8]]) -> Result<(), MemoryError> {
        self.put(key, &parts.concat())
    }
    /// Stores many entries at once, durably when it returns: a bulk import or a warm-up.
    /// The default stores them one by one; stores with a cheaper batch override it.
    ///
    /// # Errors
    /// When the underlying storage fails (entries before the failure may be stored).
    fn put_many(&self, entries: &[(Key, Vec<u8>)]) -> Result<(), MemoryError> {
        entries
            .iter()
            .try_for_each(|(key, entry)| self.put(key, entry))
    }
    /// Removes the entry under `key`; absent keys are not an error.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn remove(&self, key: &Key) -> Result<(), MemoryError>;
    /// Removes the entry under `key` and says whether this call removed it (`false` when
    /// it was absent, or another process removed it first): what a size limit counts.
    /// The default asks [`info`](Self::info) first, which two processes removing one
    /// entry at once can both pass; stores that can tell override it.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn remove_entry(&self, key: &Key) -> Result<bool, MemoryError> {
        let present = self.info(key)?.is_some();
        self.remove(key)?;
        Ok(present)
    }
    /// Removes every entry whose key starts with `prefix`; returns how many.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError>;
    /// Removes the entries of the function whose keys start with `version[..8]` (its
    /// name) but not with all of `version` (its code and codec version): the entries of
    /// its other versions. Returns how many were removed and their bytes. The default
    /// lists every entry; stores that keep a function's entries together override it.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn remove_other_versions(&self, version: &[u8; 16]) -> Result<(usize, u64), MemoryError> {
        let mut removed = (0, 0);
        for info in self.entries()? {
            let key = info.key.as_bytes();
            if key.starts_with(&version[..8]) && !key.starts_with(version) {
                self.remove(&info.key)?;
                removed.0 += 1;
                removed.1 += info.size;
            }
        }
        Ok(removed)
    }
    /// How many entries have keys starting with `prefix`.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError>;
    /// Every entry's key, size and last use.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError>;
    /// Removes every entry.
    ///
    /// # Errors
    /// When the underlying storage fails.
    fn clear(&self) -> Result<(), MemoryError>;
    /// Waits for the work the store does in the background to catch up (a size limit's
    /// evictions). The default has none.
    fn settle(&self) {}
}

/// The store of [`Memory::disabled`](crate::Memory::disabled): holds nothing, keeps
/// nothing.
#[derive(Debug)]
pub(crate) struct Nothing;

impl Store for Nothing {
    fn get(&self, _: &Key) -> Result<Option<Vec<u8>>, MemoryError> {
        Ok(None)
    }
    fn put(&self, _: &Key, _: &[u8]) -> Result<(), MemoryError> {
        Ok(())
    }
    fn remove(&self, _: &Key) -> Result<(), MemoryError> {
        Ok(())
    }
    fn remove_prefix(&self, _: &[u8]) -> Result<usize, MemoryError> {
        Ok(0)
    }
    fn count_prefix(&self, _: &[u8]) -> Result<usize, MemoryError> {
        Ok(0)
    }
    fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError> {
        Ok(Vec::new())
    }
    fn clear(&self) -> Result<(), MemoryError> {
        Ok(())
    }
}
