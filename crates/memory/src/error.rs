use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong in `parmemo-memory`.
///
/// A cached call never returns these: a store that cannot be used is logged and the
/// function runs uncached. They come from the operations that are about the cache itself
/// (opening it, clearing it, loading a shelved result).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// Another process holds the sled store's lock.
    #[error("the sled cache at {path} is open in another process (sled allows one at a time): use Memory::new(dir), one file per entry, for caches that several processes use at once")]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// The file system refused an operation.
    #[error("cache I/O failed at {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The embedded database reported an error.
    #[error("the cache database at {path} failed: {message}")]
    Store {
        /// The store's directory.
        path: PathBuf,
        /// What sled said.
        message: String,
    },
    /// A value could not be serialized (for its key or to store it).
    #[error("could not serialize {what}: {message}")]
    Encode {
        /// `"arguments"` or `"result"`.
        what: &'static str,
        /// What serde said.
        message: String,
    },
    /// A stored entry is damaged, of another result type, or was written by an
    /// incompatible version. A cached call never returns this (it recomputes); a
    /// [`Shelved`](crate::Shelved) result does, since it has nothing to recompute from.
    #[error("cache entry {key} is unreadable ({reason}): call the function again to recompute it")]
    Corrupt {
        /// The entry's key, in hex.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A shelved result is no longer in the store (cleared or evicted).
    #[error("cache entry {key} is no longer stored (cleared or evicted): call the function again")]
    Missing {
        /// The entry's key, in hex.
        key: String,
    },
}
