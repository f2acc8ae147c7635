//! Rank 0's side: the one thread that talks to the serving ranks, handing each queued
//! batch to the next idle rank and reporting each reply to its run.
//!
//! All MPI calls of rank 0 after `MPI_Init` happen on that thread, and the main thread
//! calls MPI again only at exit, after joining it: `MPI_THREAD_SERIALIZED` is all we ask
//! of the library.

use super::join::take;
use super::{
    host_of, Backoff, FORGET, GIVE_BACK, MAX_MESSAGE, REPLY_HEADER, REPLY_PAYLOAD, RUN_ARRAY,
    RUN_HEADER, RUN_PAYLOAD, STOP, YIELD_AFTER,
};
use crate::backend::remote::wire::{
    reply_from_parts, request_header, Carried, Payload, Reply, Request,
};
use crate::backend::remote::{Arrays, Done, GiveBack, Job, JobOutcome, Partial, Workers};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mpi::point_to_point::Status;
use mpi::topology::{Rank, SimpleCommunicator};
use mpi::traits::{Communicator, Destination, MatchedReceiveVec, Source};
use parmemo_shared::attach::Attachment;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long rank 0, at exit, waits for tasks that ran past their timeout before it
/// aborts the job.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// What rank 0 knows of the job.
pub(crate) struct Cluster {
    /// The number of serving ranks (the world's size minus rank 0).
    pub(crate) servers: usize,
    /// Why the job cannot run tasks, when it cannot (a rank runs another executable).
    pub(crate) problem: Option<String>,
    commands: Mutex<Option<Sender<Command>>>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

pub(super) enum Command {
    Run(Job),
    Shutdown,
}

impl Cluster {
    pub(super) fn new(
        servers: usize,
        problem: Option<String>,
        commands: Option<Sender<Command>>,
        driver: Option<JoinHandle<()>>,
    ) -> Self {
        Cluster {
            servers,
            problem,
            commands: Mutex::new(commands),
            driver: Mutex::new(driver),
        }
    }

    /// Tells the driver to stop the serving ranks and waits for it; false when there was
    /// no driver, and the caller must stop them itself.
    pub(super) fn shut_down(&self) -> bool {
        if let Some(commands) = take(&self.commands) {
            let _ = commands.send(Command::Shutdown);
        }
        match take(&self.driver) {
            Some(driver) => {
                let _ = driver.join();
                true
            }
            None => false,
        }
    }
}

pub(super) fn stop_servers(world: &SimpleCommunicator) {
    for rank in 1..world.size() {
        world
            .process_at_rank(rank)
            .send_with_tag(&[][..] as &[u8], STOP);
    }
}

impl Workers for Cluster {
    /// Arrays travel beside the payload, as bytes (ranks may run on other machines): a
    /// `Shared` once to each rank, which keeps it while rank 0 holds it.
    fn arrays(&self) -> Arrays {
        Arrays::Attached
    }

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
    /// Where the results of a batch sent with `each` go as they arrive.
    partial: Option<Partial>,
    done: Option<Done>,
    since: Instant,
    timeout: Option<Duration>,
    /// Of a batch sent with `each`: who takes back the tasks the rank has not started,
    /// and the batch's arguments to take them from.
    give_back: Option<(GiveBack, Payload)>,
    /// When the rank last sent a result of this batch, and whether it was asked for the
    /// rest already (once per batch).
    heard: Instant,
    asked: bool,
}

impl Busy {
    /// Whether to ask this rank for the tasks it has not started: another rank is idle,
    /// no job waits, and this batch has sent nothing for a while.
    fn worth_asking(&self, others_idle: bool) -> bool {
        others_idle
            && !self.asked
            && self.done.is_some()
            && self.give_back.is_some()
            && self.heard.elapsed() >= YIELD_AFTER
    }
}

/// Rank 0's thread: hands each queued batch to the next idle rank, so that ranks take
/// work as they free up, and reports each reply to its run.
pub(super) fn drive(commands: &Receiver<Command>) {
    let world = SimpleCommunicator::world();
    let mut idle: Vec<Rank> = (1..world.size()).rev().collect();
    let mut busy: HashMap<Rank, Busy> = HashMap::new();
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut shutting_down = false;
    let mut shutdown_since: Option<Instant> = None;
    let mut backoff = Backoff::new();
    let mut kept = Kept::default();
    loop {
        if busy.is_empty() && queue.is_empty() {
            if shutting_down {
                break;
            }
            // Nothing to watch: block on the channel rather than poll MPI.
            match commands.recv() {
                Ok(Command::Run(job)) => queue.push_back(Queued::new(job)),
                Ok(Command::Shutdown) | Err(_) => shutting_down = true,
            }
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Run(job)) => queue.push_back(Queued::new(job)),
                Ok(Command::Shutdown) => shutting_down = true,
                Err(TryRecvError::Disconnected) => {
                    shutting_down = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        while !idle.is_empty() {
            let Some(Queued { job, .. }) = queue.pop_front() else {
                break;
            };
            if shutting_down || job.state.is_cancelled() {
                (job.done)(JobOutcome::Cancelled, Duration::ZERO);
                continue;
            }
            if let Some(rank) = idle.pop() {
                kept.forget_released(&world);
                if let Some(entry) = send_job(&world, rank, job, &mut kept) {
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
            let Some(reply) = take_in_flight(reply_from_parts(&header, payload), &mut busy, rank)
            else {
                continue;
            };
            if let Some(mut entry) = busy.remove(&rank) {
                let outcome = match reply {
                    Ok(reply) => JobOutcome::Reply(reply),
                    Err(err) => JobOutcome::Reply(Reply::Failed {
                        error: Vec::new(),
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
        ask_for_tasks_back(&world, &mut busy, !idle.is_empty() && queue.is_empty());
        report_overdue(&mut busy);
        report_stalled(&mut queue, &idle, &busy);
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

/// Handles a reply that leaves its rank busy (a result of a batch answered task by
/// task, or where the rank gave the batch back); any other reply is handed back.
fn take_in_flight(
    reply: std::io::Result<Reply>,
    busy: &mut HashMap<Rank, Busy>,
    rank: Rank,
) -> Option<std::io::Result<Reply>> {
    let entry = busy.get_mut(&rank);
    match reply {
        Ok(Reply::Partial(result)) => {
            // One task of the batch ended; the rank stays busy with the rest.
            if let Some(Busy {
                partial: Some(partial),
                done: Some(_),
                heard,
                ..
            }) = entry
            {
                *heard = Instant::now();
                partial(result);
            }
            None
        }
        Ok(Reply::Yielded { from }) => {
            // The rank gave back the tasks from `from` on; it stays busy with the one
            // it runs.
            if let Some(Busy {
                give_back: Some((give_back, arguments)),
                done: Some(_),
                ..
            }) = entry
            {
                give_back(from, arguments);
            }
            None
        }
        other => Some(other),
    }
}

/// Asks each rank whose batch answered task by task has sent nothing for a while for the
/// tasks it has not started, when another rank could take them (`others_idle`).
fn ask_for_tasks_back(
    world: &SimpleCommunicator,
    busy: &mut HashMap<Rank, Busy>,
    others_idle: bool,
) {
    for (rank, entry) in busy {
        if entry.worth_asking(others_idle) {
            world
                .process_at_rank(*rank)
                .send_with_tag(&[][..] as &[u8], GIVE_BACK);
            entry.asked = true;
        }
    }
}

/// A job waiting for a rank, and since when every rank is held by work whose run has
/// already been told it overran (work that may never end).
struct Queued {
    job: Job,
    stalled_since: Option<Instant>,
}

impl Queued {
    fn new(job: Job) -> Self {
        Queued {
            job,
            stalled_since: None,
        }
    }
}

/// Reports the queued jobs whose timeout passed while no rank could take them because
/// every rank was held by overrun work: a rank cannot be stopped, and a run must not
/// wait on it past its own deadline. Waiting behind live work does not count: that is
/// the ordinary queue of a busy job.
fn report_stalled(queue: &mut VecDeque<Queued>, idle: &[Rank], busy: &HashMap<Rank, Busy>) {
    let stalled = idle.is_empty() && busy.values().all(|entry| entry.done.is_none());
    if !stalled {
        for queued in queue.iter_mut() {
            queued.stalled_since = None;
        }
        return;
    }
    let now = Instant::now();
    for queued in std::mem::take(queue) {
        let since = queued.stalled_since.unwrap_or(now);
        let overdue = queued
            .job
            .timeout
            .is_some_and(|timeout| now.saturating_duration_since(since) > timeout);
        if overdue {
            (queued.job.done)(
                JobOutcome::RankTimedOut {
                    rank: None,
                    host: None,
                },
                now.saturating_duration_since(since),
            );
        } else {
            queue.push_back(Queued {
                stalled_since: Some(since),
                ..queued
            });
        }
    }
}

/// The `Shared` arrays the serving ranks keep, by identity: sent to a rank once, then
/// named by id. An array is forgotten (here and on its ranks) once rank 0 holds it only
/// here: no later task can name it, and its address may be reused.
#[derive(Default)]
struct Kept {
    arrays: HashMap<usize, KeptArray>,
    next_id: u64,
}

struct KeptArray {
    id: u64,
    /// Held so that the array's identity stays its own while ranks keep it.
    array: Attachment,
    ranks: Vec<Rank>,
}

impl Kept {
    /// How `array` goes to `rank`: by id, `fresh` (its bytes sent) only if the rank
    /// lacks it.
    fn carry(&mut self, array: &Attachment, rank: Rank) -> Carried {
        let next_id = &mut self.next_id;
        let entry = self.arrays.entry(array.identity()).or_insert_with(|| {
            *next_id += 1;
            KeptArray {
                id: *next_id,
                array: array.clone(),
                ranks: Vec::new(),
            }
        });
        let fresh = !entry.ranks.contains(&rank);
        if fresh {
            entry.ranks.push(rank);
        }
        Carried::Kept {
            id: entry.id,
            fresh,
        }
    }

    /// Tells the ranks to drop the arrays nothing but this table holds any more.
    fn forget_released(&mut self, world: &SimpleCommunicator) {
        let mut forgotten: HashMap<Rank, Vec<u8>> = HashMap::new();
        self.arrays.retain(|_, entry| {
            if entry.array.others_hold() > 0 {
                return true;
            }
            for &rank in &entry.ranks {
                forgotten
                    .entry(rank)
                    .or_default()
                    .extend_from_slice(&entry.id.to_le_bytes());
            }
            false
        });
        for (rank, ids) in forgotten {
            world.process_at_rank(rank).send_with_tag(&ids[..], FORGET);
        }
    }
}

/// How each attachment of a request goes to `rank`, and the bytes to send after it.
/// `Shared` arrays (held elsewhere too, by the caller's handles) are kept by the ranks;
/// plain vectors moved into the request go inline, as the task's own.
fn carriage<'a>(
    attached: &'a [Attachment],
    rank: Rank,
    kept: &mut Kept,
) -> (Vec<Carried>, Vec<&'a [u8]>) {
    let mut carried = Vec::with_capacity(attached.len());
    let mut sent = Vec::new();
    for array in attached {
        let how = if array.element().is_none() && array.others_hold() > 0 {
            kept.carry(array, rank)
        } else {
            Carried::Inline {
                element: array.element().map(str::to_owned),
            }
        };
        if !matches!(how, Carried::Kept { fresh: false, .. }) {
            sent.push(array.bytes());
        }
        carried.push(how);
    }
    (carried, sent)
}

/// Sends `job` to `rank`; `None` (the job reported as failed) if it cannot go.
fn send_job(world: &SimpleCommunicator, rank: Rank, job: Job, kept: &mut Kept) -> Option<Busy> {
    let Job {
        request: Request::Run {
            task,
            arguments,
            each,
        },
        timeout,
        partial,
        done,
        give_back,
        ..
    } = job;
    let failure = |message: String| Some(JobOutcome::Reply(Reply::failed(0, message)));
    let largest_array = arguments
        .attached
        .iter()
        .map(|array| array.bytes().len())
        .max()
        .unwrap_or(0);
    let refusal = if arguments.bytes.len() > MAX_MESSAGE {
        failure(format!(
            "the batch's arguments take {} bytes, more than an MPI message holds (2 GiB): \
             lower batch_size",
            arguments.bytes.len()
        ))
    } else if largest_array > MAX_MESSAGE {
        failure(format!(
            "an array argument takes {largest_array} bytes, more than an MPI message holds \
             (2 GiB): split it"
        ))
    } else {
        let (carried, sent) = carriage(&arguments.attached, rank, kept);
        match request_header(task, each, carried) {
            Ok(header) => {
                let destination = world.process_at_rank(rank);
                destination.send_with_tag(&header[..], RUN_HEADER);
                destination.send_with_tag(&arguments.bytes[..], RUN_PAYLOAD);
                for bytes in sent {
                    destination.send_with_tag(bytes, RUN_ARRAY);
                }
                None
            }
            Err(err) => failure(format!("the request could not be encoded: {err}")),
        }
    };
    if let Some(outcome) = refusal {
        done(outcome, Duration::ZERO);
        return None;
    }
    // What the rank may give back is taken from the arguments it was sent: kept once
    // sent (a copy before would also count as a second holder of their arrays, which
    // then go as arrays the rank keeps).
    let give_back = give_back
        .filter(|_| each)
        .map(|give_back| (give_back, arguments));
    Some(Busy {
        partial,
        done: Some(done),
        since: Instant::now(),
        timeout,
        give_back,
        heard: Instant::now(),
        asked: false,
    })
}

/// Reports the batches past their timeout. A rank cannot be stopped from outside, so it
/// stays busy until its task returns; only the run learns of the overrun at once.
fn report_overdue(busy: &mut HashMap<Rank, Busy>) {
    for (&rank, entry) in busy.iter_mut() {
        let overdue = entry
            .timeout
            .is_some_and(|timeout| entry.since.elapsed() > timeout);
        if overdue {
            if let Some(done) = entry.done.take() {
                let outcome = JobOutcome::RankTimedOut {
                    rank: u32::try_from(rank).ok(),
                    host: host_of(rank),
                };
                done(outcome, entry.since.elapsed());
            }
        }
    }
}

/// At exit, with only overrunning tasks left after `EXIT_GRACE`: they may never return,
/// and MPI cannot stop one rank, so the job ends here rather than hang.
fn abort_overdue(world: &SimpleCommunicator, busy: &HashMap<Rank, Busy>) {
    let mut ranks: Vec<Rank> = busy.keys().copied().collect();
    ranks.sort_unstable();
    let named: Vec<String> = ranks
        .iter()
        .map(|&rank| match host_of(rank) {
            Some(host) => format!("rank {rank} (host {host})"),
            None => format!("rank {rank}"),
        })
        .collect();
    crate::progress::stderr_line(&format!(
        "parmemo: {} still running a task past its timeout {} s after the program ended; \
         MPI cannot stop one rank, so the job is aborted (MPI_Abort). What #[cache] \
         functions stored is kept: rerun the job to resume from it",
        named.join(", "),
        EXIT_GRACE.as_secs()
    ));
    world.abort(3);
}
