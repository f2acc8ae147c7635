//! The loop of ranks 1..: run each batch rank 0 sends until it says stop.

use super::{
    Backoff, FORGET, MAX_MESSAGE, REPLY_HEADER, REPLY_PAYLOAD, RUN_ARRAY, RUN_PAYLOAD, STOP,
};
use crate::backend::remote::wire::{
    framed, reply_parts, request_from_parts, Carried, Reply, Request,
};
use crate::backend::remote::{call, call_each, Arrays};
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
    let mut too_large = None;
    // SAFETY: rank 0 computed the offsets with `RemoteFn::offsets`, and
    // `check_same_executable` found every rank running an executable with the same
    // contents; `call` finds each library by the digest of its contents, so the names
    // land on the same functions.
    let reply = catch_unwind(AssertUnwindSafe(|| unsafe {
        if each {
            // Each result at once: an MPI message costs little, and a second thread
            // calling MPI would need MPI_THREAD_MULTIPLE.
            call_each(
                task,
                arguments,
                Arrays::Inline,
                &mut |result| match checked(Reply::Partial(framed(vec![result]))) {
                    partial @ Reply::Partial(_) => {
                        send_reply(root, &partial);
                        true
                    }
                    refused => {
                        too_large = Some(refused);
                        false
                    }
                },
            )
        } else {
            call(task, arguments, Arrays::Inline)
        }
    }));
    if let (Some(Reply::Failed { message, .. }), Ok(Reply::Failed { offset, .. })) =
        (too_large, &reply)
    {
        return Reply::failed(*offset, message);
    }
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
