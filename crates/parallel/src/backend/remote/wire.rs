//! What a parent and its workers say to each other (the child's stdout and stderr stay
//! free for its own output). A message is a small postcard header and a payload of raw
//! bytes, each length-prefixed: the payload (a batch's encoded arguments or results) is
//! never encoded a second time, which would cost a call per byte.
//!
//! The format carries no version of its own because both ends are always one build of one
//! program: a worker process is started from the parent's own image (`/proc/self/exe`),
//! and MPI ranks compare a hash of their executables before any task is sent.
//!
//! Lengths are bounded and never trusted for an allocation: a peer that claims 2^50
//! bytes gets an error, and memory grows only with the bytes that really arrive.
//!
//! Large `Shared` arrays do not travel in the payload: they are its attachments (see
//! `parmemo_shared::attach`). One held in a file (a sealed memfd, a mapped cache entry)
//! goes as its file descriptor, passed with the frame's first bytes (`SCM_RIGHTS`), and
//! the other side maps the same memory; a small one, or one on the heap, follows the
//! payload as raw bytes. The header lists how each one came.

use super::function::Offsets;
use super::objects::Located;
use parmemo_shared::attach::Attachment;
use parmemo_shared::codec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The longest header: offsets, or a task's error message.
pub(crate) const MAX_HEADER: u64 = 1 << 20;

/// The longest payload, a batch's encoded arguments or results.
pub(crate) const MAX_PAYLOAD: u64 = 1 << 40;

/// How much of a claimed length is reserved before its bytes arrive.
const RESERVE_AHEAD: usize = 1 << 28;

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

/// Attachments smaller than this travel as bytes: a descriptor and a mapping cost more
/// than copying them.
const INLINE_BELOW: usize = 64 << 10;

/// At most this many descriptors go with one frame (the kernel's limit is 253).
const MAX_DESCRIPTORS: usize = 250;

/// The header of a request, without its payload.
#[derive(Serialize, Deserialize)]
struct RunHeader {
    trampoline: Located,
    function: Located,
    each: bool,
    carried: Vec<Carried>,
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
enum ReplyHeader {
    Hello { pid: u32, nonce: u128 },
    Done { carried: Vec<Carried> },
    Partial { carried: Vec<Carried> },
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
    read_bytes(stream, u64::from_le_bytes(length), limit)
}

/// A length the peer announced, refused beyond `limit` (before anything is allocated).
fn within_limit(length: u64, limit: u64) -> io::Result<usize> {
    usize::try_from(length)
        .ok()
        .filter(|_| length <= limit)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the peer announced a part of {length} bytes, more than the {limit} allowed"
                ),
            )
        })
}

/// Reads `length` bytes, refused beyond `limit`.
fn read_bytes(stream: &mut impl Read, length: u64, limit: u64) -> io::Result<Vec<u8>> {
    let length = within_limit(length, limit)?;
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

fn request_of(header: &RunHeader, arguments: Payload) -> Request {
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
fn reply_header(reply: &Reply, carried: Vec<Carried>) -> (ReplyHeader, &[u8]) {
    match reply {
        Reply::Hello { pid, nonce } => (
            ReplyHeader::Hello {
                pid: *pid,
                nonce: *nonce,
            },
            &[][..],
        ),
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

fn reply_of(header: ReplyHeader, payload: Vec<u8>, attached: Vec<Attachment>) -> io::Result<Reply> {
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
        ReplyHeader::Done { .. } => Reply::Done(results),
        ReplyHeader::Partial { .. } => Reply::Partial(results),
        ReplyHeader::Failed { offset, message } => Reply::Failed {
            offset,
            message,
            error: results.bytes,
        },
    })
}

/// A channel that can pass file descriptors with its bytes: a Unix socket.
pub(crate) trait Channel: Read + Write {
    /// Writes `bytes` with `descriptors` attached to them.
    fn write_with(&mut self, bytes: &[u8], descriptors: &[BorrowedFd<'_>]) -> io::Result<()>;
    /// Reads exactly `into.len()` bytes and the descriptors that came with them.
    fn read_with(&mut self, into: &mut [u8]) -> io::Result<Vec<OwnedFd>>;
}

impl Channel for &std::os::unix::net::UnixStream {
    fn write_with(&mut self, bytes: &[u8], descriptors: &[BorrowedFd<'_>]) -> io::Result<()> {
        super::descriptors::send(self, bytes, descriptors)
    }

    fn read_with(&mut self, into: &mut [u8]) -> io::Result<Vec<OwnedFd>> {
        super::descriptors::receive(self, into, MAX_DESCRIPTORS)
    }
}

/// How `attached` travels: each one's carriage, and the descriptors to pass.
fn carriage(attached: &[Attachment]) -> (Vec<Carried>, Vec<BorrowedFd<'_>>) {
    let mut descriptors = Vec::new();
    let carried = attached
        .iter()
        .map(|attachment| match attachment.file() {
            Some((file, offset))
                if attachment.bytes().len() >= INLINE_BELOW
                    && descriptors.len() < MAX_DESCRIPTORS =>
            {
                descriptors.push(file.as_fd());
                Carried::Descriptor {
                    offset,
                    len: attachment.bytes().len() as u64,
                }
            }
            _ => Carried::Inline {
                element: attachment.element().map(str::to_owned),
            },
        })
        .collect();
    (carried, descriptors)
}

/// Writes a frame: its header (the descriptors ride on its length), its payload, then
/// the attachments that travel as bytes.
fn send_frame(
    stream: &mut impl Channel,
    header: &[u8],
    payload: &[u8],
    attached: &[Attachment],
    carried: &[Carried],
    descriptors: &[BorrowedFd<'_>],
) -> io::Result<()> {
    stream.write_with(&(header.len() as u64).to_le_bytes(), descriptors)?;
    stream.write_all(header)?;
    write_part(stream, payload)?;
    for (attachment, how) in attached.iter().zip(carried) {
        if matches!(how, Carried::Inline { .. }) {
            write_part(stream, attachment.bytes())?;
        }
    }
    stream.flush()
}

/// Reads a frame's header and the descriptors that came with it.
fn receive_header(stream: &mut impl Channel) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut length = [0; 8];
    let descriptors = stream.read_with(&mut length)?;
    let header = read_bytes(stream, u64::from_le_bytes(length), MAX_HEADER)?;
    Ok((header, descriptors))
}

/// An array that came as a descriptor, mapped: a sealed memfd (a `Shared` made in
/// memory), or a stored cache entry that the other end had mapped for a hit.
fn map_received(file: File, offset: u64, len: usize) -> io::Result<Attachment> {
    match Attachment::map(file.try_clone()?, offset, len) {
        Err(err) if err.kind() == io::ErrorKind::InvalidInput => {
            // SAFETY: an unsealed descriptor on this channel, which only a parent and its
            // own worker hold, is a cache entry file the other end mapped for a hit. Its
            // store writes an entry once and replaces or removes it by rename and unlink,
            // never in place; a process that could rewrite it can already change what the
            // cache returns, and is outside the threat model (SECURITY.md, "The cache").
            unsafe { Attachment::map_unsealed(file, offset, len) }
        }
        mapped => mapped,
    }
}

/// Reads the attachments `carried` announces: mapped from `descriptors`, or as bytes.
fn receive_attached(
    stream: &mut impl Channel,
    carried: &[Carried],
    descriptors: Vec<OwnedFd>,
) -> io::Result<Vec<Attachment>> {
    let mut descriptors = descriptors.into_iter();
    carried
        .iter()
        .map(|how| match how {
            Carried::Descriptor { offset, len } => {
                let descriptor = descriptors
                    .next()
                    .ok_or_else(|| io::Error::other("an array's descriptor did not arrive"))?;
                let len = usize::try_from(*len).map_err(io::Error::other)?;
                map_received(File::from(descriptor), *offset, len)
            }
            Carried::Inline { element: None } => {
                Ok(Attachment::copied(&read_part(stream, MAX_PAYLOAD)?))
            }
            Carried::Inline {
                element: Some(element),
            } => read_vector(stream, element),
            Carried::Kept { .. } => Err(io::Error::other(
                "a kept array arrived on a channel that keeps none",
            )),
        })
        .collect()
}

/// Reads a plain vector of `element`s that travelled as bytes, straight into its memory.
/// The announced length is checked against the limit, and the vector's pages are only
/// touched as its bytes arrive.
fn read_vector(stream: &mut impl Channel, element: &str) -> io::Result<Attachment> {
    let mut length = [0; 8];
    stream.read_exact(&mut length)?;
    let length = within_limit(u64::from_le_bytes(length), MAX_PAYLOAD)?;
    Attachment::read_vec(element, length, |bytes| stream.read_exact(bytes))
}

/// Sends a request; its arguments go as a raw payload, their arrays beside it.
pub(crate) fn send_request(stream: &mut impl Channel, request: &Request) -> io::Result<()> {
    let Request::Run {
        task,
        arguments,
        each,
    } = request;
    let (carried, descriptors) = carriage(&arguments.attached);
    let header = encode(&RunHeader {
        trampoline: task.trampoline,
        function: task.function,
        each: *each,
        carried: carried.clone(),
    })
    .map_err(io::Error::other)?;
    send_frame(
        stream,
        &header,
        &arguments.bytes,
        &arguments.attached,
        &carried,
        &descriptors,
    )
}

/// Reads a request; `UnexpectedEof` when the parent is gone.
pub(crate) fn receive_request(stream: &mut impl Channel) -> io::Result<Request> {
    let (header, descriptors) = receive_header(stream)?;
    let header: RunHeader = decode(&header).map_err(io::Error::other)?;
    let bytes = read_part(stream, MAX_PAYLOAD)?;
    let attached = receive_attached(stream, &header.carried, descriptors)?;
    Ok(request_of(&header, Payload { bytes, attached }))
}

/// Sends a reply; the results of a finished batch go as a raw payload, their arrays
/// beside it.
pub(crate) fn send_reply(stream: &mut impl Channel, reply: &Reply) -> io::Result<()> {
    let attached = match reply {
        Reply::Done(results) | Reply::Partial(results) => &results.attached[..],
        _ => &[],
    };
    let (carried, descriptors) = carriage(attached);
    let (header, payload) = reply_header(reply, carried.clone());
    let header_bytes = encode(&header).map_err(io::Error::other)?;
    send_frame(
        stream,
        &header_bytes,
        payload,
        attached,
        &carried,
        &descriptors,
    )
}

/// Reads a reply; `UnexpectedEof` when the worker is gone.
pub(crate) fn receive_reply(stream: &mut impl Channel) -> io::Result<Reply> {
    let (header, descriptors) = receive_header(stream)?;
    let header: ReplyHeader = decode(&header).map_err(io::Error::other)?;
    let payload = read_part(stream, MAX_PAYLOAD)?;
    let attached = match &header {
        ReplyHeader::Done { carried } | ReplyHeader::Partial { carried } => {
            receive_attached(stream, carried, descriptors)?
        }
        _ => Vec::new(),
    };
    reply_of(header, payload, attached)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::net::UnixStream;

    #[test]
    fn requests_and_replies_round_trip() {
        let (writer, reader) = UnixStream::pair().unwrap();
        let mut wire = &writer;
        let task = Offsets {
            trampoline: Located {
                object: 7,
                offset: 8,
            },
            function: Located {
                object: u64::MAX,
                offset: usize::MAX - 3,
            },
        };
        let request = Request::Run {
            task,
            arguments: Payload::plain(vec![1, 2, 3]),
            each: true,
        };
        send_request(&mut wire, &request).unwrap();
        send_reply(&mut wire, &Reply::Done(Payload::plain(vec![9; 5]))).unwrap();
        send_reply(&mut wire, &Reply::failed(2, "no".into())).unwrap();
        drop(writer);
        let mut reader = &reader;
        let Request::Run {
            task: received,
            arguments,
            each,
        } = receive_request(&mut reader).unwrap();
        assert_eq!(
            (received, arguments.bytes, each),
            (task, vec![1, 2, 3], true)
        );
        assert!(
            matches!(receive_reply(&mut reader).unwrap(), Reply::Done(p) if p.bytes == vec![9; 5])
        );
        assert!(matches!(
            receive_reply(&mut reader).unwrap(),
            Reply::Failed { offset: 2, .. }
        ));
        assert!(receive_reply(&mut reader).is_err(), "end of stream");
    }

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

    #[test]
    fn large_arrays_cross_as_descriptors_and_small_ones_as_bytes() {
        use parmemo_shared::Shared;
        let large: Shared<[f64]> = Shared::from_fn(1 << 16, |i| i as f64);
        let small: Shared<[u8]> = Shared::from(vec![1, 2, 3]);
        let (bytes, attached) =
            parmemo_shared::attach::collect(|| encode(&(&large, &small)).unwrap());
        let (writer, reader) = UnixStream::pair().unwrap();
        let reply = Reply::Done(Payload { bytes, attached });
        let sending = std::thread::spawn(move || send_reply(&mut &writer, &reply).map(|()| writer));
        let received = receive_reply(&mut &reader).unwrap();
        let _writer = sending.join().unwrap().unwrap();
        let Reply::Done(results) = received else {
            panic!("expected results")
        };
        assert!(
            results.attached[0].file().is_some(),
            "mapped from its descriptor"
        );
        assert!(
            results.attached[1].file().is_some(),
            "copied into memory of its own"
        );
        let (large_back, small_back): (Shared<[f64]>, Shared<[u8]>) =
            parmemo_shared::attach::provide(results.attached.clone(), || decode(&results.bytes))
                .unwrap();
        assert_eq!(large_back, large);
        assert_eq!(small_back, small);
        assert_ne!(
            large_back.as_ptr(),
            large.as_ptr(),
            "a second mapping of the same memory"
        );
    }

    #[test]
    fn an_oversized_length_is_an_error_not_an_allocation() {
        let (writer, reader) = UnixStream::pair().unwrap();
        (&writer).write_all(&(1_u64 << 50).to_le_bytes()).unwrap();
        let err = receive_reply(&mut &reader).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("more than"), "{err}");
        // A payload as long as allowed, claimed but never sent: an end of stream, after
        // reserving only what arrives.
        let (writer, reader) = UnixStream::pair().unwrap();
        let done = ReplyHeader::Done {
            carried: Vec::new(),
        };
        write_part(&mut &writer, &encode(&done).unwrap()).unwrap();
        (&writer).write_all(&MAX_PAYLOAD.to_le_bytes()).unwrap();
        (&writer).write_all(&[7; 100]).unwrap();
        drop(writer);
        let err = receive_reply(&mut &reader).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
