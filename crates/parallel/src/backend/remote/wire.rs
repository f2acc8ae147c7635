//! What a parent and its workers say to each other (the child's stdout and stderr stay
//! free for its own output). A message is a small bincode header and a payload of raw
//! bytes, each length-prefixed: the payload (a batch's encoded arguments or results) is
//! never encoded a second time, which would cost a call per byte.
//!
//! Lengths are bounded and never trusted for an allocation: a peer that claims 2^50
//! bytes gets an error, and memory grows only with the bytes that really arrive.

use super::function::Offsets;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// The longest header: offsets, or a task's error message.
pub(crate) const MAX_HEADER: u64 = 1 << 20;

/// The longest payload, a batch's encoded arguments or results.
pub(crate) const MAX_PAYLOAD: u64 = 1 << 40;

/// How much of a claimed length is reserved before its bytes arrive.
const RESERVE_AHEAD: usize = 1 << 28;

/// Parent to child.
#[derive(Debug)]
pub(crate) enum Request {
    /// Run a batch of the function that `task` names. `arguments` is the bincode of the
    /// batch's `Vec<A>`; with `each`, its tasks' one-task batches [`framed`] instead,
    /// and the worker answers each task as it ends ([`Reply::Partial`]).
    Run {
        task: Offsets,
        arguments: Vec<u8>,
        each: bool,
    },
}

/// The header of a request, without its payload.
#[derive(Serialize, Deserialize)]
struct RunHeader {
    trampoline: usize,
    function: usize,
    each: bool,
}

/// Child to parent.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The child is up (sent once, first): its process id and the nonce its parent gave it.
    Hello { pid: u32, nonce: u128 },
    /// Every task of the batch ran: the bincode of its `Vec<R>` (empty when the tasks
    /// were answered one by one).
    Done(Vec<u8>),
    /// Tasks of a batch run with `each` ended, the next ones in order: each one's
    /// bincode of a `Vec<R>` of one, [`framed`] together. More replies follow for the
    /// same batch.
    Partial(Vec<u8>),
    /// Task `offset` of the batch panicked or returned an error: its message, and the
    /// bincode of the error value it returned (empty after a panic, or for `map`).
    Failed {
        offset: usize,
        message: String,
        error: Vec<u8>,
    },
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

pub(crate) fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|err| err.to_string())
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(bytes, config())
        .map(|(value, _)| value)
        .map_err(|err| err.to_string())
}

/// The header of a reply, without its payload.
#[derive(Serialize, Deserialize)]
enum ReplyHeader {
    Hello { pid: u32, nonce: u128 },
    Done,
    Partial,
    Failed { offset: usize, message: String },
}

fn write_part(stream: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(&(bytes.len() as u64).to_le_bytes())?;
    stream.write_all(bytes)
}

/// Reads one length-prefixed part of at most `limit` bytes.
fn read_part(stream: &mut impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut length = [0; 8];
    stream.read_exact(&mut length)?;
    let length = u64::from_le_bytes(length);
    let length = usize::try_from(length)
        .ok()
        .filter(|_| length <= limit)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the peer announced a part of {length} bytes, more than the {limit} allowed"
                ),
            )
        })?;
    // `vec![0; n]` takes fresh zeroed pages from the allocator without writing them, so
    // the first block costs nothing until its bytes arrive; later blocks grow the buffer
    // only once the earlier ones are full.
    let mut bytes = vec![0_u8; length.min(RESERVE_AHEAD)];
    stream.read_exact(&mut bytes)?;
    while bytes.len() < length {
        let start = bytes.len();
        bytes.resize(start + (length - start).min(RESERVE_AHEAD), 0);
        stream.read_exact(&mut bytes[start..])?;
    }
    Ok(bytes)
}

/// The encoded header of a request to run a batch; the arguments travel beside it as
/// the payload. Also the MPI backend's message format.
pub(crate) fn request_header(task: Offsets, each: bool) -> Result<Vec<u8>, String> {
    encode(&RunHeader {
        trampoline: task.trampoline,
        function: task.function,
        each,
    })
}

/// One buffer holding `parts` each behind its length: a batch's one-task batches.
pub(crate) fn framed(parts: &[Vec<u8>]) -> Vec<u8> {
    let total = parts.iter().map(|part| part.len() + 8).sum();
    let mut buffer = Vec::with_capacity(total);
    for part in parts {
        buffer.extend_from_slice(&(part.len() as u64).to_le_bytes());
        buffer.extend_from_slice(part);
    }
    buffer
}

/// The parts of a [`framed`] buffer, borrowed from it.
pub(crate) fn unframed(mut buffer: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut parts = Vec::new();
    while !buffer.is_empty() {
        let (length, rest) = buffer
            .split_first_chunk::<8>()
            .ok_or("a framed batch ends inside a length")?;
        let length = usize::try_from(u64::from_le_bytes(*length))
            .ok()
            .filter(|&length| length <= rest.len())
            .ok_or("a framed batch announces more bytes than it holds")?;
        let (part, rest) = rest.split_at(length);
        parts.push(part);
        buffer = rest;
    }
    Ok(parts)
}

/// The request made of a header and its payload.
pub(crate) fn request_from_parts(header: &[u8], arguments: Vec<u8>) -> io::Result<Request> {
    let RunHeader {
        trampoline,
        function,
        each,
    } = decode(header).map_err(io::Error::other)?;
    Ok(Request::Run {
        each,
        task: Offsets {
            trampoline,
            function,
        },
        arguments,
    })
}

/// A reply as its encoded header and its payload (a `Done`'s results, a `Failed`'s
/// error value).
pub(crate) fn reply_parts(reply: &Reply) -> io::Result<(Vec<u8>, &[u8])> {
    let (header, payload) = match reply {
        Reply::Hello { pid, nonce } => (
            ReplyHeader::Hello {
                pid: *pid,
                nonce: *nonce,
            },
            &[][..],
        ),
        Reply::Done(results) => (ReplyHeader::Done, &results[..]),
        Reply::Partial(result) => (ReplyHeader::Partial, &result[..]),
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
    };
    Ok((encode(&header).map_err(io::Error::other)?, payload))
}

/// The reply made of a header and its payload.
pub(crate) fn reply_from_parts(header: &[u8], payload: Vec<u8>) -> io::Result<Reply> {
    Ok(match decode(header).map_err(io::Error::other)? {
        ReplyHeader::Hello { pid, nonce } => Reply::Hello { pid, nonce },
        ReplyHeader::Done => Reply::Done(payload),
        ReplyHeader::Partial => Reply::Partial(payload),
        ReplyHeader::Failed { offset, message } => Reply::Failed {
            offset,
            message,
            error: payload,
        },
    })
}

fn send_parts(stream: &mut impl Write, header: &[u8], payload: &[u8]) -> io::Result<()> {
    write_part(stream, header)?;
    write_part(stream, payload)?;
    stream.flush()
}

/// Sends a request; its arguments go as a raw payload.
pub(crate) fn send_request(stream: &mut impl Write, request: &Request) -> io::Result<()> {
    let Request::Run {
        task,
        arguments,
        each,
    } = request;
    let header = request_header(*task, *each).map_err(io::Error::other)?;
    send_parts(stream, &header, arguments)
}

/// Reads a request; `UnexpectedEof` when the parent is gone.
pub(crate) fn receive_request(stream: &mut impl Read) -> io::Result<Request> {
    let header = read_part(stream, MAX_HEADER)?;
    request_from_parts(&header, read_part(stream, MAX_PAYLOAD)?)
}

/// Sends a reply; the results of a finished batch go as a raw payload.
pub(crate) fn send_reply(stream: &mut impl Write, reply: &Reply) -> io::Result<()> {
    let (header, payload) = reply_parts(reply)?;
    send_parts(stream, &header, payload)
}

/// Reads a reply; `UnexpectedEof` when the worker is gone.
pub(crate) fn receive_reply(stream: &mut impl Read) -> io::Result<Reply> {
    let header = read_part(stream, MAX_HEADER)?;
    reply_from_parts(&header, read_part(stream, MAX_PAYLOAD)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let mut wire = Vec::new();
        let task = Offsets {
            trampoline: 7,
            function: usize::MAX - 3,
        };
        let request = Request::Run {
            task,
            arguments: vec![1, 2, 3],
            each: true,
        };
        send_request(&mut wire, &request).unwrap();
        send_reply(&mut wire, &Reply::Done(vec![9; 5])).unwrap();
        send_reply(&mut wire, &Reply::failed(2, "no".into())).unwrap();
        let mut reader = wire.as_slice();
        let Request::Run {
            task: received,
            arguments,
            each,
        } = receive_request(&mut reader).unwrap();
        assert_eq!((received, arguments, each), (task, vec![1, 2, 3], true));
        assert!(matches!(receive_reply(&mut reader).unwrap(), Reply::Done(p) if p == vec![9; 5]));
        assert!(matches!(
            receive_reply(&mut reader).unwrap(),
            Reply::Failed { offset: 2, .. }
        ));
        assert!(receive_reply(&mut reader).is_err(), "end of stream");
    }

    #[test]
    fn framed_parts_come_back_as_they_went_and_lies_are_errors() {
        let parts = vec![vec![1, 2], vec![], vec![3; 300]];
        let buffer = framed(&parts);
        let back: Vec<Vec<u8>> = unframed(&buffer)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(back, parts);
        assert!(unframed(&buffer[..buffer.len() - 1]).is_err());
        assert!(unframed(&buffer[..5]).is_err());
        assert_eq!(unframed(&[]).map(|parts| parts.len()), Ok(0));
    }

    #[test]
    fn an_oversized_length_is_an_error_not_an_allocation() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&(1_u64 << 50).to_le_bytes());
        let err = receive_reply(&mut wire.as_slice()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("more than"), "{err}");
        // A payload as long as allowed, claimed but never sent: an end of stream, after
        // reserving only what arrives.
        let mut wire = Vec::new();
        write_part(&mut wire, &encode(&ReplyHeader::Done).unwrap()).unwrap();
        wire.extend_from_slice(&MAX_PAYLOAD.to_le_bytes());
        wire.extend_from_slice(&[7; 100]);
        let err = receive_reply(&mut wire.as_slice()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
