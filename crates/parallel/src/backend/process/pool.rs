//! The parent's side: a reusable pool of worker processes, one parent thread each.

use super::spawn::{Failure, StartError, Worker, Yielding};
use super::worker::refuse_pool_in_unserved_worker;
use crate::backend::remote::wire::Request;
use crate::backend::remote::{Job, JobOutcome, Offsets, Workers};
use crate::Error;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// `n` worker processes, each served by a parent thread that takes jobs from a shared
/// queue, so the least busy worker takes the next batch.
pub(crate) struct ProcessPool {
    jobs: Sender<Job>,
    pids: Arc<Mutex<HashMap<usize, u32>>>,
    last_used: Mutex<Instant>,
}

/// A pool's identity: its size and its workers' initializer (workers of another
/// initializer are not interchangeable).
type PoolKey = (usize, Option<Offsets>);

static POOLS: LazyLock<Mutex<HashMap<PoolKey, Arc<ProcessPool>>>> = LazyLock::new(Mutex::default);

/// How long an unused pool keeps its workers (loky's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a batch answered task by task may send nothing before its tasks not started
/// are asked back for an idle worker: a task this slow holds back no other.
const YIELD_AFTER: Duration = Duration::from_millis(100);

/// How many pool sizes are kept: asking for a fifth ends the least recently used.
const KEPT_SIZES: usize = 4;

/// Set once a worker ran `main` instead of serving: every later start would do the same,
/// so none is tried, and at most one pool's worth of processes is ever started for it.
static INIT_MISSING: OnceLock<String> = OnceLock::new();

/// The pool of `workers` processes whose workers first run `initializer`, started on
/// first use and reused afterwards.
pub(crate) fn pool(
    workers: usize,
    initializer: Option<Offsets>,
) -> Result<Arc<ProcessPool>, Error> {
    refuse_pool_in_unserved_worker();
    let key = (workers, initializer);
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = pools.get(&key) {
        pool.touch();
        return Ok(Arc::clone(pool));
    }
    refuse_if_init_missing()?;
    start_reaper();
    if pools.len() >= KEPT_SIZES {
        let oldest = pools
            .iter()
            .min_by_key(|(_, pool)| pool.idle_since())
            .map(|(key, _)| *key);
        // Its workers end once the runs holding it are done.
        if let Some(oldest) = oldest {
            pools.remove(&oldest);
        }
    }
    let (sender, receiver) = crossbeam_channel::unbounded();
    let (started, starts) = crossbeam_channel::bounded(workers);
    let pids = Arc::new(Mutex::new(HashMap::new()));
    let idle = Arc::new(AtomicUsize::new(0));
    for slot in 0..workers {
        let receiver = receiver.clone();
        let pids = Arc::clone(&pids);
        let started = started.clone();
        let idle = Arc::clone(&idle);
        std::thread::Builder::new()
            .name(format!("parmemo-process-{slot}"))
            .spawn(move || {
                let shared = Shared {
                    jobs: &receiver,
                    pids: &pids,
                    idle: &idle,
                };
                serve_jobs(slot, initializer, &shared, &started);
            })
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
    let pool = Arc::new(ProcessPool {
        jobs: sender,
        pids,
        last_used: Mutex::new(Instant::now()),
    });
    pools.insert(key, Arc::clone(&pool));
    Ok(pool)
}

/// Ends every kept pool: their workers exit once the runs holding them are done.
pub(crate) fn shutdown() {
    POOLS.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

/// Starts, once, the thread that ends pools left unused for [`IDLE_TIMEOUT`].
fn start_reaper() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("parmemo-pool-reaper".to_owned())
            .spawn(|| loop {
                std::thread::sleep(IDLE_TIMEOUT / 30);
                reap_idle(Instant::now(), IDLE_TIMEOUT);
            });
    });
}

/// Ends the pools no run holds and none used for `idle` before `now`.
fn reap_idle(now: Instant, idle: Duration) {
    POOLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|_, pool| {
            Arc::strong_count(pool) > 1 || now.saturating_duration_since(pool.idle_since()) < idle
        });
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
fn start_worker(initializer: Option<Offsets>) -> Result<Worker, String> {
    if let Some(message) = INIT_MISSING.get() {
        return Err(message.clone());
    }
    Worker::start(initializer).map_err(|err| {
        let message = err.message().to_owned();
        if let StartError::InitMissing(message) = err {
            let _ = INIT_MISSING.set(message);
        }
        message
    })
}

impl Workers for ProcessPool {
    fn submit(&self, job: Job) {
        self.touch();
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
    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_since(&self) -> Instant {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

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

/// What the parent threads of one pool share.
struct Shared<'a> {
    jobs: &'a Receiver<Job>,
    pids: &'a Mutex<HashMap<usize, u32>>,
    /// How many of them wait for a job: a batch's tasks are asked back only for one.
    idle: &'a AtomicUsize,
}

impl Shared<'_> {
    /// The next job, counted idle while waiting for it.
    fn next_job(&self) -> Option<Job> {
        self.idle.fetch_add(1, Ordering::AcqRel);
        let job = self.jobs.recv().ok();
        self.idle.fetch_sub(1, Ordering::AcqRel);
        job
    }

    /// Whether a batch that sent nothing for `quiet` should give back what it has not
    /// started: another worker waits, and no other job does.
    fn worth_asking(&self, quiet: Duration) -> bool {
        quiet >= YIELD_AFTER && self.idle.load(Ordering::Acquire) > 0 && self.jobs.is_empty()
    }
}

/// The loop of one parent thread: keep a worker alive, hand it jobs one at a time.
fn serve_jobs(
    slot: usize,
    initializer: Option<Offsets>,
    shared: &Shared<'_>,
    started: &Sender<()>,
) {
    let pids = shared.pids;
    let mut worker: Option<Worker> = None;
    let set_pid = |pid: Option<u32>| {
        let mut pids = pids.lock().unwrap_or_else(PoisonError::into_inner);
        match pid {
            Some(pid) => pids.insert(slot, pid),
            None => pids.remove(&slot),
        };
    };
    // Start at once, so that the first batch does not wait for it.
    if let Ok(first) = start_worker(initializer) {
        set_pid(Some(first.pid()));
        worker = Some(first);
    }
    let _ = started.send(());
    while let Some(mut job) = shared.next_job() {
        if job.state.is_cancelled() {
            (job.done)(JobOutcome::Cancelled, Duration::ZERO);
            continue;
        }
        let current = match worker.take() {
            Some(current) => Ok(current),
            None => start_worker(initializer),
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
        let mut partial = |result| {
            if let Some(partial) = job.partial.as_mut() {
                partial(result);
            }
        };
        let Request::Run { arguments, .. } = &job.request;
        let gives_back = job.give_back.is_some();
        let mut yielded = |from| {
            if let Some(give_back) = job.give_back.as_mut() {
                give_back(from, arguments);
            }
        };
        let ask = |quiet| shared.worth_asking(quiet);
        let yielding = gives_back.then_some(Yielding {
            ask: &ask,
            yielded: &mut yielded,
        });
        match current.run(
            &job.request,
            job.timeout,
            &cancelled,
            &mut partial,
            yielding,
        ) {
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
                let outcome = if job.settled {
                    rerun_each(&job, initializer, &mut worker, &set_pid).unwrap_or(
                        JobOutcome::Died {
                            cause,
                            offset: None,
                        },
                    )
                } else {
                    let offset = find_the_killer(&job, initializer, &mut worker, &set_pid);
                    JobOutcome::Died { cause, offset }
                };
                (job.done)(outcome, began.elapsed());
            }
        }
    }
    // The pool is gone (shut down, idle, or one size too many): the worker ends with it,
    // reaped, not left a zombie.
    if let Some(worker) = worker {
        worker.reap();
        set_pid(None);
    }
}

/// After a worker died in a batch of a settled run, reruns its tasks one at a time on
/// fresh workers: each task's own outcome, so that a task that kills its worker costs
/// only its own result. `None` when the batch cannot be split (then the whole batch
/// died).
fn rerun_each(
    job: &Job,
    initializer: Option<Offsets>,
    worker: &mut Option<Worker>,
    set_pid: &dyn Fn(Option<u32>),
) -> Option<JobOutcome> {
    let Request::Run { arguments, .. } = &job.request;
    let singles = (job.split)(arguments).ok()?;
    let outcomes = singles
        .into_iter()
        .map(|single| {
            if job.state.is_cancelled() {
                return JobOutcome::Cancelled;
            }
            run_alone(job, single, initializer, worker, set_pid)
                .map_or_else(|ended| ended, JobOutcome::Reply)
        })
        .collect();
    Some(JobOutcome::Singles(outcomes))
}

/// After a worker died in a batch of several tasks, reruns them one at a time on fresh
/// workers and returns the offset of the first that kills its worker again. This costs
/// nothing unless a worker dies, and names the task exactly when the crash repeats; the
/// tasks before it run a second time.
fn find_the_killer(
    job: &Job,
    initializer: Option<Offsets>,
    worker: &mut Option<Worker>,
    set_pid: &dyn Fn(Option<u32>),
) -> Option<usize> {
    let Request::Run { arguments, .. } = &job.request;
    let singles = (job.split)(arguments).ok()?;
    if singles.len() < 2 {
        return (singles.len() == 1).then_some(0);
    }
    for (offset, single) in singles.into_iter().enumerate() {
        // The tasks rerun only to find the culprit: their results were already reported
        // or are not wanted.
        match run_alone(job, single, initializer, worker, set_pid) {
            Ok(_) => {}
            // A run that gave up meanwhile needs no culprit; without a worker, none can
            // be found.
            Err(JobOutcome::Cancelled | JobOutcome::NoWorker { .. }) => return None,
            Err(_) => return Some(offset),
        }
    }
    None
}

/// Runs one task of `job` (its one-task batch `single`) alone, on the kept worker or a
/// new one: its reply (the worker is kept), or how it ended (the worker is gone).
fn run_alone(
    job: &Job,
    single: crate::backend::remote::wire::Payload,
    initializer: Option<Offsets>,
    worker: &mut Option<Worker>,
    set_pid: &dyn Fn(Option<u32>),
) -> Result<crate::backend::remote::wire::Reply, JobOutcome> {
    let mut current = match worker.take() {
        Some(current) => current,
        None => start_worker(initializer).map_err(|message| JobOutcome::NoWorker { message })?,
    };
    set_pid(Some(current.pid()));
    let Request::Run { task, .. } = &job.request;
    let request = Request::Run {
        task: *task,
        arguments: single,
        each: false,
    };
    let cancelled = || job.state.is_cancelled();
    match current.run(&request, job.timeout, &cancelled, &mut |_| {}, None) {
        Ok(reply) => {
            *worker = Some(current);
            Ok(reply)
        }
        Err(failure) => {
            let ended = match failure {
                Failure::TimedOut => {
                    current.kill();
                    JobOutcome::TimedOut
                }
                Failure::Cancelled => {
                    current.kill();
                    JobOutcome::Cancelled
                }
                Failure::Died => JobOutcome::Died {
                    cause: current.reap(),
                    offset: Some(0),
                },
            };
            set_pid(None);
            Err(ended)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_used_at(last_used: Instant) -> Arc<ProcessPool> {
        let (jobs, _) = crossbeam_channel::unbounded();
        Arc::new(ProcessPool {
            jobs,
            pids: Arc::default(),
            last_used: Mutex::new(last_used),
        })
    }

    #[test]
    fn only_pools_idle_past_the_timeout_and_held_by_no_run_are_ended() {
        let now = Instant::now();
        let later = |seconds| now.checked_add(Duration::from_secs(seconds)).unwrap();
        let held = pool_used_at(now);
        {
            let mut pools = POOLS.lock().unwrap();
            pools.insert((1001, None), pool_used_at(now));
            pools.insert((1002, None), pool_used_at(later(390)));
            pools.insert((1003, None), Arc::clone(&held));
        }
        // Seen 400 s from now, with a 300 s idle timeout.
        reap_idle(later(400), Duration::from_secs(300));
        let pools = POOLS.lock().unwrap();
        assert!(!pools.contains_key(&(1001, None)), "idle past the timeout");
        assert!(pools.contains_key(&(1002, None)), "recently used");
        assert!(pools.contains_key(&(1003, None)), "held by a run");
    }
}
