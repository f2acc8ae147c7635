//! Runs of plain functions out of this process — in child processes or on MPI ranks —
//! and, for an MPI program started without a launcher, the same run on local threads.

use super::process::wire::{decode, encode, Reply};
use super::process::{self, Trampoline, Workers};
use super::{execute_scoped, Event, EventSource, Plan, TaskResult};
use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Where an out-of-process run goes.
pub(crate) enum Remote {
    /// Worker processes or MPI ranks.
    Workers(Arc<dyn Workers>),
    /// Threads of this process, each task through the same trampoline (so the arguments
    /// cross the same serialization as they would to another process).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Local,
}

/// Runs `jobs` and hands each event to `on_event`, until the input is exhausted or
/// `on_event` breaks.
pub(crate) fn execute<A, R>(
    plan: &Plan,
    remote: Remote,
    jobs: impl Iterator<Item = A>,
    trampoline: Trampoline,
    function: usize,
    on_event: impl FnMut(Event<R>) -> ControlFlow<()>,
) -> Result<(), Error>
where
    A: Serialize + DeserializeOwned,
    R: DeserializeOwned + Send + 'static,
{
    match remote {
        Remote::Workers(workers) => {
            process::execute(plan, workers, jobs, trampoline, function, on_event);
            Ok(())
        }
        Remote::Local => {
            let runner = local_runner(trampoline, function);
            execute_scoped(
                true,
                plan,
                jobs.map(|job| encode_one(&job)),
                &runner,
                on_event,
            )
        }
    }
}

/// Starts a run whose events a stream hands out on demand.
pub(crate) fn execute_streaming<A, R>(
    plan: &Plan,
    remote: Remote,
    jobs: Box<dyn Iterator<Item = A>>,
    trampoline: Trampoline,
    function: usize,
) -> Result<Box<dyn EventSource<R>>, Error>
where
    A: Serialize + DeserializeOwned + 'static,
    R: DeserializeOwned + Send + 'static,
{
    match remote {
        Remote::Workers(workers) => Ok(process::execute_streaming(
            plan, workers, jobs, trampoline, function,
        )),
        Remote::Local => super::execute_streaming(
            true,
            plan,
            Box::new(jobs.map(|job| encode_one(&job))),
            local_runner(trampoline, function),
        ),
    }
}

/// A task's argument encoded as a batch of one, as a worker would receive it. Encoding
/// happens on the dispatching thread, so the arguments need not be `Send`.
fn encode_one<A: Serialize>(argument: &A) -> Result<Vec<u8>, String> {
    encode(std::slice::from_ref(argument))
        .map_err(|err| format!("the arguments cannot be serialized: {err}"))
}

fn local_runner<R: DeserializeOwned>(
    trampoline: Trampoline,
    function: usize,
) -> impl Fn(Result<Vec<u8>, String>) -> TaskResult<R> + Send + Sync + 'static {
    move |argument| {
        // The trampoline catches the task's panic and reports it as a failure.
        match trampoline(function, &argument?) {
            Reply::Done(bytes) => decode::<Vec<R>>(&bytes)
                .map_err(|err| format!("the results cannot be deserialized: {err}"))?
                .pop()
                .ok_or_else(|| "the task returned no result".to_owned()),
            Reply::Failed { message, .. } => Err(message),
            Reply::Hello { .. } => Err("the task answered out of turn".to_owned()),
        }
    }
}
