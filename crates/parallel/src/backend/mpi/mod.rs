//! `Backend::Mpi`: tasks over the ranks of an MPI job, for work that outgrows one
//! machine. MPI (rsmpi over the system's library) starts the processes, places them on
//! hosts and carries the messages; this module only hands out batches. A leaf over the
//! out-of-process core (`backend/remote`): messages are its header and raw payload, each
//! part an MPI message of its own tag.

mod drive;
mod join;
mod serve;

pub(crate) use join::join;

/// Each rank's host, by rank (see `join::gather_hosts`).
static HOSTS: OnceLock<Vec<String>> = OnceLock::new();

fn set_hosts(hosts: Vec<String>) {
    let _ = HOSTS.set(hosts);
}

/// The host of `rank`, as its processor name (`None` if unknown).
fn host_of(rank: mpi::topology::Rank) -> Option<String> {
    let hosts = HOSTS.get()?;
    hosts
        .get(usize::try_from(rank).ok()?)
        .filter(|host| !host.is_empty())
        .cloned()
}

use super::remote::{Placement, Remote};
use crate::engine::Plan;
use crate::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

const RUN_HEADER: mpi::Tag = 1;
const RUN_PAYLOAD: mpi::Tag = 2;
const REPLY_HEADER: mpi::Tag = 3;
const REPLY_PAYLOAD: mpi::Tag = 4;
const STOP: mpi::Tag = 5;
/// An array of a request, after its payload (one message each).
const RUN_ARRAY: mpi::Tag = 6;
/// The ids (little-endian u64s) of kept arrays a rank may drop.
const FORGET: mpi::Tag = 7;
/// Rank 0 asks a rank running a batch sent with `each` to give back the tasks it has not
/// started (an empty message); the rank answers with `Reply::Yielded`.
const GIVE_BACK: mpi::Tag = 8;

/// How long a batch answered task by task may send nothing before its tasks not started
/// are asked back for an idle rank.
const YIELD_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// The largest MPI message: counts are C `int`s.
const MAX_MESSAGE: usize = i32::MAX as usize;

/// Waits that start short and grow, so that an idle rank neither spins (it would take a
/// core from the ranks at work when the job oversubscribes the machine) nor answers late
/// when busy.
struct Backoff {
    pause: Duration,
}

impl Backoff {
    const SHORTEST: Duration = Duration::from_micros(5);
    const LONGEST: Duration = Duration::from_millis(1);

    fn new() -> Self {
        Backoff {
            pause: Self::SHORTEST,
        }
    }

    fn reset(&mut self) {
        self.pause = Self::SHORTEST;
    }

    fn wait(&mut self) {
        std::thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(Self::LONGEST);
    }
}

/// Runs tasks on the ranks of an MPI job: rank 0 runs `main` and hands out batches,
/// ranks 1.. serve them, each asking for the next batch as it finishes one.
///
/// Launch the program with `mpirun -n 4 prog` (or `srun` under Slurm) and call
/// [`init`](crate::init) first thing in `main`: on ranks 1.. it serves tasks until rank
/// 0's `main` ends, then finalizes MPI and exits, so the rest of `main` runs on rank 0
/// alone. The number of workers is the number of ranks minus one; `n_jobs` is not used.
///
/// The same program started without a launcher (or as a single rank) runs its tasks on
/// local threads, through the same serialization, and says so once at `verbose >= 1`.
///
/// Tasks are plain functions `fn(A) -> R` with serializable arguments and results, as on
/// [`Processes`](crate::Processes), named to the other ranks by their offset in the
/// executable: every rank must run the same binary, which `init` checks.
///
/// Failure model: a task that panics or returns an error is [`Error::Task`] and its rank
/// goes on serving. A rank that dies (a signal, `abort`, `exit`) ends the whole job, by
/// MPI's own rules: the launcher kills every rank and prints which one died. A task past
/// the `timeout` is reported as [`Error::Timeout`], but its rank cannot be stopped alone;
/// if it is still running 5 s after rank 0's program ended, the job is aborted rather than
/// left hanging.
///
/// Requires the crate feature `mpi` and an MPI library (Debian: `libopenmpi-dev`,
/// `openmpi-bin`, `libclang-dev`).
///
/// ```no_run
/// use parmemo_parallel::{Backend, Parallel};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() -> Result<(), parmemo_parallel::Error> {
///     parmemo_parallel::init(); // ranks 1.. serve here and never return
///     let squares = Parallel::new().backend(Backend::Mpi).map(square, 0..1000)?;
///     assert_eq!(squares[12], 144);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mpi;

static ANNOUNCED_LOCAL: AtomicBool = AtomicBool::new(false);
static ANNOUNCED_RANKS: AtomicBool = AtomicBool::new(false);

impl Mpi {
    /// How many run at once: the serving ranks, or the local threads when there are none.
    pub(crate) fn workers(threads: usize) -> usize {
        match join::cluster() {
            Some(cluster) if cluster.servers > 0 => cluster.servers,
            _ => threads,
        }
    }

    /// Where a run goes, with its plan: `remote` (the process plan) on the serving
    /// ranks, or `local` (the thread plan) when there are none.
    pub(crate) fn placement(local: Plan) -> Result<Placement, Error> {
        let remote = super::remote::worker_plan(local.clone());
        let Some(cluster) = join::cluster().filter(|cluster| cluster.servers > 0) else {
            if local.verbose > 0 && !ANNOUNCED_LOCAL.swap(true, Ordering::Relaxed) {
                local.log.line(&format!(
                "[Parallel(backend=mpi)]: not launched by mpirun or srun with 2 or more ranks: \
                 running tasks locally on {} threads",
                local.workers
            ));
            }
            return Ok((local, Remote::Local));
        };
        if let Some(problem) = &cluster.problem {
            return Err(Error::WorkerStart {
                message: problem.clone(),
            });
        }
        if remote.verbose > 0 && !ANNOUNCED_RANKS.swap(true, Ordering::Relaxed) {
            remote.log.line(&format!(
                "[Parallel(backend=mpi)]: rank 0 drives {} serving ranks",
                cluster.servers
            ));
        }
        let plan = Plan {
            workers: cluster.servers,
            ..remote
        };
        Ok((plan, Remote::Workers(cluster)))
    }
}
