//! The out-of-process core, shared by the process pool and the MPI job (which never
//! import each other): what a job is, the wire format, how a function is named to another
//! process, and how a run's batches become jobs and their replies become events. For an
//! MPI program started without a launcher, the same run goes to local threads.

mod context;
mod cursor;
mod each;
mod function;
mod job;
pub(crate) mod objects;
mod values;
pub(crate) mod wire;

pub(crate) use cursor::Cursor;
pub(crate) use function::{call, call_each, no_values, Arrays, Offsets, RemoteFn, Settled};
#[cfg(feature = "mpi")]
pub(crate) use job::Done;
#[cfg(feature = "mpi")]
pub(crate) use job::{GiveBack, Partial};
pub(crate) use job::{Job, JobOutcome, Split, Workers};
pub(crate) use objects::remember_start;

use crate::engine::BatchSize;
use crate::engine::{
    drive, execute_owned, execute_scoped, execute_streaming, Batch, Completion, Dispatcher, Event,
    EventSource, Failure, OrderedResults, Outcome, Plan, RunState, SettledResults, Stream,
    TaskResult, PROCESS_TARGET,
};
use crate::error::TaskError;
use crate::Error;
use context::Context;
use crossbeam_channel::Sender;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
pub(crate) use values::{decode_values, encode_values};
use wire::{Payload, Reply, Request};

/// Where an out-of-process run goes.
pub(crate) enum Remote {
    /// Worker processes or MPI ranks.
    Workers(Arc<dyn Workers>),
    /// Threads of this process, each task through the same trampoline (so the arguments
    /// cross the same serialization as they would to another process).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Local,
}

/// A run placed by its backend: the plan and where its batches go.
pub(crate) type Placement = (Plan, Remote);

/// A run's plan as worker processes and MPI ranks run it: batches aim at longer durations
/// (a round trip costs tens of microseconds), and under a timeout each task is its own
/// batch, so that the one running too long is the one stopped and named.
pub(crate) fn worker_plan(mut plan: Plan) -> Plan {
    plan.target = PROCESS_TARGET;
    if plan.timeout.is_some() {
        plan.batch = BatchSize::Fixed(1);
    }
    plan
}

/// Runs `items` through `task` where `placement` says, results in input order.
pub(crate) fn collect<A, R>(
    placement: Placement,
    items: impl Iterator<Item = A>,
    task: RemoteFn,
) -> Result<Vec<R>, Error>
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    let mut collected = OrderedResults::new();
    run(placement, items, task, None, |event| collected.take(event))?;
    collected.finish()
}

/// Runs `items` through a `task` of [`RemoteFn::map_with`] where `placement` says, with
/// `context` encoded once and sent to each worker once: results in input order.
pub(crate) fn collect_with<C, A, R>(
    placement: Placement,
    context: &C,
    items: impl Iterator<Item = A>,
    task: RemoteFn,
) -> Result<Vec<R>, Error>
where
    C: Serialize,
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    let arrays = match &placement.1 {
        Remote::Workers(workers) => workers.arrays(),
        Remote::Local => Arrays::Attached,
    };
    let context = Context::new(context, arrays).map_err(|message| Error::Context { message })?;
    let mut collected = OrderedResults::new();
    run(placement, items, task, Some(context), |event| {
        collected.take(event)
    })?;
    collected.finish()
}

/// Runs `items` through a settled `task` ([`RemoteFn::map_settled`]) where `placement`
/// says: one outcome per item in input order, whatever became of the others.
pub(crate) fn collect_settled<A, R>(
    (mut plan, remote): Placement,
    items: impl Iterator<Item = A>,
    task: RemoteFn,
) -> Result<Vec<Result<R, Error>>, Error>
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    plan.settled = true;
    let mut collected = SettledResults::new();
    let failure_of = |(message, error): (String, Vec<u8>)| Failure {
        message,
        error: task.error_value(&error),
    };
    run(
        (plan, remote),
        items,
        task,
        None,
        |event: Event<Settled<R>>| {
            collected.take(match event {
                Event::Results { start, results } => Event::Results {
                    start,
                    results: results
                        .into_iter()
                        .map(|result| result.map_err(failure_of))
                        .collect(),
                },
                Event::Settled { index, error } => Event::Settled { index, error },
                Event::Failed(error) => Event::Failed(error),
            })
        },
    )?;
    collected.finish()
}

/// Runs `items` through `task` where `placement` says, each batch behind `context` when
/// there is one, handing each event to `on_event`.
fn run<A, R>(
    (plan, remote): Placement,
    items: impl Iterator<Item = A>,
    task: RemoteFn,
    context: Option<Context>,
    mut on_event: impl FnMut(Event<R>) -> ControlFlow<()>,
) -> Result<(), Error>
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    match remote {
        Remote::Workers(workers) => {
            let offsets = task.offsets()?;
            let mut dispatcher = Dispatcher::new(items, &plan, false, false);
            let (sender, state) = dispatcher.reporting();
            let mut spawn = spawner(
                workers,
                sender,
                state,
                (task, offsets, context),
                &plan,
                false,
            );
            drive(&mut dispatcher, &mut spawn, &mut on_event);
        }
        Remote::Local => {
            let items = items.map(|item| {
                let one = encode_one(item)?;
                Ok(match &context {
                    Some(context) => context.before(one),
                    None => one,
                })
            });
            // The tasks own their arguments (encoded): under a timeout the run returns at
            // the deadline, as it does on ranks.
            if plan.timeout.is_some() {
                execute_owned(&plan, items, local_runner(task), on_event)?;
            } else {
                execute_scoped(true, &plan, items, &local_runner(task), on_event)?;
            }
        }
    }
    Ok(())
}

/// Starts a run of `items` through `task` where `placement` says, whose events a stream
/// hands out on demand; with `per_task`, each task's result as soon as it is ready
/// (`run_unordered`), else each batch's.
pub(crate) fn stream<A, R>(
    (plan, remote): Placement,
    items: Box<dyn Iterator<Item = A>>,
    task: RemoteFn,
    per_task: bool,
) -> Result<Box<dyn EventSource<R>>, Error>
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    match remote {
        Remote::Workers(workers) => {
            let offsets = task.offsets()?;
            let dispatcher = Dispatcher::new(items, &plan, false, true);
            let (sender, state) = dispatcher.reporting();
            let spawn = spawner(
                workers,
                sender,
                state,
                (task, offsets, None),
                &plan,
                per_task,
            );
            Ok(Box::new(Stream::new(dispatcher, Box::new(spawn), true)))
        }
        Remote::Local => execute_streaming(
            true,
            per_task,
            &plan,
            Box::new(items.map(encode_one)),
            local_runner(task),
        ),
    }
}

/// The `spawn` of a run out of process: encodes each batch's arguments and hands it to
/// the workers, whose thread reports the outcome as a completion. With `per_task`, a
/// batch of several tasks goes as its tasks' one-task batches, which the worker answers
/// one by one: each result is a completion of its own as soon as its task ends.
fn spawner<A, R>(
    workers: Arc<dyn Workers>,
    sender: Sender<Completion<R>>,
    state: Arc<RunState>,
    (task, offsets, context): (RemoteFn, Offsets, Option<Context>),
    plan: &Plan,
    per_task: bool,
) -> impl FnMut(Batch<A>) + 'static
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    let arrays = workers.arrays();
    let (timeout, settled) = (plan.timeout, plan.settled);
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
                    last: true,
                });
            }
        };
        let refuse = |err: &String| {
            report(
                Outcome::Failed {
                    index: start,
                    message: format!("the arguments cannot be serialized: {err}"),
                    error: TaskError::default(),
                },
                Duration::ZERO,
            );
        };
        if per_task && len > 1 {
            let singles: Result<Vec<Payload>, String> = jobs
                .into_iter()
                .map(|job| encode_values(vec![job], arrays))
                .collect();
            match singles {
                Ok(singles) => each::submit(
                    Arc::clone(&workers),
                    sender.clone(),
                    Arc::clone(&state),
                    (task, offsets),
                    timeout,
                    start,
                    singles,
                ),
                Err(err) => refuse(&err),
            }
            return;
        }
        let (arguments, split): (_, Split) = if let Some(context) = &context {
            let batch = encode_values(jobs, arrays).map(|batch| context.before(batch));
            (batch, context::split_tasks::<A>)
        } else {
            (encode_values(jobs, arrays), split_batch::<A>)
        };
        let arguments = match arguments {
            Ok(arguments) => arguments,
            Err(err) => return refuse(&err),
        };
        workers.submit(Job {
            request: Request::Run {
                task: offsets,
                arguments,
                each: false,
            },
            split,
            timeout,
            state: Arc::clone(&state),
            partial: None,
            settled,
            give_back: None,
            done: Box::new(move |outcome, elapsed| {
                report(outcome_of::<R>(outcome, start, task), elapsed);
            }),
        });
    }
}

/// The one-task batches of a batch's encoded arguments.
fn split_batch<A: Serialize + DeserializeOwned + 'static>(
    arguments: &Payload,
) -> Result<Vec<Payload>, String> {
    let arrays = if arguments.attached.is_empty() {
        Arrays::Inline
    } else {
        Arrays::Attached
    };
    // The batch stays with its job: its plain vectors are copied, not taken.
    let batch: Vec<A> = decode_values(arguments.clone())?;
    batch
        .into_iter()
        .map(|argument| encode_values(vec![argument], arrays))
        .collect()
}

/// A job's outcome as the outcome of the batch that starts at task `start`.
fn outcome_of<R: DeserializeOwned + 'static>(
    outcome: JobOutcome,
    start: usize,
    task: RemoteFn,
) -> Outcome<R> {
    match outcome {
        JobOutcome::Reply(reply) => match results_of(reply) {
            Ok(results) => Outcome::Done(results),
            Err((offset, message, error)) => Outcome::Failed {
                index: start + offset,
                message,
                error: task.error_value(&error),
            },
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
        JobOutcome::RankTimedOut { rank, host } => Outcome::Error {
            index: start,
            error: Error::RankTimeout {
                index: start,
                rank,
                host,
            },
        },
        JobOutcome::Cancelled => Outcome::Cancelled,
        JobOutcome::NoWorker { message } => Outcome::NoWorker { message },
        JobOutcome::Singles(outcomes) => Outcome::Singles(
            outcomes
                .into_iter()
                .enumerate()
                .map(|(offset, outcome)| outcome_of(outcome, start + offset, task))
                .collect(),
        ),
    }
}

/// Why a batch failed: the offset of its failing task, the message, the encoding of the
/// task's error value (empty when there is none).
type Failed = (usize, String, Vec<u8>);

/// The one reply decoder: a batch's results, or which task failed and why.
fn results_of<R: DeserializeOwned + 'static>(reply: Reply) -> Result<Vec<R>, Failed> {
    match reply {
        Reply::Done(results) => decode_values::<R>(results).map_err(|err| {
            let message = format!("the results cannot be deserialized: {err}");
            (0, message, Vec::new())
        }),
        Reply::Failed {
            offset,
            message,
            error,
        } => Err((offset, message, error)),
        Reply::Hello { .. } | Reply::Partial(_) | Reply::Yielded { .. } => {
            Err((0, "the worker answered out of turn".to_owned(), Vec::new()))
        }
    }
}

/// A task's argument encoded as a batch of one, as a worker would receive it, its arrays
/// attached (this process reads them in place). Encoding happens on the dispatching
/// thread, so the arguments need not be `Send`.
fn encode_one<A: Serialize + 'static>(argument: A) -> Result<Payload, String> {
    encode_values(vec![argument], Arrays::Attached)
        .map_err(|err| format!("the arguments cannot be serialized: {err}"))
}

fn local_runner<R: DeserializeOwned + 'static>(
    task: RemoteFn,
) -> impl Fn(Result<Payload, String>) -> TaskResult<R> + Send + Sync + 'static {
    move |argument| {
        // The trampoline catches the task's panic and reports it as a failure.
        results_of::<R>(task.call(argument?))
            .map_err(|(_, message, error)| Failure {
                message,
                error: task.error_value(&error),
            })?
            .pop()
            .ok_or_else(|| "the task returned no result".to_owned().into())
    }
}
