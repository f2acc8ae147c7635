//! The dispatcher: pulls tasks lazily from the input, hands batches to whatever runs
//! them, and turns their completions into events in the order they happen.
//!
//! It does not know where batches run: the caller passes a `spawn` function (a scoped
//! rayon spawn, a `'static` one, or running the batch on the spot). Only a bounded
//! number of batches is in flight, so a generator of 10^7 tasks is never collected.

use super::batch::{Batch, Completion, Outcome, RunState, Running};
use super::pool::inside_worker;
use super::sizing::BatchSize;
use super::sizing::{BatchSizer, BatchTarget};
use crate::progress::{LogSink, Progress};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Everything the dispatcher needs to know about one run.
#[derive(Clone)]
pub(crate) struct Plan {
    /// What the run's tasks run inside, on whatever thread runs them: the configuration
    /// scope the run was started in (`None` outside any scope, so that runs without one
    /// pay nothing for it).
    pub(crate) scope: Option<Around>,
    pub(crate) workers: usize,
    pub(crate) batch: BatchSize,
    pub(crate) target: BatchTarget,
    pub(crate) timeout: Option<Duration>,
    pub(crate) verbose: u8,
    pub(crate) log: LogSink,
    /// A settled run (`map_settled`): a task that fails, overruns or kills its worker
    /// is an outcome of its own ([`Event::Settled`]) and the run goes on.
    pub(crate) settled: bool,
}

/// A callback that runs its argument inside something of the layer above (a
/// configuration scope), so that the core carries it to worker threads without knowing
/// what it is.
#[derive(Clone)]
pub(crate) struct Around(Arc<AroundFn>);

/// What an [`Around`] calls: its argument is the body to run inside.
type AroundFn = dyn Fn(&mut dyn FnMut()) + Send + Sync;

impl Around {
    pub(crate) fn new(around: impl Fn(&mut dyn FnMut()) + Send + Sync + 'static) -> Around {
        Around(Arc::new(around))
    }

    /// `body`'s result, computed inside the callback (or outside it, should the callback
    /// not call it: the body runs either way, exactly once).
    pub(crate) fn run<T>(&self, body: impl FnOnce() -> T) -> T {
        let mut body = Some(body);
        let mut result = None;
        (self.0)(&mut || {
            if let Some(body) = body.take() {
                result = Some(body());
            }
        });
        match (result, body) {
            (Some(result), _) => result,
            (None, Some(body)) => body(),
            (None, None) => unreachable!("a body taken out always leaves its result"),
        }
    }
}

/// What happened next in a run.
pub(crate) enum Event<R> {
    /// Tasks `start..start + results.len()` finished.
    Results { start: usize, results: Vec<R> },
    /// The first failure observed: the run stops.
    Failed(crate::Error),
    /// In a settled run: task `index` has no result, for the reason `error` gives; the
    /// run goes on.
    Settled { index: usize, error: crate::Error },
}

/// How long a waiting dispatcher sleeps at most before it looks at the clocks again.
const TIMEOUT_POLL: Duration = Duration::from_millis(10);
/// How long a dispatcher that is itself a pool worker blocks when no work is left to
/// help with: short, so that it returns to helping soon.
const WORKER_POLL: Duration = Duration::from_micros(200);

#[allow(clippy::struct_excessive_bools)] // four independent facts of a run
pub(crate) struct Dispatcher<I: Iterator, R> {
    jobs: I,
    next_index: usize,
    exhausted: bool,
    stopped: bool,
    in_flight: usize,
    max_in_flight: usize,
    inline: bool,
    sizer: BatchSizer,
    state: Arc<RunState>,
    sender: Sender<Completion<R>>,
    receiver: Receiver<Completion<R>>,
    running: Vec<(usize, Arc<Running>)>,
    progress: Progress,
    done: usize,
    total: Option<usize>,
    waiting: Waiting,
    settled: bool,
    /// Events decided together (the tasks of one batch), handed out one at a time.
    pending: VecDeque<Event<R>>,
    /// Batches of a settled run reported past their timeout, whose completion no longer
    /// counts (they no longer count as in flight either).
    given_up: HashSet<usize>,
    /// Called after a batch was given up: what lets the layer that runs batches replace
    /// threads held by tasks that cannot be stopped.
    on_give_up: Option<Box<dyn FnMut()>>,
}

/// How the dispatcher waits for completions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// By running other work of the pool the calling thread belongs to: when this run's
    /// batches go to that pool (a nested scoped run), where blocking could starve them.
    HelpsPool,
    /// By blocking on the channel, up to the next deadline.
    Blocks,
}

impl<I: Iterator, R> Dispatcher<I, R> {
    /// A dispatcher for `jobs`; `inline` says `spawn` runs each batch before returning,
    /// so that only one batch may be "in flight" and none is run ahead of the consumer.
    /// `streaming` runs hand results to a consumer as it asks, so their batch sizes grow
    /// only on evidence from current-size batches (see `BatchSizer::new`).
    pub(crate) fn new(jobs: I, plan: &Plan, inline: bool, streaming: bool) -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let (lower, upper) = jobs.size_hint();
        let total = (upper == Some(lower)).then_some(lower);
        Dispatcher {
            jobs,
            next_index: 0,
            exhausted: false,
            stopped: false,
            in_flight: 0,
            // Two batches per worker: one running, one queued behind it.
            max_in_flight: if inline { 1 } else { 2 * plan.workers.max(1) },
            inline,
            // A settled run under a timeout gives up on the overdue task alone: each task
            // is its own batch, so no other result waits on one that may never come.
            sizer: BatchSizer::new(
                if plan.settled && plan.timeout.is_some() {
                    BatchSize::Fixed(1)
                } else {
                    plan.batch
                },
                plan.target,
                plan.workers,
                !streaming,
            ),
            state: Arc::new(RunState::new(plan.timeout)),
            sender,
            receiver,
            running: Vec::new(),
            progress: Progress::new(plan.verbose, plan.workers, total, plan.log.clone()),
            done: 0,
            total,
            waiting: if inside_worker() {
                Waiting::HelpsPool
            } else {
                Waiting::Blocks
            },
            settled: plan.settled,
            pending: VecDeque::new(),
            given_up: HashSet::new(),
            on_give_up: None,
        }
    }

    /// Calls `hook` each time the run gives up waiting for a task past its timeout.
    pub(crate) fn on_give_up(mut self, hook: impl FnMut() + 'static) -> Self {
        self.on_give_up = Some(Box::new(hook));
        self
    }

    /// Waits by blocking, never by running other work of the calling thread's pool:
    /// for runs whose batches go to a pool the calling thread is not part of, and which
    /// must notice their deadline while waiting.
    pub(crate) fn without_helping(mut self) -> Self {
        self.waiting = Waiting::Blocks;
        self
    }

    /// The channel batches report on and the state they share with the dispatcher.
    pub(crate) fn reporting(&self) -> (Sender<Completion<R>>, Arc<RunState>) {
        (self.sender.clone(), Arc::clone(&self.state))
    }

    /// Stops the run: nothing more is dispatched and running batches stop before their
    /// next task.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.state.cancel();
    }

    /// Closes the run's progress report (call after the last event).
    pub(crate) fn finish(&mut self) {
        if !self.stopped {
            self.progress.finish(self.done);
        }
    }

    /// Dispatches the first batches now, up to the usual two per worker, without waiting
    /// for any: a stream starts working at the call, not at its first `next()`.
    pub(crate) fn start(&mut self, spawn: &mut impl FnMut(Batch<I::Item>)) {
        self.fill(spawn);
    }

    /// How many dispatched batches have not reported yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn fill(&mut self, spawn: &mut impl FnMut(Batch<I::Item>)) {
        while !self.stopped && !self.exhausted && self.in_flight < self.max_in_flight {
            let size = self.sizer.next_size(self.total);
            let jobs: Vec<I::Item> = self.jobs.by_ref().take(size).collect();
            if jobs.len() < size {
                self.exhausted = true;
            }
            if jobs.is_empty() {
                break;
            }
            let start = self.next_index;
            self.next_index += jobs.len();
            let running = self.state.timeout().map(|_| {
                let slot = Arc::new(Running::new());
                self.running.push((start, Arc::clone(&slot)));
                slot
            });
            self.in_flight += 1;
            spawn(Batch {
                start,
                jobs,
                running,
            });
        }
    }

    /// The next event of the run, dispatching more batches as room frees up; `None`
    /// once every dispatched batch has reported and the input is exhausted (or the run
    /// was stopped).
    pub(crate) fn next_event(
        &mut self,
        spawn: &mut impl FnMut(Batch<I::Item>),
    ) -> Option<Event<R>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            self.fill(spawn);
            if self.in_flight == 0 || self.stopped {
                return None;
            }
            let completion = match self.wait() {
                Ok(completion) => completion,
                Err((start, index)) => {
                    let error = crate::Error::Timeout { index };
                    if !self.settled {
                        return Some(Event::Failed(error));
                    }
                    self.give_up(start);
                    return Some(Event::Settled { index, error });
                }
            };
            if self.given_up.contains(&completion.start) {
                // Reported at its deadline already; what it brings now is dropped.
                if completion.last {
                    self.given_up.remove(&completion.start);
                    self.state.release();
                }
                continue;
            }
            if completion.last {
                self.in_flight -= 1;
                self.running.retain(|(start, _)| *start != completion.start);
                self.sizer.record(completion.len, completion.elapsed);
            }
            match completion.outcome {
                Outcome::Done(results) => {
                    self.done += results.len();
                    self.progress.update(self.done);
                    // Top up before handing results over, so workers stay busy while
                    // the consumer works on them (inline, that would run ahead of it).
                    if !self.inline && completion.last {
                        self.fill(spawn);
                    }
                    return Some(Event::Results {
                        start: completion.start,
                        results,
                    });
                }
                // Only after `stop`, whose caller no longer asks for events; skip it.
                Outcome::Cancelled => {}
                Outcome::NoWorker { message } => {
                    return Some(Event::Failed(crate::Error::WorkerStart { message }));
                }
                Outcome::Singles(outcomes) => {
                    for (offset, outcome) in outcomes.into_iter().enumerate() {
                        self.settle(completion.start + offset, 1, outcome);
                    }
                }
                failure if self.settled => self.settle(completion.start, completion.len, failure),
                Outcome::Failed {
                    index,
                    message,
                    error,
                } => {
                    return Some(Event::Failed(crate::Error::Task {
                        index,
                        message,
                        error,
                    }));
                }
                Outcome::Overran { index } => {
                    return Some(Event::Failed(crate::Error::Timeout { index }));
                }
                Outcome::Died { index, cause } => {
                    return Some(Event::Failed(crate::Error::WorkerDied { index, cause }));
                }
                Outcome::Error { error, .. } => return Some(Event::Failed(error)),
            }
        }
    }

    /// Stops waiting for the batch at `start`, past its timeout in a settled run: it no
    /// longer counts as in flight (so the run dispatches beyond it), and its thread
    /// counts as held until it ends.
    fn give_up(&mut self, start: usize) {
        self.running.retain(|(running, _)| *running != start);
        self.given_up.insert(start);
        self.in_flight -= 1;
        self.state.hold();
        if let Some(hook) = self.on_give_up.as_mut() {
            hook();
        }
    }

    /// Queues the events of a settled run's batch of `len` tasks at `start` that ended
    /// with `outcome`: results as they are, and for each task without one, why.
    fn settle(&mut self, start: usize, len: usize, outcome: Outcome<R>) {
        let (index, error) = match outcome {
            Outcome::Done(results) => {
                self.done += results.len();
                self.progress.update(self.done);
                self.pending.push_back(Event::Results { start, results });
                return;
            }
            Outcome::Failed {
                index,
                message,
                error,
            } => (
                index,
                crate::Error::Task {
                    index,
                    message,
                    error,
                },
            ),
            Outcome::Overran { index } => (index, crate::Error::Timeout { index }),
            Outcome::Died { index, cause } => (index, crate::Error::WorkerDied { index, cause }),
            Outcome::Error { index, error } => (index, error),
            Outcome::NoWorker { message } => {
                self.pending
                    .push_back(Event::Failed(crate::Error::WorkerStart { message }));
                return;
            }
            Outcome::Cancelled => return,
            Outcome::Singles(outcomes) => {
                for (offset, outcome) in outcomes.into_iter().enumerate() {
                    self.settle(start + offset, 1, outcome);
                }
                return;
            }
        };
        self.done += len;
        self.progress.update(self.done);
        let reason = error.to_string();
        for other in start..start + len {
            let event = if other == index {
                Event::Settled {
                    index,
                    error: error.clone(),
                }
            } else {
                // A batch reports its results together: the others of a failed batch
                // have none (the settled paths make such batches rare: every task's
                // own failure is caught alone, and a dead worker's batch is rerun task
                // by task).
                Event::Settled {
                    index: other,
                    error: crate::Error::task(
                        other,
                        format!("no result: its batch ended at task {index} ({reason})"),
                    ),
                }
            };
            self.pending.push_back(event);
        }
    }

    /// Waits for a completion, or returns the batch and the index of a task past its
    /// timeout.
    fn wait(&mut self) -> Result<Completion<R>, (usize, usize)> {
        loop {
            if let Some(timeout) = self.state.timeout() {
                if let Some(overdue) = self.running.iter().find_map(|(start, slot)| {
                    slot.overdue(&self.state, timeout)
                        .map(|index| (*start, index))
                }) {
                    return Err(overdue);
                }
            }
            if self.waiting == Waiting::HelpsPool {
                // Blocking here would take a worker from the pool our own batches need
                // (a nested run): help with pending work instead.
                match self.receiver.try_recv() {
                    Ok(completion) => return Ok(completion),
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => {
                        unreachable!("the dispatcher holds a sender")
                    }
                }
                if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                    if let Ok(completion) = self.receiver.recv_timeout(WORKER_POLL) {
                        return Ok(completion);
                    }
                }
                continue;
            }
            let patience = match self.state.timeout() {
                None => {
                    return self
                        .receiver
                        .recv()
                        .map_err(|_| unreachable!("the dispatcher holds a sender"))
                }
                Some(timeout) => self
                    .running
                    .iter()
                    .filter_map(|(_, slot)| slot.time_left(&self.state, timeout))
                    .min()
                    .unwrap_or(TIMEOUT_POLL)
                    .clamp(Duration::from_micros(100), TIMEOUT_POLL),
            };
            match self.receiver.recv_timeout(patience) {
                Ok(completion) => return Ok(completion),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    unreachable!("the dispatcher holds a sender")
                }
            }
        }
    }
}
