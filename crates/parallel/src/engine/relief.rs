//! Threads for a settled run whose tasks cannot be stopped: when tasks past their
//! timeout hold every thread of the run's pool, the batches still waiting move to a
//! fresh pool, so that every other task still runs and the call still returns.
//!
//! Batches wait in a queue of the run's own rather than in the pool's: a pool's queue
//! cannot be taken back from it, and a batch queued behind a thread that never frees up
//! would never run. Each spawn queues one batch and asks the current pool for one thread
//! to take the oldest; a thread that finds the queue empty (its batch was taken by a
//! fresh pool's thread) has nothing to do.

use super::batch::{Batch, Completion, RunState, TaskResult};
use super::dispatch::Around;
use super::pool;
use rayon::ThreadPool;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// The run's pool and its waiting batches.
pub(crate) struct Lanes<J> {
    inner: Mutex<Inner<J>>,
    workers: usize,
}

struct Inner<J> {
    pool: Arc<ThreadPool>,
    waiting: VecDeque<Batch<J>>,
    /// How many threads were held when `pool` was lent: those hold other pools.
    held_before: usize,
}

/// How a thread of the run turns a batch into its report.
pub(crate) type RunOne<J, R> = Arc<dyn Fn(Batch<J>) -> Completion<R> + Send + Sync>;

impl<J: Send + 'static> Lanes<J> {
    pub(crate) fn new(pool: Arc<ThreadPool>, workers: usize) -> Arc<Self> {
        Arc::new(Lanes {
            inner: Mutex::new(Inner {
                pool,
                waiting: VecDeque::new(),
                held_before: 0,
            }),
            workers,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<J>> {
        // Nothing panics while the lock is held.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `batch` and asks the current pool for a thread to run the oldest one.
    pub(crate) fn spawn<R: Send + 'static>(
        self: &Arc<Self>,
        batch: Batch<J>,
        run_one: &RunOne<J, R>,
        report: &crossbeam_channel::Sender<Completion<R>>,
    ) {
        let mut inner = self.lock();
        inner.waiting.push_back(batch);
        self.take_one(&inner.pool, run_one, report);
    }

    fn take_one<R: Send + 'static>(
        self: &Arc<Self>,
        pool: &ThreadPool,
        run_one: &RunOne<J, R>,
        report: &crossbeam_channel::Sender<Completion<R>>,
    ) {
        let lanes = Arc::clone(self);
        let run_one = Arc::clone(run_one);
        let report = report.clone();
        pool.spawn(move || {
            let next = lanes.lock().waiting.pop_front();
            if let Some(batch) = next {
                // The receiver may be gone (the call returned): nobody to tell.
                let _ = report.send(run_one(batch));
            }
        });
    }

    /// After the run gave up on a task: when tasks past their timeout hold every thread
    /// of the current pool, lends a fresh pool and hands it the waiting batches. (If no
    /// pool can be lent, they wait for a thread to free up.)
    pub(crate) fn relieve<R: Send + 'static>(
        self: &Arc<Self>,
        state: &RunState,
        run_one: &RunOne<J, R>,
        report: &crossbeam_channel::Sender<Completion<R>>,
    ) {
        let mut inner = self.lock();
        let held = state.held();
        if held.saturating_sub(inner.held_before) < self.workers {
            return;
        }
        let Ok(fresh) = pool::lend(self.workers) else {
            return;
        };
        inner.pool = fresh;
        inner.held_before = held;
        let pool = Arc::clone(&inner.pool);
        for _ in 0..inner.waiting.len() {
            self.take_one(&pool, run_one, report);
        }
    }

    /// The current pool, to give back once no task of the run is left running.
    pub(crate) fn pool(&self) -> Arc<ThreadPool> {
        Arc::clone(&self.lock().pool)
    }
}

/// How each thread of an owned run runs a batch: in the run's configuration scope.
pub(crate) fn run_one<J, R>(
    runner: impl Fn(J) -> TaskResult<R> + Send + Sync + 'static,
    scope: Option<Around>,
    state: Arc<RunState>,
) -> RunOne<J, R>
where
    J: Send + 'static,
    R: Send + 'static,
{
    Arc::new(move |batch| super::run::run_batch_in(scope.as_ref(), batch, &runner, &state))
}
