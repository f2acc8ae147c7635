//! What a parent and its workers say to each other (the child's stdout and stderr stay
//! free for its own output). A message is a small postcard header and a payload of raw
//! bytes, each length-prefixed: the payload (a batch's encoded arguments or results) is
//! never encoded a second time, which would cost a call per byte.
//!
//! The format carries no version of its own because both ends are always one build of one
//! program: a worker process is started from the parent's own image (`/proc/self/exe`),
//! and MPI ranks compare a hash of their executables before any task is sent.
//!
//! Large `Shared` arrays do not travel in the payload: they are its attachments (see
//! `parmemo_shared::attach`), and the header lists how each one came (`Carried`). This
//! module is the format both out-of-process backends share; how the bytes move is each
//! leaf's: a worker's Unix socket passes file descriptors and bounds every length it
//! reads (`process/channel.rs`), MPI sends messages (`mpi/`).

use super::function::Offsets;
use super::objects::Located;
use parmemo_shared::attach::Attachment;
use parmemo_shared::codec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;

/// The longest header: offsets, or a task's error message.
pub(crate) const MAX_HEADER: u64 = 1 << 20;

/// The longest payload, a batch's encoded arguments or results.
pub(crate) const MAX_PAYLOAD: u64 = 1 << 40;

/// Parent to child.
#[derive(Debug)]
pub(crate) enum Request {
    /// Run a batch of the function that `task` names. `arguments` is the encoding of the
    /// batch's `Vec<A>`; with `each`, its tasks' one-task batches [`framed`] instead,
    /// and the worker answers each task as it ends ([`Reply::Partial`]).
    Run {
        task: Offsets,
        arguments: Payload,
        each: bool,
    },
}

/// Encoded values and the arrays that travel beside them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Payload {
    pub(crate) bytes: Vec<u8>,
    pub(crate) attached: Vec<Attachment>,
}

impl Payload {
    /// Bytes with nothing attached.
    #[cfg(test)]
    pub(crate) fn plain(bytes: Vec<u8>) -> Payload {
        Payload {
            bytes,
            attached: Vec::new(),
        }
    }
}

/// How one attachment travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Carried {
    /// As a file descriptor passed with the frame: `len` bytes at `offset` of its file.
    Descriptor { offset: u64, len: u64 },
    /// As raw bytes after the payload; with an element type, a plain vector's bytes,
    /// read straight into a new vector of them.
    Inline { element: Option<String> },
    /// An array the receiver keeps under `id` across requests (an MPI rank: a `Shared`
    /// goes to each rank once): its bytes follow when `fresh`, else the receiver has them.
    Kept { id: u64, fresh: bool },
}

/// The header of a request, without its payload.
#[derive(Serialize, Deserialize)]
pub(crate) struct RunHeader {
    pub(crate) trampoline: Located,
    pub(crate) function: Located,
    pub(crate) each: bool,
    pub(crate) carried: Vec<Carried>,
}

/// Child to parent.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The child is up (sent once, first): its process id and the nonce its parent gave it.
    Hello { pid: u32, nonce: u128 },
    /// Every task of the batch ran: the encoding of its `Vec<R>` (empty when the tasks
    /// were answered one by one).
    Done(Payload),
    /// Tasks of a batch run with `each` ended, the next ones in order: each one's
    /// encoding of a `Vec<R>` of one, [`framed`] together. More replies follow for the
    /// same batch.
    Partial(Payload),
    /// Task `offset` of the batch panicked or returned an error: its message, and the
    /// encoding of the error value it returned (empty after a panic, or for `map`).
    Failed {
        offset: usize,
        message: String,
        error: Vec<u8>,
    },
    /// Of a batch sent with `each`, asked to give back what it has not started: the
    /// tasks from `from` on will not run here (none, when `from` is the batch's length).
    /// More replies follow for the tasks before.
    Yielded { from: usize },
}

impl Reply {
    /// A failure without an error value: a panic, or a failure of the machinery.
    pub(crate) fn failed(offset: usize, message: String) -> Reply {
        Reply::Failed {
            offset,
            message,
            error: Vec::new(),
        }
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    codec::encode(value).map_err(|err| err.to_string())
}

/// `value` encoded at the end of `bytes` (after a leading tag, without copying the
/// encoding a second time).
pub(crate) fn encode_onto<T: Serialize + ?Sized>(
    bytes: &mut Vec<u8>,
    value: &T,
) -> Result<(), String> {
    codec::encode_onto(bytes, value).map_err(|err| err.to_string())
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    codec::decode(bytes).map_err(|err| err.to_string())
}

/// The header of a reply, without its payload.
#[derive(Serialize, Deserialize)]
pub(crate) enum ReplyHeader {
    Hello { pid: u32, nonce: u128 },
    Done { carried: Vec<Carried> },
    Partial { carried: Vec<Carried> },
    Failed { offset: usize, message: String },
    Yielded { from: usize },
}

/// The encoded header of a request to run a batch whose attachments travel as
/// `carried` says (the MPI backend's message format: ranks on other machines cannot map
/// memory, so arrays go as bytes, a `Shared` once per rank).
#[cfg(feature = "mpi")]
pub(crate) fn request_header(
    task: Offsets,
    each: bool,
    carried: Vec<Carried>,
) -> Result<Vec<u8>, String> {
    encode(&RunHeader {
        trampoline: task.trampoline,
        function: task.function,
        each,
        carried,
    })
}

/// One payload holding `parts` each behind its length and its number of attachments,
/// the attachments one after the other: a batch's one-task batches, or the results of
/// several tasks.
pub(crate) fn framed(parts: Vec<Payload>) -> Payload {
    let total = parts.iter().map(|part| part.bytes.len() + 16).sum();
    let mut framed = Payload {
        bytes: Vec::with_capacity(total),
        attached: Vec::new(),
    };
    for part in parts {
        framed
            .bytes
            .extend_from_slice(&(part.bytes.len() as u64).to_le_bytes());
        framed
            .bytes
            .extend_from_slice(&(part.attached.len() as u64).to_le_bytes());
        framed.bytes.extend_from_slice(&part.bytes);
        framed.attached.extend(part.attached);
    }
    framed
}

/// The parts of a [`framed`] payload.
pub(crate) fn unframed(framed: Payload) -> Result<Vec<Payload>, String> {
    let mut parts = Vec::new();
    let mut buffer = &framed.bytes[..];
    let mut attached = framed.attached.into_iter();
    while !buffer.is_empty() {
        let mut number = || -> Result<usize, String> {
            let (value, rest) = buffer
                .split_first_chunk::<8>()
                .ok_or("a framed batch ends inside a length")?;
            buffer = rest;
            usize::try_from(u64::from_le_bytes(*value)).map_err(|err| err.to_string())
        };
        let length = number()?;
        let count = number()?;
        if length > buffer.len() {
            return Err("a framed batch announces more bytes than it holds".to_owned());
        }
        let (bytes, rest) = buffer.split_at(length);
        buffer = rest;
        let mine: Vec<Attachment> = attached.by_ref().take(count).collect();
        if mine.len() != count {
            return Err("a framed batch announces more arrays than it holds".to_owned());
        }
        parts.push(Payload {
            bytes: bytes.to_vec(),
            attached: mine,
        });
    }
    Ok(parts)
}

/// The request made of a header and its payload, with each attachment the header
/// announces made by `attachment` (which reads the bytes that follow, or finds a kept
/// array).
#[cfg(feature = "mpi")]
pub(crate) fn request_from_parts(
    header: &[u8],
    arguments: Vec<u8>,
    attachment: impl FnMut(&Carried) -> io::Result<Attachment>,
) -> io::Result<Request> {
    let header: RunHeader = decode(header).map_err(io::Error::other)?;
    // Every announced attachment is taken, even after one fails: their messages must
    // not be left behind for the next request to read as its own.
    let attached: Vec<io::Result<Attachment>> = header.carried.iter().map(attachment).collect();
    let attached = attached.into_iter().collect::<io::Result<Vec<_>>>()?;
    Ok(request_of(
        &header,
        Payload {
            bytes: arguments,
            attached,
        },
    ))
}

pub(crate) fn request_of(header: &RunHeader, arguments: Payload) -> Request {
    Request::Run {
        each: header.each,
        task: Offsets {
            trampoline: header.trampoline,
            function: header.function,
        },
        arguments,
    }
}

/// A reply as its encoded header and its payload, for a peer that takes no attachment
/// (an MPI rank's reply, whose arrays were serialized inline).
#[cfg(feature = "mpi")]
pub(crate) fn reply_parts(reply: &Reply) -> io::Result<(Vec<u8>, &[u8])> {
    let (header, payload) = reply_header(reply, Vec::new());
    Ok((encode(&header).map_err(io::Error::other)?, payload))
}

/// The header of `reply`, with `carried` saying how its attachments travel, and the
/// bytes of its payload.
pub(crate) fn reply_header(reply: &Reply, carried: Vec<Carried>) -> (ReplyHeader, &[u8]) {
    match reply {
        Reply::Hello { pid, nonce } => (
            ReplyHeader::Hello {
                pid: *pid,
                nonce: *nonce,
            },
            &[][..],
        ),
        Reply::Yielded { from } => (ReplyHeader::Yielded { from: *from }, &[][..]),
        Reply::Done(results) => (ReplyHeader::Done { carried }, &results.bytes[..]),
        Reply::Partial(results) => (ReplyHeader::Partial { carried }, &results.bytes[..]),
        Reply::Failed {
            offset,
            message,
            error,
        } => (
            ReplyHeader::Failed {
                offset: *offset,
                message: message.clone(),
            },
            &error[..],
        ),
    }
}

/// The reply made of a header and its payload, for a peer that sends no attachment.
#[cfg(feature = "mpi")]
pub(crate) fn reply_from_parts(header: &[u8], payload: Vec<u8>) -> io::Result<Reply> {
    let header: ReplyHeader = decode(header).map_err(io::Error::other)?;
    reply_of(header, payload, Vec::new())
}

pub(crate) fn reply_of(
    header: ReplyHeader,
    payload: Vec<u8>,
    attached: Vec<Attachment>,
) -> io::Result<Reply> {
    let expected = match &header {
        ReplyHeader::Done { carried } | ReplyHeader::Partial { carried } => carried.len(),
        _ => 0,
    };
    if attached.len() != expected {
        return Err(io::Error::other(
            "arrays were attached where none can travel",
        ));
    }
    let results = Payload {
        bytes: payload,
        attached,
    };
    Ok(match header {
        ReplyHeader::Hello { pid, nonce } => Reply::Hello { pid, nonce },
        ReplyHeader::Yielded { from } => Reply::Yielded { from },
        ReplyHeader::Done { .. } => Reply::Done(results),
        ReplyHeader::Partial { .. } => Reply::Partial(results),
        ReplyHeader::Failed { offset, message } => Reply::Failed {
            offset,
            message,
            error: results.bytes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_parts_come_back_as_they_went_and_lies_are_errors() {
        let array = Attachment::copied(&[5; 100]);
        let parts = vec![
            Payload::plain(vec![1, 2]),
            Payload {
                bytes: vec![],
                attached: vec![array.clone(), array],
            },
            Payload::plain(vec![3; 300]),
        ];
        let framed = framed(parts.clone());
        let back = unframed(framed.clone()).unwrap();
        let shape = |parts: &[Payload]| -> Vec<(Vec<u8>, usize)> {
            parts
                .iter()
                .map(|part| (part.bytes.clone(), part.attached.len()))
                .collect()
        };
        assert_eq!(shape(&back), shape(&parts));
        let mut cut = framed.clone();
        cut.bytes.pop();
        assert!(unframed(cut.clone()).is_err());
        cut.bytes.truncate(5);
        assert!(unframed(cut.clone()).is_err());
        let mut short = framed;
        short.attached.pop();
        assert!(unframed(short).is_err(), "an array missing");
        assert_eq!(unframed(Payload::default()).map(|parts| parts.len()), Ok(0));
    }
}
