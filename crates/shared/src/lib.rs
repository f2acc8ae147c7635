//! Immutable arrays shared between threads and processes without copies, for parmemo:
//! [`Shared`] is what a large array becomes to reach worker processes as a mapping of the
//! same memory, and what a cached array comes back as, mapped from its file.
//!
//! `parmemo-parallel` and `parmemo-memory` do not know each other; both know this crate.
//! The [`attach`] module is how they move a `Shared` beside a serialized value: the
//! process backend passes its memory as a file descriptor, the cache writes it raw and
//! page-aligned and maps it back. [`codec`] is the binary codec both encode values with:
//! arguments and results on the worker wire, results in the cache.
//!
//! ```
//! use parmemo_shared::Shared;
//!
//! let samples: Shared<[f64]> = Shared::from_fn(1_000_000, |i| (i % 100) as f64);
//! let other_thread = samples.clone(); // the same memory
//! let mean = std::thread::spawn(move || other_thread.iter().sum::<f64>() / 1e6).join().unwrap();
//! assert_eq!(mean, 49.5);
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod attach;
pub mod codec;
pub mod copy;
mod element;
#[cfg(any(test, feature = "fuzzing"))]
mod fuzzing;
pub mod plain;
mod prefault;
mod region;
pub mod role;
mod shared;
mod wire;

pub use element::Element;
pub use shared::Shared;

/// The entry points of the fuzz targets in `fuzz/` (feature `fuzzing`): not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::fuzzing::arrays;
}
