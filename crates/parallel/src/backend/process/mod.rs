//! `Backend::Processes`: tasks in a reusable pool of child processes of the current
//! executable, for crash isolation, hard timeouts and code that is not thread-safe.

mod function;
mod pool;
pub(crate) mod wire;
mod worker;

pub use worker::init;

use super::batch::{Batch, Completion, Outcome, RunState};
use super::{drive, Dispatcher, Event, EventSource, Plan, Stream};
use crate::Error;
use crossbeam_channel::Sender;
pub(crate) use pool::{Job, JobOutcome};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
pub(crate) use wire::Reply;
use wire::{decode, encode, Request};

#[cfg(feature = "mpi")]
pub(crate) use function::call;
pub(crate) use function::{map_trampoline, offset_of, try_map_trampoline, Trampoline};

/// Whatever runs jobs out of this process: the pool of child processes, or the ranks of
/// an MPI job. Both take a job and call its `done` when it ends, from their own thread.
pub(crate) trait Workers: Send + Sync {
    fn submit(&self, job: Job);
}

/// The pool of `workers` child processes, started if needed.
pub(crate) fn process_pool(workers: usize) -> Result<Arc<dyn Workers>, Error> {
    Ok(pool::pool(workers)?)
}

/// Runs tasks in a pool of `n_jobs` child processes of the current executable, started
/// on first use and reused: joblib's default backend (loky). A task that segfaults,
/// aborts or hangs takes down its worker, not the program: the run fails with
/// [`Error::WorkerDied`] or [`Error::Timeout`] and the pool starts a new worker.
///
/// Tasks are plain functions `fn(A) -> R` with serializable arguments and results; the
/// child finds the function by its address in the same executable, with no registration.
/// A program that uses it calls [`init`](crate::init) first thing in `main`; tests use
/// [`enable_test_support!`](crate::enable_test_support).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Processes;

/// The `spawn` of a run out of process: encodes each batch's arguments and hands it to
/// the workers, whose thread reports the outcome as a completion.
fn spawner<A, R>(
    workers: Arc<dyn Workers>,
    sender: Sender<Completion<R>>,
    state: Arc<RunState>,
    trampoline: Trampoline,
    function: usize,
    timeout: Option<Duration>,
) -> impl FnMut(Batch<A>) + 'static
where
    A: Serialize + DeserializeOwned,
    R: DeserializeOwned + Send + 'static,
{
    let (trampoline, function) = (offset_of(trampoline as usize), offset_of(function));
    move |batch: Batch<A>| {
        let Batch { start, jobs, .. } = batch;
        let len = jobs.len();
        let report = {
            let sender = sender.clone();
            move |outcome, elapsed| {
                // The receiver lives in the dispatcher until the run is over.
                let _ = sender.send(Completion {
                    start,
                    len,
                    elapsed,
                    outcome,
                });
            }
        };
        let arguments = match encode(&jobs) {
            Ok(arguments) => arguments,
            Err(err) => {
                report(
                    Outcome::Failed {
                        index: start,
                        message: format!("the arguments cannot be serialized: {err}"),
                    },
                    Duration::ZERO,
                );
                return;
            }
        };
        workers.submit(Job {
            request: Request::Run {
                trampoline,
                function,
                arguments,
            },
            split: split_batch::<A>,
            timeout,
            state: Arc::clone(&state),
            done: Box::new(move |outcome, elapsed| {
                report(outcome_of::<R>(outcome, start), elapsed);
            }),
        });
    }
}

/// Runs `jobs` on `workers` and hands each event to `on_event`, until the input is
/// exhausted or `on_event` breaks.
pub(crate) fn execute<A, R>(
    plan: &Plan,
    workers: Arc<dyn Workers>,
    jobs: impl Iterator<Item = A>,
    trampoline: Trampoline,
    function: usize,
    mut on_event: impl FnMut(Event<R>) -> ControlFlow<()>,
) where
    A: Serialize + DeserializeOwned,
    R: DeserializeOwned + Send + 'static,
{
    let mut dispatcher = Dispatcher::new(jobs, plan, false, false);
    let (sender, state) = dispatcher.reporting();
    let mut spawn = spawner(workers, sender, state, trampoline, function, plan.timeout);
    drive(&mut dispatcher, &mut spawn, &mut on_event);
}

/// Starts a run on `workers` whose events a stream hands out on demand.
pub(crate) fn execute_streaming<A, R>(
    plan: &Plan,
    workers: Arc<dyn Workers>,
    jobs: Box<dyn Iterator<Item = A>>,
    trampoline: Trampoline,
    function: usize,
) -> Box<dyn EventSource<R>>
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    let dispatcher = Dispatcher::new(jobs, plan, false, true);
    let (sender, state) = dispatcher.reporting();
    let spawn = spawner(workers, sender, state, trampoline, function, plan.timeout);
    Box::new(Stream::new(dispatcher, Box::new(spawn)))
}

/// The one-task batches of a batch's encoded arguments.
fn split_batch<A: Serialize + DeserializeOwned>(arguments: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let batch: Vec<A> = decode(arguments)?;
    batch
        .iter()
        .map(|argument| encode(std::slice::from_ref(argument)))
        .collect()
}

fn outcome_of<R: DeserializeOwned>(outcome: JobOutcome, start: usize) -> Outcome<R> {
    match outcome {
        JobOutcome::Reply(Reply::Done(bytes)) => match decode::<Vec<R>>(&bytes) {
            Ok(results) => Outcome::Done(results),
            Err(err) => Outcome::Failed {
                index: start,
                message: format!("the results cannot be deserialized: {err}"),
            },
        },
        JobOutcome::Reply(Reply::Failed { offset, message }) => Outcome::Failed {
            index: start + offset,
            message,
        },
        JobOutcome::Reply(Reply::Hello { .. }) => Outcome::Failed {
            index: start,
            message: "the worker answered out of turn".to_owned(),
        },
        JobOutcome::Died {
            cause,
            offset: Some(offset),
        } => Outcome::Died {
            index: start + offset,
            cause,
        },
        JobOutcome::Died {
            cause,
            offset: None,
        } => Outcome::Died {
            index: start,
            cause: format!("{cause}; rerun one at a time, none of the batch's tasks crashed again"),
        },
        JobOutcome::TimedOut => Outcome::Overran { index: start },
        JobOutcome::Cancelled => Outcome::Cancelled,
        JobOutcome::NoWorker { message } => Outcome::NoWorker { message },
    }
}

/// The process ids of the pool of `workers` workers (started if needed).
pub(crate) fn worker_pids(workers: usize) -> Result<Vec<u32>, Error> {
    Ok(pool::pool(workers)?.pids())
}
