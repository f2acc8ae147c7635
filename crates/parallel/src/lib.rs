//! Parallel map-reduce for Rust, after joblib and numba: run many independent calls at
//! once, and apply kernels over arrays in parallel.
//!
//! # Brief overview
//!
//! * [`Parallel`] is joblib's `Parallel`: a builder (`n_jobs`, `batch_size`, `verbose`,
//!   `timeout`) whose backend is part of its type: [`Backend::Threads`] (default) and
//!   [`Backend::Sequential`] run closures made by [`delayed`] ([`run`](Parallel::run))
//!   or one function over many inputs ([`map`](Parallel::map)); [`Backend::Processes`]
//!   (a reusable pool of worker processes: crash isolation, hard timeouts; the default
//!   feature `processes`) and
//!   `Backend::Mpi` (the ranks of an MPI job, feature `mpi`) run plain functions of
//!   serializable arguments. Each has fallible versions and streams of results in input
//!   order ([`run_iter`](Parallel::run_iter)) or as they complete
//!   ([`run_unordered`](Parallel::run_unordered)). A failing task is an [`Error`] that
//!   names it, and the rest is cancelled.
//! * [`init`] is the entry point of worker processes and MPI ranks, first thing in
//!   `main`; workers are also recognised before `main`, so forgetting it is never a
//!   fork bomb. [`enable_test_support!`] is its stand-in for test crates where
//!   constructors do not run.
//! * [`vectorize`] holds numba's helpers: [`vectorize()`](vectorize::vectorize) applies a
//!   scalar kernel elementwise (scalars broadcast), [`guvectorize`](vectorize::guvectorize)
//!   applies a kernel to each row of a matrix, [`reduce`](vectorize::reduce) is a
//!   `prange` loop with a reduction.
//!
//! Under both sit rayon thread pools, built once per size and reused (the four sizes
//! used last are kept; a run that may leave a task behind at its deadline gets a pool
//! lent to it alone). A `Parallel` run inside a task of another shares the outer pool
//! instead of adding threads.
//!
//! # Example
//!
//! ```
//! use parmemo_parallel::{delayed, vectorize::{vectorize, Target}, Parallel};
//!
//! // joblib: Parallel(n_jobs=-1)(delayed(sum)(row) for row in rows)
//! let rows = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]];
//! let sums = Parallel::new().n_jobs(-1).run(rows.iter().map(|r| delayed(move || r.iter().sum::<f64>())))?;
//! assert_eq!(sums, [3.0, 7.0, 11.0]);
//!
//! // numba: @vectorize def scale(x, a): return a * x
//! let scaled = vectorize(|x: f64, a: f64| a * x).target(Target::Parallel).apply2(&sums[..], 2.0)?;
//! assert_eq!(scaled, [6.0, 14.0, 22.0]);
//! # Ok::<(), parmemo_parallel::Error>(())
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub use backend::Mpi;
#[cfg(feature = "processes")]
#[cfg_attr(docsrs, doc(cfg(feature = "processes")))]
pub use backend::Processes;
pub use backend::{init, shutdown, Configured, ExecutionBackend, InProcess, Sequential, Threads};
pub use config::Config;
pub use delayed::{delayed, Delayed};
pub use engine::BatchSize;
pub use error::{Error, TaskError};
pub use jobs::available_cores;
pub use parallel::{Backend, Parallel, Settled};
pub use results::{RunIter, RunUnordered};
pub use timing::{Timed, Untimed};

mod backend;
mod engine;

/// The entry points of the fuzz targets in `fuzz/` (feature `fuzzing`): not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::backend::process::fuzzing::wire;
}
#[doc(hidden)]
pub mod compile_fail;
mod config;
mod delayed;
mod error;
mod jobs;
mod parallel;
mod progress;
mod results;
mod timing;
pub mod vectorize;
