//! A batch answered task by task (`run_unordered`), split across workers so that a
//! slow task holds back no task behind it.
//!
//! The batch goes as its tasks' one-task batches, framed; the worker (a process, or an
//! MPI rank) claims each task before it starts it (`Cursor`), and while a task runs
//! the parent may take back the ones not started (`Job::give_back`, asked by the pool
//! or rank 0's driver when a worker is idle, no job waits, and this batch has sent
//! nothing for a while): they go out again as a batch of their own, for any worker. A
//! worker listens for that on a thread of its own, since the task runs on another.
//!
//! However the batch is split, the dispatcher sees one batch: each result as it comes,
//! and one closing report once every part has ended.

use super::function::{Offsets, RemoteFn};
use super::job::{GiveBack, Job, Workers};
use super::outcome_of;
use super::values::decode_values;
use super::wire::{self, Payload, Request};
use crate::engine::{Completion, Outcome, RunState};
use crate::error::TaskError;
use crossbeam_channel::Sender;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The parts of one batch still running, and where the batch reports.
struct Batch<R> {
    sender: Sender<Completion<R>>,
    start: usize,
    len: usize,
    began: Instant,
    parts: AtomicUsize,
}

impl<R> Batch<R> {
    /// One part ended with `outcome`: a failure is reported at once; the last part to
    /// end closes the batch.
    fn part_ended(&self, outcome: Outcome<R>) {
        if !matches!(outcome, Outcome::Done(_)) {
            let _ = self.sender.send(Completion {
                start: self.start,
                len: self.len,
                elapsed: self.began.elapsed(),
                outcome,
                last: false,
            });
        }
        if self.parts.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.sender.send(Completion {
                start: self.start,
                len: self.len,
                elapsed: self.began.elapsed(),
                outcome: Outcome::Done(Vec::new()),
                last: true,
            });
        }
    }
}

/// What every part of the batch shares.
struct Parts<R> {
    workers: Arc<dyn Workers>,
    batch: Arc<Batch<R>>,
    task: RemoteFn,
    offsets: Offsets,
    timeout: Option<Duration>,
    state: Arc<RunState>,
}

impl<R> Clone for Parts<R> {
    fn clone(&self) -> Self {
        Parts {
            workers: Arc::clone(&self.workers),
            batch: Arc::clone(&self.batch),
            task: self.task,
            offsets: self.offsets,
            timeout: self.timeout,
            state: Arc::clone(&self.state),
        }
    }
}

/// Submits the batch of `singles` (one-task batches of tasks `start..`) to `workers`.
pub(super) fn submit<R: DeserializeOwned + Send + 'static>(
    workers: Arc<dyn Workers>,
    sender: Sender<Completion<R>>,
    state: Arc<RunState>,
    (task, offsets): (RemoteFn, Offsets),
    timeout: Option<Duration>,
    start: usize,
    singles: Vec<Payload>,
) {
    let shared = Parts {
        workers,
        batch: Arc::new(Batch {
            sender,
            start,
            len: singles.len(),
            began: Instant::now(),
            parts: AtomicUsize::new(1),
        }),
        task,
        offsets,
        timeout,
        state,
    };
    shared.submit_part(start, wire::framed(singles));
}

impl<R: DeserializeOwned + Send + 'static> Parts<R> {
    /// A part of the batch, tasks `start..` as framed one-task batches.
    fn submit_part(&self, start: usize, arguments: Payload) {
        let (task, parts) = (self.task, self.clone());
        let give_back: GiveBack = {
            let parts = self.clone();
            Box::new(move |from, arguments| parts.take_back(start, from, arguments))
        };
        self.workers.submit(Job {
            request: Request::Run {
                task: self.offsets,
                arguments,
                each: true,
            },
            split: split_framed,
            timeout: self.timeout,
            state: Arc::clone(&self.state),
            partial: Some(one_by_one(self.batch.sender.clone(), start)),
            settled: false,
            give_back: Some(give_back),
            done: Box::new(move |outcome, _| {
                parts
                    .batch
                    .part_ended(outcome_of::<R>(outcome, start, task));
            }),
        });
    }

    /// The tasks from `from` on of the part at `start` (whose arguments these are),
    /// which its worker gave back: a part of their own, for any worker.
    fn take_back(&self, start: usize, from: usize, arguments: &Payload) {
        let Ok(singles) = wire::unframed(arguments.clone()) else {
            return;
        };
        if from >= singles.len() {
            return;
        }
        self.batch.parts.fetch_add(1, Ordering::AcqRel);
        let rest = singles.into_iter().skip(from).collect();
        self.submit_part(start + from, wire::framed(rest));
    }
}

/// Reports the results of a part that starts at task `start` as they arrive, each
/// reply's as one completion, in the order the worker sends them (its tasks' order).
fn one_by_one<R: DeserializeOwned + Send + 'static>(
    sender: Sender<Completion<R>>,
    start: usize,
) -> super::job::Partial {
    let mut next = start;
    Box::new(move |payload: Payload| {
        let began = Instant::now();
        let results: Result<Vec<R>, String> = wire::unframed(payload).and_then(|parts| {
            let mut results = Vec::with_capacity(parts.len());
            for part in parts {
                results.extend(decode_values::<R>(part)?);
            }
            Ok(results)
        });
        let (len, outcome) = match results {
            Ok(results) => (results.len(), Outcome::Done(results)),
            Err(err) => (
                1,
                Outcome::Failed {
                    index: next,
                    message: format!("the results cannot be deserialized: {err}"),
                    error: TaskError::default(),
                },
            ),
        };
        let _ = sender.send(Completion {
            start: next,
            len,
            elapsed: began.elapsed(),
            outcome,
            last: false,
        });
        next += len;
    })
}

/// The one-task batches of a batch sent with `each`.
fn split_framed(arguments: &Payload) -> Result<Vec<Payload>, String> {
    wire::unframed(arguments.clone())
}
