//! The loop of ranks 1..: run each batch rank 0 sends until it says stop.

use super::{
    Backoff, FORGET, GIVE_BACK, MAX_MESSAGE, REPLY_HEADER, REPLY_PAYLOAD, RUN_ARRAY, RUN_PAYLOAD,
    STOP,
};
use crate::backend::remote::wire::Payload;
use crate::backend::remote::wire::{
    framed, reply_parts, request_from_parts, Carried, Reply, Request,
};
use crate::backend::remote::{call, call_each, Arrays, Cursor, Offsets};
use mpi::point_to_point::Status;
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::{Communicator, Destination, MatchedReceiveVec, Source};
use parmemo_shared::attach::Attachment;
use std::collections::HashMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Serves rank 0 until it sends `STOP`. `runnable` is false when some rank runs another
/// executable: then every batch is refused rather than run.
pub(super) fn serve(world: &SimpleCommunicator, runnable: bool) {
    let root = world.process_at_rank(0);
    let mut backoff = Backoff::new();
    // The `Shared` arrays rank 0 sent once for all the tasks that name them.
    let mut kept: HashMap<u64, Attachment> = HashMap::new();
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
        if status.tag() == GIVE_BACK {
            // Asked while a batch ran, arrived after it ended: nothing left to give.
            continue;
        }
        if status.tag() == FORGET {
            for id in header.chunks_exact(8) {
                let id: [u8; 8] = id.try_into().unwrap_or_default();
                kept.remove(&u64::from_le_bytes(id));
            }
            continue;
        }
        let (payload, _) = root.receive_vec_with_tag::<u8>(RUN_PAYLOAD);
        let request = request_from_parts(&header, payload, |how| {
            receive_attachment(&root, how, &mut kept)
        });
        let reply = match request {
            Ok(request) if runnable => run(request, &root),
            Ok(_) => Reply::Failed {
                error: Vec::new(),
                offset: 0,
                message: "this rank runs a different executable from rank 0".to_owned(),
            },
            Err(err) => Reply::Failed {
                error: Vec::new(),
                offset: 0,
                message: format!("rank {} could not read the request: {err}", world.rank()),
            },
        };
        send_reply(&root, &reply);
    }
}

/// An attachment of the request being received: its bytes are the next `RUN_ARRAY`
/// message, unless it is an array this rank kept from an earlier request.
fn receive_attachment(
    root: &Process<'_>,
    how: &Carried,
    kept: &mut HashMap<u64, Attachment>,
) -> io::Result<Attachment> {
    match how {
        Carried::Kept { id, fresh: false } => kept.get(id).cloned().ok_or_else(|| {
            io::Error::other(format!(
                "rank 0 named array {id}, which this rank does not keep"
            ))
        }),
        Carried::Kept { id, fresh: true } => {
            let (bytes, _) = root.receive_vec_with_tag::<u8>(RUN_ARRAY);
            let array = Attachment::copied(&bytes);
            kept.insert(*id, array.clone());
            Ok(array)
        }
        Carried::Inline { element: None } => {
            let (bytes, _) = root.receive_vec_with_tag::<u8>(RUN_ARRAY);
            Ok(Attachment::copied(&bytes))
        }
        Carried::Inline {
            element: Some(element),
        } => {
            let (bytes, _) = root.receive_vec_with_tag::<u8>(RUN_ARRAY);
            Attachment::read_vec(element, bytes.len(), |into| {
                into.copy_from_slice(&bytes);
                Ok(())
            })
        }
        Carried::Descriptor { .. } => Err(io::Error::other("a file descriptor cannot cross MPI")),
    }
}

fn run(request: Request, root: &mpi::topology::Process<'_>) -> Reply {
    let Request::Run {
        task,
        arguments,
        each,
    } = request;
    if each {
        return run_each(task, arguments, root);
    }
    // SAFETY: rank 0 computed the offsets with `RemoteFn::offsets`, and
    // `check_same_executable` found every rank running an executable with the same
    // contents; `call` finds each library by the digest of its contents, so the names
    // land on the same functions.
    let reply = catch_unwind(AssertUnwindSafe(|| unsafe {
        call(task, arguments, Arrays::Inline)
    }));
    closed(reply)
}

/// The stack of the thread that runs a batch answered task by task: as a main thread's.
const TASK_STACK: usize = 8 << 20;

/// Runs a batch sent with `each`: its tasks on a thread of their own, while this thread
/// (the only one that calls MPI) sends each result as it ends and answers rank 0 when
/// it asks for the tasks not started yet, which a slow task would otherwise hold back.
fn run_each(task: Offsets, arguments: Payload, root: &mpi::topology::Process<'_>) -> Reply {
    let cursor = Cursor::new();
    let (results, ready) = crossbeam_channel::unbounded::<Payload>();
    let mut too_large = None;
    let reply = std::thread::scope(|scope| {
        let cursor = &cursor;
        let tasks = std::thread::Builder::new()
            .name("parmemo-rank-tasks".to_owned())
            .stack_size(TASK_STACK)
            .spawn_scoped(scope, move || {
                // SAFETY: as in `run`, for the offsets rank 0 sent.
                catch_unwind(AssertUnwindSafe(|| unsafe {
                    call_each(
                        task,
                        arguments,
                        Arrays::Inline,
                        &mut |result| results.send(result).is_ok(),
                        &|offset| cursor.claim(offset),
                    )
                }))
            });
        let tasks = match tasks {
            Ok(tasks) => tasks,
            Err(err) => {
                return Ok(Reply::failed(
                    0,
                    format!("the rank could not start a thread for the batch: {err}"),
                ))
            }
        };
        let mut ready = Some(ready);
        let mut backoff = Backoff::new();
        loop {
            let finished = tasks.is_finished();
            let mut busy = false;
            while let Some(result) = ready.as_ref().and_then(|ready| ready.try_recv().ok()) {
                busy = true;
                match checked(Reply::Partial(framed(vec![result]))) {
                    partial @ Reply::Partial(_) => send_reply(root, &partial),
                    refused => {
                        // The task loop stops at its next result: nobody takes it.
                        too_large = Some(refused);
                        ready = None;
                    }
                }
            }
            if finished {
                break;
            }
            if let Some((message, status)) = root.immediate_matched_probe_with_tag(GIVE_BACK) {
                let _: (Vec<u8>, Status) = (message, status).matched_receive_vec();
                send_reply(
                    root,
                    &Reply::Yielded {
                        from: cursor.give_back(),
                    },
                );
                busy = true;
            }
            if busy {
                backoff.reset();
            } else {
                backoff.wait();
            }
        }
        tasks.join().unwrap_or_else(Err)
    });
    if let (Some(Reply::Failed { message, .. }), Ok(Reply::Failed { offset, .. })) =
        (too_large, &reply)
    {
        return Reply::failed(*offset, message);
    }
    closed(reply)
}

/// The reply that closes a batch: its own, or a failure for a panic that escaped the
/// trampoline.
fn closed(reply: std::thread::Result<Reply>) -> Reply {
    let reply = reply.unwrap_or_else(|payload| {
        // Only dropping a task's value can panic past the trampoline: report it, keep serving.
        std::mem::forget(payload);
        Reply::Failed {
            error: Vec::new(),
            offset: 0,
            message: "dropping a task's argument or result panicked".to_owned(),
        }
    });
    checked(reply)
}

/// `reply`, or a failure when its results would not fit in one MPI message.
fn checked(reply: Reply) -> Reply {
    match &reply {
        Reply::Done(results) | Reply::Partial(results) if results.bytes.len() > MAX_MESSAGE => {
            Reply::Failed {
                error: Vec::new(),
                offset: 0,
                message: format!(
                    "the batch's results take {} bytes, more than an MPI message holds (2 GiB): \
                 lower batch_size",
                    results.bytes.len()
                ),
            }
        }
        _ => reply,
    }
}

fn send_reply(root: &mpi::topology::Process<'_>, reply: &Reply) {
    let (header, payload) = match reply_parts(reply) {
        Ok(parts) => parts,
        Err(err) => {
            // Only an unencodable error message can land here; say that much.
            let fallback = Reply::Failed {
                error: Vec::new(),
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
