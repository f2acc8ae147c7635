//! Running a plan: the dispatcher driven on the calling thread (tasks that borrow), on a
//! pool lent to the run (tasks that own their data, a deadline), or by a stream the caller
//! pulls. Where each batch goes is the caller's `spawn`; the configuration a run's tasks
//! see is the caller's [`Around`] callback.

use super::batch::{self, run_batch, Batch, TaskResult};
use super::claim::Claimable;
use super::dispatch::{Around, Dispatcher, Event, Plan};
use super::pool::{self, inside_worker};
use super::relief::{self, Lanes};
use crate::Error;
use std::ops::ControlFlow;
use std::sync::Arc;

pub(crate) fn drive<I: Iterator, R>(
    dispatcher: &mut Dispatcher<I, R>,
    spawn: &mut impl FnMut(Batch<I::Item>),
    on_event: &mut impl FnMut(Event<R>) -> ControlFlow<()>,
) {
    while let Some(event) = dispatcher.next_event(spawn) {
        if on_event(event).is_break() {
            dispatcher.stop();
            return;
        }
    }
    dispatcher.finish();
}

/// Runs `jobs` with `runner` and hands each event to `on_event` on the calling thread,
/// until the input is exhausted or `on_event` breaks. Tasks may borrow from the caller:
/// this returns only once every task it started has finished.
pub(crate) fn execute_scoped<I, R, Run>(
    threaded: bool,
    plan: &Plan,
    jobs: I,
    runner: &Run,
    mut on_event: impl FnMut(Event<R>) -> ControlFlow<()>,
) -> Result<(), Error>
where
    I: Iterator,
    I::Item: Send,
    R: Send,
    Run: Fn(I::Item) -> TaskResult<R> + Sync,
{
    // One worker runs inline, on the calling thread, even inside a pool: never beside
    // other tasks.
    let inline = !threaded || plan.workers == 1;
    let mut dispatcher = Dispatcher::new(jobs, plan, inline, false);
    if inline {
        let (sender, state) = dispatcher.reporting();
        let mut spawn = |batch| {
            // The receiver lives in `dispatcher` until after this call.
            let _ = sender.send(run_batch(batch, runner, &state));
        };
        drive(&mut dispatcher, &mut spawn, &mut on_event);
        return Ok(());
    }
    let mut on_event = |event: Event<R>| {
        if let Event::Failed(Error::Timeout { index })
        | Event::Settled {
            error: Error::Timeout { index },
            ..
        } = &event
        {
            warn_waiting_for(*index);
        }
        on_event(event)
    };
    if inside_worker() {
        rayon::in_place_scope(|scope| {
            drive_in_scope(
                scope,
                plan.scope.as_ref(),
                &mut dispatcher,
                runner,
                &mut on_event,
            );
        });
    } else {
        pool::pool(plan.workers)?.in_place_scope(|scope| {
            drive_in_scope(
                scope,
                plan.scope.as_ref(),
                &mut dispatcher,
                runner,
                &mut on_event,
            );
        });
    }
    Ok(())
}

/// Runs `jobs` as [`execute_scoped`] does, for tasks that own their data, on a pool lent
/// to this run alone: the call returns at a timeout (or a failure) without waiting for
/// the tasks still running. Their pool is not given back then, so that they delay no
/// later run; they end on their own, and what they return is dropped. A settled run goes
/// on past such tasks, on a fresh pool once they hold every thread (`relief.rs`).
pub(crate) fn execute_owned<I, R, Run>(
    plan: &Plan,
    jobs: I,
    runner: Run,
    mut on_event: impl FnMut(Event<R>) -> ControlFlow<()>,
) -> Result<(), Error>
where
    I: Iterator,
    I::Item: Send + 'static,
    R: Send + 'static,
    Run: Fn(I::Item) -> TaskResult<R> + Send + Sync + 'static,
{
    // Never inline, even for one worker: the calling thread must stay free to notice
    // the deadline. One worker is a pool of one thread, so still one task at a time.
    let dispatcher = Dispatcher::new(jobs, plan, false, false).without_helping();
    let (sender, state) = dispatcher.reporting();
    let lanes = Lanes::new(pool::lend(plan.workers)?, plan.workers);
    let run_one = relief::run_one(runner, plan.scope.clone(), Arc::clone(&state));
    let mut dispatcher = {
        let (lanes, run_one, sender, state) = (
            Arc::clone(&lanes),
            Arc::clone(&run_one),
            sender.clone(),
            Arc::clone(&state),
        );
        dispatcher.on_give_up(move || lanes.relieve(&state, &run_one, &sender))
    };
    let mut spawn = {
        let lanes = Arc::clone(&lanes);
        move |batch| lanes.spawn(batch, &run_one, &sender)
    };
    drive(&mut dispatcher, &mut spawn, &mut on_event);
    if dispatcher.in_flight() == 0 && state.held() == 0 {
        pool::give_back(plan.workers, lanes.pool());
    }
    Ok(())
}

/// The `spawn` of a run whose tasks own their data: each batch goes to `target` (a pool
/// lent to the run), runs in the run's configuration scope and reports on `sender`; with
/// `per_task`, each task's result as it ends (`claim.rs`). The receiver may be gone by
/// then (the call returned at a timeout, the stream was dropped): there is nothing to
/// report to.
fn spawner_on<J, R, Run>(
    target: Arc<rayon::ThreadPool>,
    sender: crossbeam_channel::Sender<batch::Completion<R>>,
    state: Arc<batch::RunState>,
    runner: Run,
    config: Option<Around>,
    per_task: bool,
) -> impl FnMut(Batch<J>) + 'static
where
    J: Send + 'static,
    R: Send + 'static,
    Run: Fn(J) -> TaskResult<R> + Send + Sync + 'static,
{
    let runner = Arc::new(runner);
    move |batch: Batch<J>| {
        let spawn_drain = |claimable: &Arc<Claimable<J>>| {
            let (claimable, sender) = (Arc::clone(claimable), sender.clone());
            let (state, runner, config) = (Arc::clone(&state), Arc::clone(&runner), config.clone());
            target.spawn(move || {
                let run_one = |one| run_batch_in(config.as_ref(), one, &*runner, &state);
                claimable.drain(&run_one, &|completion| {
                    let _ = sender.send(completion);
                });
            });
        };
        if per_task {
            // Its owner, and a helper: a slow task holds one thread, not its batch.
            let claimable = Arc::new(Claimable::new(batch));
            spawn_drain(&claimable);
            if claimable.wants_help() {
                spawn_drain(&claimable);
            }
            return;
        }
        let (sender, state, runner) = (sender.clone(), Arc::clone(&state), Arc::clone(&runner));
        let config = config.clone();
        target.spawn(move || {
            let _ = sender.send(run_batch_in(config.as_ref(), batch, &*runner, &state));
        });
    }
}

/// Tells the user why a run under a timeout from a `Config` scope does
/// not return at the deadline: its tasks may borrow from the caller.
fn warn_waiting_for(index: usize) {
    crate::progress::stderr_line(&format!(
        "parmemo: task {index} ran past the timeout of the enclosing Config scope; this run \
         returns once it ends, since its tasks may borrow from the caller. Set \
         Parallel::timeout on the builder (its tasks then own their data) to return at \
         the deadline."
    ));
}

/// Runs `batch` in the configuration scope its run was started in (see `Plan::scope`).
pub(super) fn run_batch_in<J, R>(
    scope: Option<&Around>,
    batch: Batch<J>,
    runner: &impl Fn(J) -> TaskResult<R>,
    state: &batch::RunState,
) -> batch::Completion<R> {
    match scope {
        Some(around) => around.run(|| run_batch(batch, runner, state)),
        None => run_batch(batch, runner, state),
    }
}

/// [`drive`] with each batch spawned into `scope`, which outlives the batches: they may
/// borrow whatever outlives the scope.
fn drive_in_scope<'scope, I, R, Run>(
    scope: &rayon::Scope<'scope>,
    config: Option<&'scope Around>,
    dispatcher: &mut Dispatcher<I, R>,
    runner: &'scope Run,
    on_event: &mut impl FnMut(Event<R>) -> ControlFlow<()>,
) where
    I: Iterator,
    I::Item: Send + 'scope,
    R: Send + 'scope,
    Run: Fn(I::Item) -> TaskResult<R> + Sync,
{
    let (sender, state) = dispatcher.reporting();
    let mut spawn = |batch: Batch<I::Item>| {
        let sender = sender.clone();
        let state = Arc::clone(&state);
        scope.spawn(move |_| {
            let _ = sender.send(run_batch_in(config, batch, runner, &state));
        });
    };
    drive(dispatcher, &mut spawn, on_event);
}

/// A run whose events are pulled one at a time by an iterator the caller keeps: tasks
/// and results must own their data, since the run outlives the call that started it.
pub(crate) trait EventSource<R> {
    fn next_event(&mut self) -> Option<Event<R>>;
    fn stop(&mut self);
}

pub(crate) type Spawner<J> = Box<dyn FnMut(Batch<J>)>;

pub(crate) struct Stream<J, R> {
    dispatcher: Dispatcher<Box<dyn Iterator<Item = J>>, R>,
    spawn: Spawner<J>,
    over: bool,
    /// What to do once the stream is over or dropped, told whether it left tasks
    /// running that nobody waits for (a timeout, or the stream dropped early).
    on_end: Option<Box<dyn FnOnce(bool)>>,
}

impl<J, R> Stream<J, R> {
    /// A run whose dispatcher advances as its events are asked for; with `eager`, its
    /// first batches are dispatched now (workers start at the call, as joblib's
    /// generators do), else at the first `next()` (inline runs, which would otherwise
    /// run a batch in the caller before it asked for anything).
    pub(crate) fn new(
        mut dispatcher: Dispatcher<Box<dyn Iterator<Item = J>>, R>,
        mut spawn: Spawner<J>,
        eager: bool,
    ) -> Self {
        if eager {
            dispatcher.start(&mut spawn);
        }
        Stream {
            dispatcher,
            spawn,
            over: false,
            on_end: None,
        }
    }

    /// Runs `on_end` once the stream is over or dropped, with whether it left tasks
    /// running behind it.
    pub(crate) fn on_end(mut self, on_end: impl FnOnce(bool) + 'static) -> Self {
        self.on_end = Some(Box::new(on_end));
        self
    }

    fn end(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.dispatcher.in_flight() > 0);
        }
    }
}

impl<J, R> EventSource<R> for Stream<J, R> {
    fn next_event(&mut self) -> Option<Event<R>> {
        if self.over {
            return None;
        }
        let event = self.dispatcher.next_event(&mut self.spawn);
        if event.is_none() {
            self.over = true;
            self.dispatcher.finish();
            self.end();
        }
        event
    }

    fn stop(&mut self) {
        self.over = true;
        self.dispatcher.stop();
    }
}

impl<J, R> Drop for Stream<J, R> {
    fn drop(&mut self) {
        // Dropping the iterator early cancels what has not started; what has started
        // runs to its end without delaying anyone.
        self.dispatcher.stop();
        self.end();
    }
}

/// Starts a run whose events a [`Stream`] hands out on demand; with `per_task`, each
/// task's result is an event of its own as soon as it is ready (`run_unordered`), else
/// each batch's results are.
pub(crate) fn execute_streaming<J, R, Run>(
    threaded: bool,
    per_task: bool,
    plan: &Plan,
    jobs: Box<dyn Iterator<Item = J>>,
    runner: Run,
) -> Result<Box<dyn EventSource<R>>, Error>
where
    J: Send + 'static,
    R: Send + 'static,
    Run: Fn(J) -> TaskResult<R> + Send + Sync + 'static,
{
    let inline = !threaded || plan.workers == 1;
    let dispatcher = Dispatcher::new(jobs, plan, inline, true);
    let (sender, state) = dispatcher.reporting();
    if inline {
        let spawn: Spawner<J> = Box::new(move |batch| {
            let _ = sender.send(run_batch(batch, &runner, &state));
        });
        return Ok(Box::new(Stream::new(dispatcher, spawn, false)));
    }
    // A pool of its own, nested or not: a stream may be dropped with tasks running, and
    // no other run may queue behind them.
    let target = pool::lend(plan.workers)?;
    let given_back = Arc::clone(&target);
    let workers = plan.workers;
    let spawn: Spawner<J> = Box::new(spawner_on(
        target,
        sender,
        state,
        runner,
        plan.scope.clone(),
        per_task,
    ));
    let stream =
        Stream::new(dispatcher.without_helping(), spawn, true).on_end(move |left_running| {
            if !left_running {
                pool::give_back(workers, given_back);
            }
        });
    Ok(Box::new(stream))
}
