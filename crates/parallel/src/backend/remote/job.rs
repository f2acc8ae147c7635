//! A batch on its way to a worker process or an MPI rank, and how it can end.

use super::function::Arrays;
use super::wire::{Payload, Reply, Request};
use crate::engine::RunState;
use std::sync::Arc;
use std::time::Duration;

/// How one job ended, as the side that ran it saw it.
pub(crate) enum JobOutcome {
    Reply(Reply),
    /// The worker died; `cause` is its exit status or signal, `offset` the task of the
    /// batch that killed it, when rerunning the batch one task at a time found it.
    Died {
        cause: String,
        offset: Option<usize>,
    },
    /// The job ran past its timeout (on processes, its worker was killed).
    TimedOut,
    /// On MPI: the job ran past its timeout on `rank` (on `host`), which cannot be
    /// stopped; or, with no rank, it waited that long for one.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // made by MPI ranks only
    RankTimedOut {
        rank: Option<u32>,
        host: Option<String>,
    },
    /// The run was cancelled before the job was sent.
    Cancelled,
    /// No worker could be started.
    NoWorker {
        message: String,
    },
    /// A settled batch whose worker died, rerun one task at a time on fresh workers:
    /// each task's own outcome, in order.
    Singles(Vec<JobOutcome>),
}

/// Splits a batch's encoded arguments into one-task batches (monomorphized for the
/// argument type), to find which task kills a worker.
pub(crate) type Split = fn(&Payload) -> Result<Vec<Payload>, String>;

/// What to do with a job's outcome and how long it ran, called once from the thread of
/// whatever ran it.
pub(crate) type Done = Box<dyn FnOnce(JobOutcome, Duration) + Send>;

/// What to do with the results of a batch sent with `each`, as they arrive: tasks'
/// `Vec<R>` of one, [`framed`](super::wire::framed) together.
pub(crate) type Partial = Box<dyn FnMut(Payload) + Send>;

/// Takes back the tasks from the given offset on of a batch sent with `each` (whose
/// arguments it is handed), which its worker will not run: they go to other workers.
pub(crate) type GiveBack = Box<dyn FnMut(usize, &Payload) + Send>;

/// A batch for some worker, and what to do with its outcome.
pub(crate) struct Job {
    pub(crate) request: Request,
    pub(crate) split: Split,
    pub(crate) timeout: Option<Duration>,
    pub(crate) state: Arc<RunState>,
    /// For a batch sent with `each`: where its tasks' results go one by one.
    pub(crate) partial: Option<Partial>,
    /// Of a settled run: a worker that dies in the batch costs only its own task, the
    /// others are rerun for their results.
    pub(crate) settled: bool,
    /// For a batch sent with `each`: takes back the tasks its worker has not started,
    /// when asked to while a task runs.
    pub(crate) give_back: Option<GiveBack>,
    pub(crate) done: Done,
}

/// Whatever runs jobs out of this process: the pool of child processes, or the ranks of
/// an MPI job. Both take a job and call its `done` when it ends, from their own thread.
pub(crate) trait Workers: Send + Sync {
    fn submit(&self, job: Job);

    /// Whether `Shared` arrays reach these workers as memory they map (processes of this
    /// machine) or inside the payload (MPI ranks, which may be on other machines).
    fn arrays(&self) -> Arrays {
        Arrays::Attached
    }
}
