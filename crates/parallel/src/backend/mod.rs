//! The machinery: where batches of tasks run. The API types (`Parallel`, `delayed`,
//! the result iterators) sit above it and see none of its detail.
//!
//! A backend is a small interface, as joblib's: configure (the `Plan`), submit a
//! batch (a `spawn` function handed to the `Dispatcher`), retrieve (completions on a
//! channel), terminate (cancel). The in-process backends differ only in `spawn`.
//! `remote/` is the out-of-process core; `process/` and `mpi/` are leaves over it that
//! never import each other; `entry.rs` is the program's entry point, `init`.

mod entry;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "processes")]
pub(crate) mod process;
#[cfg(feature = "processes")]
pub(crate) mod remote;

pub use entry::{init, shutdown};

#[cfg(feature = "mpi")]
pub use mpi::Mpi;
#[cfg(feature = "processes")]
pub use process::Processes;

use crate::engine::inside_worker;

/// Runs every task on the calling thread, one after the other: joblib's `n_jobs=1`.
/// For debugging (a panic's backtrace points at the task) and for measuring what the
/// parallel backends buy.
///
/// ```
/// use parmemo_parallel::{Backend, Parallel};
/// let squares = Parallel::new().backend(Backend::Sequential).map(|x: i32| x * x, 1..4)?;
/// assert_eq!(squares, [1, 4, 9]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sequential;

/// Runs tasks on a pool of `n_jobs` threads (rayon, work stealing). Pools are built once
/// per size and reused by later calls. The default backend.
///
/// A thread cannot be stopped from outside: a task past its `timeout` is reported as
/// [`Error::Timeout`](crate::Error::Timeout) but keeps running (see [`Parallel::timeout`](crate::Parallel::timeout)).
///
/// ```
/// use parmemo_parallel::{Backend, Parallel};
/// let squares = Parallel::new().backend(Backend::Threads).n_jobs(2).map(|x: i32| x * x, 1..4)?;
/// assert_eq!(squares, [1, 4, 9]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Threads;

/// Runs on the backend that the enclosing [`Config`](crate::Config) scope names, threads
/// when none does: for library code that leaves the choice to the application, as
/// joblib's `parallel_config(backend=...)`. It takes plain functions of serializable
/// arguments, which every backend can run.
///
/// ```
/// use parmemo_parallel::{Backend, Config, Parallel};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// // Library code.
/// fn squares(n: u64) -> Vec<u64> {
///     Parallel::new().backend(Backend::Configured).map(square, 0..n).unwrap()
/// }
///
/// assert_eq!(squares(4), [0, 1, 4, 9]); // on threads
/// let sequential = Config::new().backend(Backend::Sequential).scope(|| squares(4));
/// assert_eq!(sequential, [0, 1, 4, 9]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Configured;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Sequential {}
    impl Sealed for super::Threads {}
    #[cfg(feature = "processes")]
    impl Sealed for super::Processes {}
    impl Sealed for super::Configured {}
    #[cfg(feature = "mpi")]
    impl Sealed for super::Mpi {}
}

/// A backend [`Parallel`](crate::Parallel) can run on. Sealed: the backends are the
/// unit types of this module, named through [`Backend`](crate::Backend).
pub trait ExecutionBackend: sealed::Sealed + Copy + Send + Sync + 'static {
    /// Whether tasks run on other threads than the caller's.
    #[doc(hidden)]
    fn is_threaded(self) -> bool;

    /// How many tasks run at once for a run that asked for `requested` workers (`n_jobs`
    /// resolved against the cores): each backend answers for itself.
    #[doc(hidden)]
    fn effective_n_jobs(self, requested: usize) -> usize {
        if !self.is_threaded() || requested == 1 {
            // `n_jobs(1)` means one at a time, inside a task of another run too.
            1
        } else if inside_worker() {
            // Nested runs share the outer budget instead of adding threads.
            rayon::current_num_threads()
        } else {
            requested
        }
    }
}

/// The backends that run tasks inside this process, and so can run closures that borrow
/// from the caller: [`Sequential`] and [`Threads`]. Backends in other processes take only
/// plain functions with serializable arguments, so a closure given to them is a compile
/// error rather than a runtime one.
pub trait InProcess: ExecutionBackend {}

impl ExecutionBackend for Sequential {
    fn is_threaded(self) -> bool {
        false
    }
}
impl InProcess for Sequential {}

impl ExecutionBackend for Threads {
    fn is_threaded(self) -> bool {
        true
    }
}
impl InProcess for Threads {}

#[cfg(feature = "processes")]
impl ExecutionBackend for Processes {
    fn is_threaded(self) -> bool {
        true
    }

    /// A pool of `n_jobs` processes, nested or not: a task of a thread pool may start
    /// processes of its own.
    fn effective_n_jobs(self, requested: usize) -> usize {
        requested
    }
}

#[cfg(feature = "mpi")]
impl ExecutionBackend for Mpi {
    fn is_threaded(self) -> bool {
        true
    }

    /// The serving ranks (the job's size minus rank 0); without them, local threads.
    fn effective_n_jobs(self, requested: usize) -> usize {
        Mpi::workers(Threads.effective_n_jobs(requested))
    }
}
