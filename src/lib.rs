//! parmemo: parallel map-reduce and persistent memoization for Rust, after Python's
//! joblib and numba.
//!
//! # Brief overview
//!
//! * [`parallel`]: joblib's `Parallel`/`delayed` over threads, worker processes
//!   (`Backend::Processes`: crash isolation, hard timeouts), the ranks of an MPI job
//!   (`Backend::Mpi`, feature `mpi`) or sequentially for debugging, with `n_jobs`, auto
//!   batching, progress, ordered or as-completed results and timeouts; numba's
//!   `vectorize`, `guvectorize` and `prange` reductions. Programs that use processes or
//!   MPI call [`parallel::init`] first thing in `main`.
//! * [`memory`] and [`cache`]: joblib's `Memory`, a persistent, content-hashed cache of
//!   function results, one file per entry that many processes share (`Memory::new`) or
//!   an embedded sled database for one process (`Memory::sled`, feature `sled`), applied with
//!   `#[parmemo::cache(MEMORY)]`.
//! * [`Shared`]: an immutable array (`Shared<[f64]>` and friends) that threads, worker
//!   processes and the cache share without copies: a worker maps the same memory, a
//!   cache hit maps the stored file.
//! * [`stats`]: the tutorial's showcase kernels, exact and fast (Walsh median /
//!   Hodges-Lehmann, many Wald tests with multiple-testing corrections, the normal
//!   distribution), parallel over rows where it pays.
//!
//! # Example
//!
//! ```
//! use parmemo::prelude::*;
//!
//! let samples: Vec<Vec<f64>> = (1..=10).map(|n| (0..n).map(f64::from).collect()).collect();
//! // joblib: Parallel(n_jobs=-1)(delayed(walsh_median)(s) for s in samples[1:])
//! let medians = Parallel::new()
//!     .n_jobs(-1)
//!     .run(samples[1..].iter().map(|s| delayed(move || walsh_median(s))))?;
//! assert_eq!(medians[0], Ok(0.5));
//! # Ok::<(), parmemo::parallel::Error>(())
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

pub use parmemo_macros::cache;
pub use parmemo_memory as memory;
pub use parmemo_parallel as parallel;
pub use parmemo_shared::Shared;
pub use parmemo_stats as stats;

/// The names most programs need, in one `use parmemo::prelude::*`.
pub mod prelude {
    pub use parmemo_macros::cache;
    pub use parmemo_memory::Memory;
    pub use parmemo_parallel::vectorize::{guvectorize, vectorize, Target};
    pub use parmemo_parallel::{delayed, Backend, BatchSize, Parallel};
    pub use parmemo_shared::Shared;
    pub use parmemo_stats::{hodges_lehmann, walsh_median, Normal, StatsError};
}

/// The README's code blocks, compiled as doctests so that they stay true (the example
/// that caches into `target/` is `no_run`: tests leave nothing in the source tree).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guide's code blocks (docs/guide.md), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;
