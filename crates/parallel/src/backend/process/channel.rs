//! The worker wire on a Unix socket: frames of a header (whose length carries the file
//! descriptors of the arrays that travel as memory), a payload, and the arrays that
//! travel as bytes. Only the process backend talks over a socket; the message format
//! itself is `remote::wire`'s, shared with MPI.
//!
//! Lengths are bounded and never trusted for an allocation: a peer that claims 2^50
//! bytes gets an error, and memory grows only with the bytes that really arrive.

use crate::backend::remote::wire::{
    decode, encode, reply_header, reply_of, request_of, Carried, Payload, Reply, ReplyHeader,
    Request, RunHeader, MAX_HEADER, MAX_PAYLOAD,
};
use parmemo_shared::attach::Attachment;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Attachments smaller than this travel as bytes: a descriptor and a mapping cost more
/// than copying them.
const INLINE_BELOW: usize = 64 << 10;

/// At most this many descriptors go with one frame (the kernel's limit is 253).
const MAX_DESCRIPTORS: usize = 250;

/// How much of a claimed length is reserved before its bytes arrive.
const RESERVE_AHEAD: usize = 1 << 28;

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

/// Asks a worker running a batch sent with `each` to give back the tasks it has not
/// started: a frame with an empty header (no request's header is empty), and nothing
/// else.
pub(crate) fn send_yield(stream: &mut impl Channel) -> io::Result<()> {
    stream.write_with(&0_u64.to_le_bytes(), &[])?;
    stream.flush()
}

/// Reads the next frame, which must be what [`send_yield`] sends (while a batch runs,
/// the parent sends nothing else).
pub(crate) fn receive_yield(stream: &mut impl Channel) -> io::Result<()> {
    let (header, _) = receive_header(stream)?;
    if header.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other(
            "the parent sent a request while a batch ran",
        ))
    }
}

/// Reads a request; `UnexpectedEof` when the parent is gone. A request to give back
/// tasks that arrives after its batch ended is skipped: there is nothing to give.
pub(crate) fn receive_request(stream: &mut impl Channel) -> io::Result<Request> {
    let (header, descriptors) = loop {
        let (header, descriptors) = receive_header(stream)?;
        if !header.is_empty() {
            break (header, descriptors);
        }
    };
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
    use crate::backend::remote::objects::Located;
    use crate::backend::remote::wire::{Payload, Reply, Request};
    use crate::backend::remote::Offsets;
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
