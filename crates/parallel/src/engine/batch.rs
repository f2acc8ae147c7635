//! Running one batch of tasks on a worker: panics caught, cancellation honoured between
//! tasks, the running task published for timeouts.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one task returns to the engine: its value, or why it failed.
pub(crate) type TaskResult<R> = Result<R, Failure>;

/// Why a task failed: its message, and its own error value when it returned one.
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) error: crate::error::TaskError,
}

impl Failure {
    /// A task's own error, kept as itself beside its `Display` text.
    pub(crate) fn typed<E: std::fmt::Display + Send + Sync + 'static>(error: E) -> Self {
        Failure {
            message: error.to_string(),
            error: crate::error::TaskError::new(error),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            error: crate::error::TaskError::default(),
        }
    }
}

/// What the dispatcher and the workers of one run share.
pub(crate) struct RunState {
    cancelled: AtomicBool,
    epoch: Instant,
    timeout: Option<Duration>,
    /// Tasks past their timeout that a settled run stopped waiting for but that still
    /// hold a thread (threads cannot be stopped): what tells a run's spawner that its
    /// pool has no free thread left.
    held: AtomicUsize,
}

impl RunState {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        RunState {
            cancelled: AtomicBool::new(false),
            epoch: Instant::now(),
            timeout,
            held: AtomicUsize::new(0),
        }
    }

    /// One more task past its timeout still holds a thread.
    pub(crate) fn hold(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    /// A task past its timeout ended and gave its thread back.
    pub(crate) fn release(&self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }

    /// How many threads tasks past their timeout still hold.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

const IDLE: usize = usize::MAX;

/// The task a batch is running and since when; only kept when a timeout is set, so
/// that tiny tasks without one pay nothing for it.
pub(crate) struct Running {
    index: AtomicUsize,
    since: AtomicU64,
}

impl Running {
    pub(crate) fn new() -> Self {
        Running {
            index: AtomicUsize::new(IDLE),
            since: AtomicU64::new(0),
        }
    }

    fn start(&self, index: usize, state: &RunState) {
        self.since.store(state.now(), Ordering::Relaxed);
        self.index.store(index, Ordering::Release);
    }

    fn stop(&self) {
        self.index.store(IDLE, Ordering::Release);
    }

    /// The index of the task running past `timeout`, if this batch has one.
    pub(crate) fn overdue(&self, state: &RunState, timeout: Duration) -> Option<usize> {
        let index = self.index.load(Ordering::Acquire);
        if index == IDLE {
            return None;
        }
        let ran = state
            .now()
            .saturating_sub(self.since.load(Ordering::Relaxed));
        (Duration::from_nanos(ran) > timeout).then_some(index)
    }

    /// How long until the running task, if any, passes `timeout`.
    pub(crate) fn time_left(&self, state: &RunState, timeout: Duration) -> Option<Duration> {
        if self.index.load(Ordering::Acquire) == IDLE {
            return None;
        }
        let ran = state
            .now()
            .saturating_sub(self.since.load(Ordering::Relaxed));
        Some(timeout.saturating_sub(Duration::from_nanos(ran)))
    }
}

/// A slice of consecutive tasks sent to one worker.
pub(crate) struct Batch<J> {
    /// Index of the first task in the whole input.
    pub(crate) start: usize,
    pub(crate) jobs: Vec<J>,
    pub(crate) running: Option<Arc<Running>>,
}

/// How a batch ended.
pub(crate) enum Outcome<R> {
    /// Every task ran; their results in order.
    Done(Vec<R>),
    /// Task `index` panicked or failed; the rest of the batch did not run.
    Failed {
        index: usize,
        message: String,
        error: crate::error::TaskError,
    },
    /// Task `index` finished, but later than the timeout allows.
    Overran { index: usize },
    /// The run was cancelled before the batch finished.
    Cancelled,
    /// The worker process running the batch died.
    #[cfg_attr(not(feature = "processes"), allow(dead_code))] // made by worker processes only
    Died { index: usize, cause: String },
    /// No worker process could be started.
    #[cfg_attr(not(feature = "processes"), allow(dead_code))] // made by worker processes only
    NoWorker { message: String },
    /// Task `index` ended the batch with `error`, as the backend that ran it words it
    /// (a task past its timeout on an MPI rank).
    #[cfg_attr(not(feature = "processes"), allow(dead_code))] // made out of process only
    Error { index: usize, error: crate::Error },
    /// A settled batch whose worker died, rerun one task at a time: each task's own
    /// outcome, in order.
    #[cfg_attr(not(feature = "processes"), allow(dead_code))] // made by worker processes only
    Singles(Vec<Outcome<R>>),
}

/// A batch's report to the dispatcher.
pub(crate) struct Completion<R> {
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) elapsed: Duration,
    pub(crate) outcome: Outcome<R>,
    /// Whether the batch is over. A batch that reports each task as it completes (for
    /// `run_unordered`) sends those reports with `last: false`, then one that closes it.
    pub(crate) last: bool,
}

enum Halt {
    Cancelled,
    Failed(Failure),
    Overran,
}

/// Runs the tasks of `batch` in order with `runner`, stopping at the first failure.
pub(crate) fn run_batch<J, R>(
    batch: Batch<J>,
    runner: &impl Fn(J) -> TaskResult<R>,
    state: &RunState,
) -> Completion<R> {
    let began = Instant::now();
    let Batch {
        start,
        jobs,
        running,
    } = batch;
    let len = jobs.len();
    let mut results = Vec::with_capacity(len);
    let halted = catch_unwind(AssertUnwindSafe(|| {
        if let (Some(slot), Some(timeout)) = (&running, state.timeout()) {
            run_timed(jobs, runner, state, slot, timeout, start, &mut results)
        } else {
            run_plain(jobs, runner, state, &mut results)
        }
    }));
    if let Some(slot) = &running {
        slot.stop();
    }
    let index = start + results.len();
    let outcome = match halted {
        Ok(None) => Outcome::Done(results),
        Ok(Some(Halt::Cancelled)) => Outcome::Cancelled,
        Ok(Some(Halt::Failed(Failure { message, error }))) => Outcome::Failed {
            index,
            message,
            error,
        },
        Ok(Some(Halt::Overran)) => Outcome::Overran { index },
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // A payload whose `Drop` panics would panic here, outside any catch, and take
            // the pool's thread (and the run waiting on it) down: leak it instead.
            std::mem::forget(payload);
            Outcome::Failed {
                index,
                message,
                error: crate::error::TaskError::default(),
            }
        }
    };
    Completion {
        start,
        len,
        elapsed: began.elapsed(),
        outcome,
        last: true,
    }
}

/// The tasks of a batch without a timeout: no clock per task, so tiny tasks pay only
/// for the cancellation check.
fn run_plain<J, R>(
    jobs: Vec<J>,
    runner: &impl Fn(J) -> TaskResult<R>,
    state: &RunState,
    results: &mut Vec<R>,
) -> Option<Halt> {
    for job in jobs {
        if state.is_cancelled() {
            return Some(Halt::Cancelled);
        }
        match runner(job) {
            Ok(value) => results.push(value),
            Err(failure) => return Some(Halt::Failed(failure)),
        }
    }
    None
}

/// The tasks of a batch under a timeout: each publishes itself in `slot` for the
/// dispatcher's watch, and one that returns too late still fails the run.
fn run_timed<J, R>(
    jobs: Vec<J>,
    runner: &impl Fn(J) -> TaskResult<R>,
    state: &RunState,
    slot: &Running,
    timeout: Duration,
    start: usize,
    results: &mut Vec<R>,
) -> Option<Halt> {
    for job in jobs {
        if state.is_cancelled() {
            return Some(Halt::Cancelled);
        }
        slot.start(start + results.len(), state);
        let began = Instant::now();
        match runner(job) {
            Ok(_) if began.elapsed() > timeout => return Some(Halt::Overran),
            Ok(value) => results.push(value),
            Err(failure) => return Some(Halt::Failed(failure)),
        }
    }
    None
}

/// A settled task's outcome, caught where it ran (its panic too): the task itself never
/// fails its batch, so the batch goes on to its other tasks.
#[allow(clippy::unnecessary_wraps)] // the shape of every task's runner
pub(crate) fn settle<R>(
    task: impl FnOnce() -> Result<R, Failure>,
) -> TaskResult<Result<R, Failure>> {
    Ok(
        catch_unwind(AssertUnwindSafe(task)).unwrap_or_else(|payload| {
            let message = panic_message(payload.as_ref());
            // As in `run_batch`: a payload whose `Drop` panics is leaked, not dropped.
            std::mem::forget(payload);
            Err(Failure::from(message))
        }),
    )
}

/// The text of a panic, as `std` prints it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        format!("panicked: {text}")
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("panicked: {text}")
    } else {
        "panicked with a payload that is not a string".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch<J>(start: usize, jobs: Vec<J>) -> Batch<J> {
        Batch {
            start,
            jobs,
            running: None,
        }
    }

    #[test]
    fn results_come_back_in_order() {
        let state = RunState::new(None);
        let done = run_batch(batch(10, vec![1, 2, 3]), &|x: i32| Ok(x * 10), &state);
        assert!(matches!(done.outcome, Outcome::Done(v) if v == [10, 20, 30]));
        assert_eq!((done.start, done.len), (10, 3));
    }

    #[test]
    fn a_panic_names_the_task() {
        let state = RunState::new(None);
        let done = run_batch(
            batch(5, vec![0, 1, 2]),
            &|x: i32| {
                assert!(x != 1, "boom at {x}");
                Ok(x)
            },
            &state,
        );
        match done.outcome {
            Outcome::Failed { index, message, .. } => {
                assert_eq!(index, 6);
                assert!(message.contains("boom at 1"), "{message}");
            }
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn cancellation_stops_between_tasks() {
        let state = RunState::new(None);
        state.cancel();
        let done = run_batch(batch(0, vec![1, 2]), &|x: i32| Ok(x), &state);
        assert!(matches!(done.outcome, Outcome::Cancelled));
    }

    #[test]
    fn overrunning_tasks_are_reported_after_the_fact() {
        // 250 ms either side of the timeout: a loaded machine can pause a thread for
        // milliseconds inside the quick task.
        let state = RunState::new(Some(Duration::from_millis(250)));
        let running = Some(Arc::new(Running::new()));
        let slow = Batch {
            start: 3,
            jobs: vec![0_u64, 500],
            running,
        };
        let done = run_batch(
            slow,
            &|ms: u64| {
                std::thread::sleep(Duration::from_millis(ms));
                Ok(ms)
            },
            &state,
        );
        assert!(matches!(done.outcome, Outcome::Overran { index: 4 }));
    }
}
