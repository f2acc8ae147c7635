//! Persistent memoization for Rust, after joblib's `Memory`: a function's results are
//! stored on disk, keyed by its identity and the content of its arguments, and a later
//! call with the same arguments (in this run or the next) loads them instead of
//! computing.
//!
//! # Brief overview
//!
//! * [`Memory`] is the cache: [`Memory::new`] on the one-file-per-entry [`DirStore`]
//!   (many processes at once, shared file systems, constant-time open), or, with the
//!   feature `sled`, `Memory::sled` on the embedded `SledStore` (one process at a time);
//!   the feature `zstd` adds `Memory::compress`. It runs
//!   calls ([`Memory::call`], [`PreparedCall::run_fallible`] for results whose failures
//!   are not stored), and clears, evicts ([`Memory::reduce_size`]) and counts
//!   ([`Memory::stats`]).
//! * The `#[cache(MEMORY)]` attribute (crate `parmemo-macros`, re-exported as
//!   `parmemo::cache`) turns a function into a cached one, and gives it a
//!   `name::cache()` handle for its own entries ([`CachedFunction`]).
//! * A [`Key`] is the function's [`FunctionId`] (its full path, a hash of its code taken
//!   at compile time) and the XXH3-128 of its arguments streamed through serde, maps and
//!   unordered sets by content rather than iteration order.
//! * Entries are postcard with a checksummed header ([`CODEC_VERSION`]) that records the
//!   result type's fingerprint; a damaged entry, or one of another type, is a miss,
//!   recomputed and rewritten, never a panic. An entry read from the file is checked
//!   whole before it is served. A large entry with `Shared` arrays, on a local file
//!   system, is mapped and served in O(1), its arrays checked right after on a background
//!   thread: a damaged one is served only by the hits before its check, then reported
//!   and removed
//!   ([`Memory::verify_mapped_arrays`] checks before serving; SECURITY.md says exactly
//!   what is promised). On a network or FUSE file system entries are read, never mapped.
//!
//! # Example
//!
//! ```
//! use parmemo_macros::cache;
//! use parmemo_memory::Memory;
//! use std::sync::LazyLock;
//!
//! // A directory of your choice; here a temporary one.
//! static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
//! static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(DIR.path()));
//!
//! /// The mean of a sample: imagine something that takes hours.
//! #[cache(MEMORY)]
//! fn mean(sample: &[f64]) -> f64 {
//!     sample.iter().sum::<f64>() / sample.len() as f64
//! }
//!
//! let sample = [1.0, 2.0, 4.0];
//! let first = mean(&sample);          // computed, stored
//! assert_eq!(mean(&sample), first);   // loaded
//! assert!(mean::cache().check_call_in_cache(&sample));
//! mean::cache().clear()?;
//! # std::fs::remove_dir_all(DIR.path()).ok();
//! # Ok::<(), parmemo_memory::MemoryError>(())
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Two `unsafe` blocks are allowed where they are: mapping a stored entry (store/dir.rs)
// and asking which file system holds it (store/filesystem.rs); docs/architecture.md lists
// both with their premises.
#![deny(unsafe_code)]

pub use entry::{EntryMeta, CODEC_VERSION};

/// The entry points of the fuzz targets in `fuzz/` (feature `fuzzing`): not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::fuzzing::entry;
}
pub use argument::Argument;
pub use error::MemoryError;
pub use function::CachedFunction;
pub use identity::FunctionId;
pub use memory::{Memory, MemoryStats, PreparedCall};
pub use shelved::Shelved;
#[cfg(feature = "sled")]
pub use store::SledStore;
pub use store::{DirStore, Entry, EntryInfo, FunctionSummary, Key, Store, VersionSummary};
pub use tally::{last_call, CallOutcome};
pub use warn::human_bytes;

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
mod argument;
mod compression;
mod entry;
mod error;
mod function;
#[cfg(any(test, feature = "fuzzing"))]
mod fuzzing;
mod hash;
mod identity;
mod memory;
mod read_into;
mod shape;
mod shelved;
mod store;
mod tally;
mod verify;
mod warn;
