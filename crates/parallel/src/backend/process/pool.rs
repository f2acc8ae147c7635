//! The parent's side: a reusable pool of worker processes, one parent thread each.

use super::spawn::{Failure, StartError, Worker};
use super::worker::refuse_pool_in_unserved_worker;
use crate::backend::remote::wire::Request;
use crate::backend::remote::{Job, JobOutcome, Workers};
use crate::Error;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// `n` worker processes, each served by a parent thread that takes jobs from a shared
/// queue, so the least busy worker takes the next batch.
pub(crate) struct ProcessPool {
    jobs: Sender<Job>,
    pids: Arc<Mutex<HashMap<usize, u32>>>,
}

static POOLS: LazyLock<Mutex<HashMap<usize, Arc<ProcessPool>>>> = LazyLock::new(Mutex::default);

/// Set once a worker ran `main` instead of serving: every later start would do the same,
/// so none is tried, and at most one pool's worth of processes is ever started for it.
static INIT_MISSING: OnceLock<String> = OnceLock::new();

/// The pool of `workers` processes, started on first use and reused afterwards.
pub(crate) fn pool(workers: usize) -> Result<Arc<ProcessPool>, Error> {
    refuse_pool_in_unserved_worker();
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = pools.get(&workers) {
        return Ok(Arc::clone(pool));
    }
    refuse_if_init_missing()?;
    let (sender, receiver) = crossbeam_channel::unbounded();
    let (started, starts) = crossbeam_channel::bounded(workers);
    let pids = Arc::new(Mutex::new(HashMap::new()));
    for slot in 0..workers {
        let receiver = receiver.clone();
        let pids = Arc::clone(&pids);
        let started = started.clone();
        std::thread::Builder::new()
            .name(format!("parmemo-process-{slot}"))
            .spawn(move || serve_jobs(slot, &receiver, &pids, &started))
            .map_err(|err| Error::WorkerStart {
                message: format!("cannot start the thread of worker {slot}: {err}"),
            })?;
    }
    // The workers start side by side; wait for all, so that the pool is whole (and its
    // start cost paid) when the first batch goes out.
    let deadline = Instant::now() + super::spawn::START_TIMEOUT + Duration::from_secs(1);
    for _ in 0..workers {
        if starts.recv_deadline(deadline).is_err() {
            break;
        }
    }
    // Dropping the queue's only sender ends the pool's threads: a pool whose workers run
    // `main` is never kept.
    refuse_if_init_missing()?;
    let pool = Arc::new(ProcessPool { jobs: sender, pids });
    pools.insert(workers, Arc::clone(&pool));
    Ok(pool)
}

fn refuse_if_init_missing() -> Result<(), Error> {
    match INIT_MISSING.get() {
        Some(message) => Err(Error::WorkerStart {
            message: message.clone(),
        }),
        None => Ok(()),
    }
}

/// Starts a worker unless one already showed that workers cannot serve.
fn start_worker() -> Result<Worker, String> {
    if let Some(message) = INIT_MISSING.get() {
        return Err(message.clone());
    }
    Worker::start().map_err(|err| {
        let message = err.message().to_owned();
        if let StartError::InitMissing(message) = err {
            let _ = INIT_MISSING.set(message);
        }
        message
    })
}

impl Workers for ProcessPool {
    fn submit(&self, job: Job) {
        if let Err(crossbeam_channel::SendError(job)) = self.jobs.send(job) {
            (job.done)(
                JobOutcome::NoWorker {
                    message: "the process pool is gone".to_owned(),
                },
                Duration::ZERO,
            );
        }
    }
}

impl ProcessPool {
    /// The process ids of the live workers.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .copied()
            .collect();
        pids.sort_unstable();
        pids
    }
}

/// The loop of one parent thread: keep a worker alive, hand it jobs one at a time.
fn serve_jobs(
    slot: usize,
    jobs: &Receiver<Job>,
    pids: &Mutex<HashMap<usize, u32>>,
    started: &Sender<()>,
) {
    let mut worker: Option<Worker> = None;
    let set_pid = |pid: Option<u32>| {
        let mut pids = pids.lock().unwrap_or_else(PoisonError::into_inner);
        match pid {
            Some(pid) => pids.insert(slot, pid),
            None => pids.remove(&slot),
        };
    };
    // Start at once, so that the first batch does not wait for it.
    if let Ok(first) = start_worker() {
        set_pid(Some(first.pid()));
        worker = Some(first);
    }
    let _ = started.send(());
    while let Ok(job) = jobs.recv() {
        if job.state.is_cancelled() {
            (job.done)(JobOutcome::Cancelled, Duration::ZERO);
            continue;
        }
        let current = match worker.take() {
            Some(current) => Ok(current),
            None => start_worker(),
        };
        let mut current = match current {
            Ok(current) => current,
            Err(message) => {
                (job.done)(JobOutcome::NoWorker { message }, Duration::ZERO);
                continue;
            }
        };
        set_pid(Some(current.pid()));
        let began = Instant::now();
        let cancelled = || job.state.is_cancelled();
        match current.run(&job.request, job.timeout, &cancelled) {
            Ok(reply) => {
                worker = Some(current);
                (job.done)(JobOutcome::Reply(reply), began.elapsed());
            }
            Err(Failure::TimedOut) => {
                current.kill();
                set_pid(None);
                (job.done)(JobOutcome::TimedOut, began.elapsed());
            }
            Err(Failure::Cancelled) => {
                current.kill();
                set_pid(None);
                (job.done)(JobOutcome::Cancelled, began.elapsed());
            }
            Err(Failure::Died) => {
                let cause = current.reap();
                set_pid(None);
                let offset = find_the_killer(&job, &mut worker, &set_pid);
                (job.done)(JobOutcome::Died { cause, offset }, began.elapsed());
            }
        }
    }
}

/// After a worker died in a batch of several tasks, reruns them one at a time on fresh
/// workers and returns the offset of the first that kills its worker again. This costs
/// nothing unless a worker dies, and names the task exactly when the crash repeats; the
/// tasks before it run a second time.
fn find_the_killer(
    job: &Job,
    worker: &mut Option<Worker>,
    set_pid: &dyn Fn(Option<u32>),
) -> Option<usize> {
    let Request::Run { task, arguments } = &job.request;
    let singles = (job.split)(arguments).ok()?;
    if singles.len() < 2 {
        return (singles.len() == 1).then_some(0);
    }
    for (offset, single) in singles.into_iter().enumerate() {
        let mut current = match worker.take() {
            Some(current) => current,
            None => start_worker().ok()?,
        };
        set_pid(Some(current.pid()));
        let request = Request::Run {
            task: *task,
            arguments: single,
        };
        let cancelled = || job.state.is_cancelled();
        match current.run(&request, job.timeout, &cancelled) {
            Ok(_) => *worker = Some(current),
            Err(failure) => {
                current.kill();
                set_pid(None);
                // A run that gave up meanwhile needs no culprit.
                return (!matches!(failure, Failure::Cancelled)).then_some(offset);
            }
        }
    }
    None
}
