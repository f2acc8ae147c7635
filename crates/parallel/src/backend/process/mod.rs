//! `Backend::Processes`: tasks in a reusable pool of child processes of the current
//! executable, for crash isolation, hard timeouts and code that is not thread-safe. A
//! leaf over the out-of-process core (`backend/remote`).

mod answers;
mod channel;
mod descriptors;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzzing;
mod handshake;
mod pool;
mod spawn;
mod worker;
mod yielding;

pub(crate) use pool::shutdown;
pub(crate) use worker::serve_if_invited;

use super::remote::{Placement, Remote, RemoteFn};
use crate::engine::Plan;
use crate::Error;
use std::sync::Arc;

/// Runs tasks in a pool of `n_jobs` child processes of the current executable, started
/// on first use and reused: joblib's default backend (loky). A task that segfaults,
/// aborts or hangs takes down its worker, not the program: the run fails with
/// [`Error::WorkerDied`] or [`Error::Timeout`] and the pool starts a new worker.
///
/// Tasks are plain functions `fn(A) -> R` with serializable arguments and results; the
/// child finds the function by its address in the same executable, with no registration.
/// Workers are recognised before `main` runs, so a program that forgets
/// [`init`](crate::init) still works; call it first thing in `main` all the same (it is
/// what makes `Backend::Mpi` ranks join, and what serves on platforms without
/// constructors). Workers are started from the running image (a rebuilt binary does not
/// change them), talk to their parent over an inherited socket pair that no other
/// process can reach, and die with it. See `SECURITY.md` for the threat model.
///
/// ```no_run
/// use parmemo_parallel::{Backend, Parallel};
///
/// fn cube(x: u64) -> u64 {
///     x * x * x
/// }
///
/// fn main() -> Result<(), parmemo_parallel::Error> {
///     parmemo_parallel::init();
///     let cubes = Parallel::new().backend(Backend::Processes).n_jobs(2).map(cube, 0..100)?;
///     assert_eq!(cubes[10], 1000);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Processes;

impl Processes {
    /// Where a run goes, and its plan: the pool of `plan.workers` processes whose
    /// workers ran `initializer` first.
    pub(crate) fn placement(plan: Plan, initializer: Option<fn()>) -> Result<Placement, Error> {
        let pool = Processes::pool(plan.workers, initializer)?;
        Ok((super::remote::worker_plan(plan), Remote::Workers(pool)))
    }

    /// The process ids of the pool of `workers` workers (started if needed).
    pub(crate) fn worker_pids(
        workers: usize,
        initializer: Option<fn()>,
    ) -> Result<Vec<u32>, Error> {
        Ok(Processes::pool(workers, initializer)?.pids())
    }

    /// The pool of `workers` processes whose workers ran `initializer` first.
    fn pool(workers: usize, initializer: Option<fn()>) -> Result<Arc<pool::ProcessPool>, Error> {
        let initializer = initializer
            .map(|setup| RemoteFn::init(setup).offsets())
            .transpose()?;
        pool::pool(workers, initializer)
    }
}
