//! The parent's side: a reusable pool of worker processes, one parent thread each.

use super::wire::{receive_reply, send_request, Reply, Request};
use super::worker::SOCKET_VARIABLE;
use crate::backend::batch::RunState;
use crate::Error;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a new worker may take to start and connect.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What the harness of a test binary needs to run only the worker entry point (see
/// `enable_test_support!`); a program that calls `init()` first never parses them.
const WORKER_ARGUMENTS: [&str; 5] = [
    "--exact",
    "__parmemo_worker_entry",
    "--ignored",
    "--nocapture",
    "--test-threads=1",
];

/// How one job ended, as the parent thread saw it.
pub(crate) enum JobOutcome {
    Reply(Reply),
    /// The worker died; `cause` is its exit status or signal, `offset` the task of the
    /// batch that killed it, when rerunning the batch one task at a time found it.
    Died {
        cause: String,
        offset: Option<usize>,
    },
    /// The job ran past its timeout: the worker was killed.
    TimedOut,
    /// The run was cancelled before the job was sent.
    Cancelled,
    /// No worker could be started.
    NoWorker {
        message: String,
    },
}

/// Splits a batch's encoded arguments into one-task batches (monomorphized for the
/// argument type), to find which task kills a worker.
pub(crate) type Split = fn(&[u8]) -> Result<Vec<Vec<u8>>, String>;

/// A batch for some worker, and what to do with its outcome.
pub(crate) struct Job {
    pub(crate) request: Request,
    pub(crate) split: Split,
    pub(crate) timeout: Option<Duration>,
    pub(crate) state: Arc<RunState>,
    pub(crate) done: Box<dyn FnOnce(JobOutcome, Duration) + Send>,
}

/// `n` worker processes, each served by a parent thread that takes jobs from a shared
/// queue, so the least busy worker takes the next batch.
pub(crate) struct ProcessPool {
    jobs: Sender<Job>,
    pids: Arc<Mutex<HashMap<usize, u32>>>,
}

static POOLS: LazyLock<Mutex<HashMap<usize, Arc<ProcessPool>>>> = LazyLock::new(Mutex::default);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The pool of `workers` processes, started on first use and reused afterwards.
pub(crate) fn pool(workers: usize) -> Result<Arc<ProcessPool>, Error> {
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = pools.get(&workers) {
        return Ok(Arc::clone(pool));
    }
    let dir = std::env::temp_dir().join(format!("parmemo-{}-{workers}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|err| Error::WorkerStart {
        message: format!("cannot create {}: {err}", dir.display()),
    })?;
    let (sender, receiver) = crossbeam_channel::unbounded();
    let (started, starts) = crossbeam_channel::bounded(workers);
    let pids = Arc::new(Mutex::new(HashMap::new()));
    for slot in 0..workers {
        let receiver = receiver.clone();
        let dir = dir.clone();
        let pids = Arc::clone(&pids);
        let started = started.clone();
        std::thread::Builder::new()
            .name(format!("parmemo-process-{slot}"))
            .spawn(move || serve_jobs(slot, &dir, &receiver, &pids, &started))
            .map_err(|err| Error::WorkerStart {
                message: format!("cannot start the thread of worker {slot}: {err}"),
            })?;
    }
    // The workers start side by side; wait for all, so that the pool is whole (and its
    // start cost paid) when the first batch goes out.
    for _ in 0..workers {
        if starts
            .recv_timeout(START_TIMEOUT + Duration::from_secs(1))
            .is_err()
        {
            break;
        }
    }
    let pool = Arc::new(ProcessPool { jobs: sender, pids });
    pools.insert(workers, Arc::clone(&pool));
    Ok(pool)
}

impl super::Workers for ProcessPool {
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

/// One live worker process and the parent's end of its socket.
struct Worker {
    child: Child,
    stream: UnixStream,
}

impl Worker {
    /// Starts a worker: the current executable again, told where to connect.
    fn start(slot: usize, dir: &Path) -> Result<Worker, String> {
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        let socket: PathBuf = dir.join(format!("w{slot}-{generation}.sock"));
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .map_err(|err| format!("cannot listen on {}: {err}", socket.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|err| err.to_string())?;
        let executable = std::env::current_exe()
            .map_err(|err| format!("cannot find the current executable: {err}"))?;
        let mut child = Command::new(executable)
            .args(WORKER_ARGUMENTS)
            .env(SOCKET_VARIABLE, &socket)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot start a worker process: {err}"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        let connected = loop {
            match listener.accept() {
                Ok((stream, _)) => break Ok(stream),
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    if let Ok(Some(status)) = child.try_wait() {
                        break Err(format!(
                            "the worker exited ({status}) before connecting: call parmemo::parallel::init() first thing in main, or parmemo::parallel::enable_test_support!() in a test crate"
                        ));
                    }
                    if Instant::now() > deadline {
                        break Err(format!(
                            "the worker did not connect within {START_TIMEOUT:?}"
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(err) => break Err(format!("accepting the worker failed: {err}")),
            }
        };
        let _ = std::fs::remove_file(&socket);
        let mut stream = match connected {
            Ok(stream) => stream,
            Err(message) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(message);
            }
        };
        let hello = stream
            .set_nonblocking(false)
            .map_err(|err| err.to_string())
            .and_then(|()| receive_reply(&mut stream).map_err(|err| err.to_string()));
        if let Ok(Reply::Hello { .. }) = hello {
            Ok(Worker { child, stream })
        } else {
            let _ = child.kill();
            let _ = child.wait();
            Err("the worker did not greet the parent".to_owned())
        }
    }

    /// Kills the worker and reaps it, so that no zombie is left.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        self.child
            .wait()
            .map_or_else(|err| err.to_string(), |status| status.to_string())
    }

    /// Sends `request` and waits for the reply, at most `timeout`.
    fn run(&mut self, request: &Request, timeout: Option<Duration>) -> Result<Reply, Failure> {
        self.stream
            .set_read_timeout(timeout)
            .map_err(|_| Failure::Died)?;
        send_request(&mut self.stream, request).map_err(|_| Failure::Died)?;
        receive_reply(&mut self.stream).map_err(|err| match err.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::TimedOut,
            _ => Failure::Died,
        })
    }
}

enum Failure {
    Died,
    TimedOut,
}

/// The loop of one parent thread: keep a worker alive, hand it jobs one at a time.
fn serve_jobs(
    slot: usize,
    dir: &Path,
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
    if let Ok(first) = Worker::start(slot, dir) {
        set_pid(Some(first.child.id()));
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
            None => Worker::start(slot, dir),
        };
        let mut current = match current {
            Ok(current) => current,
            Err(message) => {
                (job.done)(JobOutcome::NoWorker { message }, Duration::ZERO);
                continue;
            }
        };
        set_pid(Some(current.child.id()));
        let began = Instant::now();
        match current.run(&job.request, job.timeout) {
            Ok(reply) => {
                worker = Some(current);
                (job.done)(JobOutcome::Reply(reply), began.elapsed());
            }
            Err(Failure::TimedOut) => {
                current.stop();
                set_pid(None);
                (job.done)(JobOutcome::TimedOut, began.elapsed());
            }
            Err(Failure::Died) => {
                let cause = current.stop();
                set_pid(None);
                let offset = find_the_killer(slot, dir, &job, &mut worker, &set_pid);
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
    slot: usize,
    dir: &Path,
    job: &Job,
    worker: &mut Option<Worker>,
    set_pid: &dyn Fn(Option<u32>),
) -> Option<usize> {
    let Request::Run {
        trampoline,
        function,
        arguments,
    } = &job.request;
    let singles = (job.split)(arguments).ok()?;
    if singles.len() < 2 {
        return (singles.len() == 1).then_some(0);
    }
    for (offset, single) in singles.into_iter().enumerate() {
        let mut current = match worker.take() {
            Some(current) => current,
            None => Worker::start(slot, dir).ok()?,
        };
        set_pid(Some(current.child.id()));
        let request = Request::Run {
            trampoline: *trampoline,
            function: *function,
            arguments: single,
        };
        if current.run(&request, job.timeout).is_err() {
            current.stop();
            set_pid(None);
            return Some(offset);
        }
        *worker = Some(current);
    }
    None
}
