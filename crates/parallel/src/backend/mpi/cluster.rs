//! The MPI job itself: joining it in `init()`, the serving loop of ranks 1.., and on rank
//! 0 the one thread that talks to them.
//!
//! All MPI calls of rank 0 after `MPI_Init` happen on that thread, and the main thread
//! calls MPI again only at exit, after joining it: `MPI_THREAD_SERIALIZED` is all we ask
//! of the library. Messages from rank 0 are the process backend's (a bincode header and
//! a raw payload), each part an MPI message of its own tag.

use super::super::process::wire::{
    reply_from_parts, reply_parts, request_from_parts, request_header, Reply, Request,
};
use super::super::process::{call, Job, JobOutcome, Workers};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mpi::environment::Universe;
use mpi::point_to_point::Status;
use mpi::topology::{Rank, SimpleCommunicator};
use mpi::traits::{Communicator, CommunicatorCollectives, Destination, MatchedReceiveVec, Source};
use mpi::Threading;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const RUN_HEADER: mpi::Tag = 1;
const RUN_PAYLOAD: mpi::Tag = 2;
const REPLY_HEADER: mpi::Tag = 3;
const REPLY_PAYLOAD: mpi::Tag = 4;
const STOP: mpi::Tag = 5;

/// How long rank 0, at exit, waits for tasks that ran past their timeout before it
/// aborts the job.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The largest MPI message: counts are C `int`s.
const MAX_MESSAGE: usize = i32::MAX as usize;

/// The environment variables by which launchers tell a process it is one rank of a job:
/// `mpirun` of Open MPI 4, `PMIx` (Open MPI 5, Slurm's `srun`), Hydra's PMI (MPICH).
const LAUNCHER_VARIABLES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"];

/// What rank 0 knows of the job.
pub(crate) struct Cluster {
    /// The number of serving ranks (the world's size minus rank 0).
    pub(crate) servers: usize,
    /// Why the job cannot run tasks, when it cannot (a rank runs another executable).
    pub(crate) problem: Option<String>,
    commands: Mutex<Option<Sender<Command>>>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

enum Command {
    Run(Job),
    Shutdown,
}

static CLUSTER: OnceLock<Arc<Cluster>> = OnceLock::new();
/// Kept for `MPI_Finalize` at exit, which its drop calls.
static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// The job this process is rank 0 of, when it was launched by an MPI launcher with more
/// than one rank.
pub(crate) fn cluster() -> Option<Arc<Cluster>> {
    CLUSTER.get().cloned()
}

/// Joins the MPI job when this process was started by an MPI launcher: ranks other than
/// 0 serve tasks until rank 0 exits, then finalize MPI and exit; rank 0 returns.
pub(crate) fn join() {
    if !LAUNCHER_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        return;
    }
    // `None`: the program initialized MPI itself; then it owns the job and we stay out.
    let Some((universe, threading)) = mpi::initialize_with_threading(Threading::Serialized) else {
        return;
    };
    let world = universe.world();
    let problem = check_same_executable(&world);
    if world.rank() != 0 {
        serve(&world, problem.is_none());
        drop(universe);
        std::process::exit(0);
    }
    let servers = usize::try_from(world.size() - 1).unwrap_or(0);
    *UNIVERSE.lock().unwrap_or_else(PoisonError::into_inner) = Some(universe);
    let problem = problem.or_else(|| {
        (threading < Threading::Serialized).then(|| {
            format!(
                "the MPI library offers only {threading:?} threading; parmemo needs \
                 Serialized: use an MPI built with thread support (OpenMPI and MPICH are)"
            )
        })
    });
    let (commands, driver) = if servers > 0 && problem.is_none() {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let driver = std::thread::Builder::new()
            .name("parmemo-mpi".to_owned())
            .spawn(move || drive(&receiver))
            .ok();
        (Some(sender), driver)
    } else {
        (None, None)
    };
    let _ = CLUSTER.set(Arc::new(Cluster {
        servers,
        problem,
        commands: Mutex::new(commands),
        driver: Mutex::new(driver),
    }));
    // SAFETY: `finish_at_exit` is an `extern "C" fn()` that neither unwinds nor returns
    // anything, as `atexit` requires.
    if unsafe { libc::atexit(finish_at_exit) } != 0 {
        eprintln!("parmemo: cannot register the MPI shutdown; the job may not end cleanly");
    }
}

/// Stops the serving ranks and finalizes MPI when rank 0's program ends, however `main`
/// ends (return, `exit`, a panic that unwinds out of it).
extern "C" fn finish_at_exit() {
    // Nothing here may unwind across the C boundary.
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = CLUSTER.get() {
            if let Some(commands) = take(&cluster.commands) {
                let _ = commands.send(Command::Shutdown);
            }
            if let Some(driver) = take(&cluster.driver) {
                let _ = driver.join();
            } else {
                stop_servers(&SimpleCommunicator::world());
            }
        }
        drop(take(&UNIVERSE));
    });
}

/// What `slot` holds, leaving it empty (a panic elsewhere does not matter here).
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// A fingerprint of this executable: offsets of functions from one another and the file's
/// size. Functions are named to other ranks by offsets, which mean the same thing only in
/// the same executable.
fn fingerprint() -> [u64; 2] {
    let offset = super::super::process::offset_of(serve as fn(&SimpleCommunicator, bool) as usize);
    let size = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map_or(0, |metadata| metadata.len());
    [offset as u64, size]
}

/// Why this job cannot run tasks, if some rank runs another executable than rank 0.
fn check_same_executable(world: &SimpleCommunicator) -> Option<String> {
    let mine = fingerprint();
    let size = usize::try_from(world.size()).unwrap_or(0);
    let mut all = vec![0u64; 2 * size];
    world.all_gather_into(&mine[..], &mut all[..]);
    let ranks: Vec<usize> = all
        .chunks_exact(2)
        .enumerate()
        .filter(|(_, theirs)| *theirs != mine)
        .map(|(rank, _)| rank)
        .collect();
    (!ranks.is_empty()).then(|| {
        format!(
            "ranks {ranks:?} run a different executable from rank 0; every rank must run the \
             same binary (copy it to the same path on every host, or use a shared file system)"
        )
    })
}

/// Waits that start short and grow, so that an idle rank neither spins (it would take a
/// core from the ranks at work when the job oversubscribes the machine) nor answers late
/// when busy.
struct Backoff {
    pause: Duration,
}

impl Backoff {
    const SHORTEST: Duration = Duration::from_micros(5);
    const LONGEST: Duration = Duration::from_millis(1);

    fn new() -> Self {
        Backoff {
            pause: Self::SHORTEST,
        }
    }

    fn reset(&mut self) {
        self.pause = Self::SHORTEST;
    }

    fn wait(&mut self) {
        std::thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(Self::LONGEST);
    }
}

/// The loop of ranks 1..: run each batch rank 0 sends until it says stop.
fn serve(world: &SimpleCommunicator, runnable: bool) {
    let root = world.process_at_rank(0);
    let mut backoff = Backoff::new();
    loop {
        let Some((message, status)) = root.immediate_matched_probe() else {
            backoff.wait();
            continue;
        };
        backoff.reset();
        let (header, _): (Vec<u8>, Status) = (message, status).matched_receive_vec();
        if status.tag() == STOP {
            return;
        }
        let (payload, _) = root.receive_vec_with_tag::<u8>(RUN_PAYLOAD);
        let reply = match request_from_parts(&header, payload) {
            Ok(request) if runnable => run(request),
            Ok(_) => Reply::Failed {
                offset: 0,
                message: "this rank runs a different executable from rank 0".to_owned(),
            },
            Err(err) => Reply::Failed {
                offset: 0,
                message: format!("rank {} could not read the request: {err}", world.rank()),
            },
        };
        send_reply(&root, &reply);
    }
}

fn run(request: Request) -> Reply {
    let Request::Run {
        trampoline,
        function,
        arguments,
    } = request;
    // SAFETY: rank 0 computed both offsets with `offset_of` from a trampoline and the
    // function it was instantiated for, and `check_same_executable` found every rank
    // running the same executable, in which offsets mean the same functions.
    let reply = unsafe { call(trampoline, function, &arguments) };
    match &reply {
        Reply::Done(results) if results.len() > MAX_MESSAGE => Reply::Failed {
            offset: 0,
            message: format!(
                "the batch's results take {} bytes, more than an MPI message holds (2 GiB): \
                 lower batch_size",
                results.len()
            ),
        },
        _ => reply,
    }
}

fn send_reply(root: &mpi::topology::Process<'_>, reply: &Reply) {
    let (header, payload) = match reply_parts(reply) {
        Ok(parts) => parts,
        Err(err) => {
            // Only an unencodable error message can land here; say that much.
            let fallback = Reply::Failed {
                offset: 0,
                message: format!("the reply could not be encoded: {err}"),
            };
            if let Ok((header, _)) = reply_parts(&fallback) {
                root.send_with_tag(&header[..], REPLY_HEADER);
                root.send_with_tag(&[][..] as &[u8], REPLY_PAYLOAD);
            }
            return;
        }
    };
    root.send_with_tag(&header[..], REPLY_HEADER);
    root.send_with_tag(payload, REPLY_PAYLOAD);
}

fn stop_servers(world: &SimpleCommunicator) {
    for rank in 1..world.size() {
        world
            .process_at_rank(rank)
            .send_with_tag(&[][..] as &[u8], STOP);
    }
}

impl Workers for Cluster {
    fn submit(&self, job: Job) {
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let refused = match commands {
            Some(commands) => match commands.send(Command::Run(job)) {
                Err(crossbeam_channel::SendError(Command::Run(job))) => job,
                _ => return,
            },
            None => job,
        };
        (refused.done)(
            JobOutcome::NoWorker {
                message: "the MPI job is shutting down".to_owned(),
            },
            Duration::ZERO,
        );
    }
}

/// A batch on a serving rank.
struct Busy {
    done: Option<Box<dyn FnOnce(JobOutcome, Duration) + Send>>,
    since: Instant,
    timeout: Option<Duration>,
}

/// Rank 0's thread: hands each queued batch to the next idle rank, so that ranks take
/// work as they free up, and reports each reply to its run.
fn drive(commands: &Receiver<Command>) {
    let world = SimpleCommunicator::world();
    let mut idle: Vec<Rank> = (1..world.size()).rev().collect();
    let mut busy: HashMap<Rank, Busy> = HashMap::new();
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut shutting_down = false;
    let mut shutdown_since: Option<Instant> = None;
    let mut backoff = Backoff::new();
    loop {
        if busy.is_empty() && queue.is_empty() {
            if shutting_down {
                break;
            }
            // Nothing to watch: block on the channel rather than poll MPI.
            match commands.recv() {
                Ok(Command::Run(job)) => queue.push_back(job),
                Ok(Command::Shutdown) | Err(_) => shutting_down = true,
            }
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Run(job)) => queue.push_back(job),
                Ok(Command::Shutdown) => shutting_down = true,
                Err(TryRecvError::Disconnected) => {
                    shutting_down = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        while !idle.is_empty() {
            let Some(job) = queue.pop_front() else { break };
            if shutting_down || job.state.is_cancelled() {
                (job.done)(JobOutcome::Cancelled, Duration::ZERO);
                continue;
            }
            if let Some(rank) = idle.pop() {
                if let Some(entry) = send_job(&world, rank, job) {
                    busy.insert(rank, entry);
                } else {
                    idle.push(rank);
                }
            }
        }
        if let Some((message, status)) = world
            .any_process()
            .immediate_matched_probe_with_tag(REPLY_HEADER)
        {
            backoff.reset();
            let rank = status.source_rank();
            let (header, _): (Vec<u8>, Status) = (message, status).matched_receive_vec();
            let (payload, _) = world
                .process_at_rank(rank)
                .receive_vec_with_tag::<u8>(REPLY_PAYLOAD);
            if let Some(mut entry) = busy.remove(&rank) {
                let outcome = match reply_from_parts(&header, payload) {
                    Ok(reply) => JobOutcome::Reply(reply),
                    Err(err) => JobOutcome::Reply(Reply::Failed {
                        offset: 0,
                        message: format!("rank {rank} sent an unreadable reply: {err}"),
                    }),
                };
                if let Some(done) = entry.done.take() {
                    done(outcome, entry.since.elapsed());
                }
            }
            idle.push(rank);
            continue;
        }
        report_overdue(&mut busy);
        if shutting_down {
            let since = *shutdown_since.get_or_insert_with(Instant::now);
            // Only overrun batches left (their runs were told): wait a little, not forever.
            let only_overrun = busy.values().all(|entry| entry.done.is_none());
            if only_overrun && since.elapsed() > EXIT_GRACE {
                abort_overdue(&world, &busy);
            }
        }
        backoff.wait();
    }
    stop_servers(&world);
}

/// Sends `job` to `rank`; `None` (the job reported as failed) if it cannot go.
fn send_job(world: &SimpleCommunicator, rank: Rank, job: Job) -> Option<Busy> {
    let Job {
        request:
            Request::Run {
                trampoline,
                function,
                arguments,
            },
        timeout,
        done,
        ..
    } = job;
    let failure = |message: String| Some(JobOutcome::Reply(Reply::Failed { offset: 0, message }));
    let refusal = if arguments.len() > MAX_MESSAGE {
        failure(format!(
            "the batch's arguments take {} bytes, more than an MPI message holds (2 GiB): \
             lower batch_size",
            arguments.len()
        ))
    } else {
        match request_header(trampoline, function) {
            Ok(header) => {
                let destination = world.process_at_rank(rank);
                destination.send_with_tag(&header[..], RUN_HEADER);
                destination.send_with_tag(&arguments[..], RUN_PAYLOAD);
                None
            }
            Err(err) => failure(format!("the request could not be encoded: {err}")),
        }
    };
    if let Some(outcome) = refusal {
        done(outcome, Duration::ZERO);
        return None;
    }
    Some(Busy {
        done: Some(done),
        since: Instant::now(),
        timeout,
    })
}

/// Reports the batches past their timeout. A rank cannot be stopped from outside, so it
/// stays busy until its task returns; only the run learns of the overrun at once.
fn report_overdue(busy: &mut HashMap<Rank, Busy>) {
    for entry in busy.values_mut() {
        let overdue = entry
            .timeout
            .is_some_and(|timeout| entry.since.elapsed() > timeout);
        if overdue {
            if let Some(done) = entry.done.take() {
                done(JobOutcome::TimedOut, entry.since.elapsed());
            }
        }
    }
}

/// At exit, with only overrunning tasks left after `EXIT_GRACE`: they may never return,
/// and MPI cannot stop one rank, so the job ends here rather than hang.
fn abort_overdue(world: &SimpleCommunicator, busy: &HashMap<Rank, Busy>) {
    let ranks: Vec<Rank> = busy.keys().copied().collect();
    eprintln!(
        "parmemo: ranks {ranks:?} still run tasks past their timeout {EXIT_GRACE:?} after the \
         program ended; MPI cannot stop a single rank, so the whole job is aborted"
    );
    world.abort(3);
}
