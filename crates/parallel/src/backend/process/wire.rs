//! What parent and child say to each other on a Unix socket (the child's stdout and
//! stderr stay free for its own output). A message is a small bincode header and a
//! payload of raw bytes, each length-prefixed: the payload (a batch's encoded arguments
//! or results) is never encoded a second time, which would cost a call per byte.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Parent to child.
#[derive(Debug)]
pub(crate) enum Request {
    /// Run a batch: `trampoline` and `function` are code offsets from the anchor (see
    /// `function.rs`); `arguments` is the bincode of the batch's `Vec<A>`.
    Run {
        trampoline: usize,
        function: usize,
        arguments: Vec<u8>,
    },
}

/// The header of a request, without its payload.
#[derive(Serialize, Deserialize)]
struct RunHeader {
    trampoline: usize,
    function: usize,
}

/// Child to parent.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The child is up (sent once, first).
    Hello { pid: u32 },
    /// Every task of the batch ran: the bincode of its `Vec<R>`.
    Done(Vec<u8>),
    /// Task `offset` of the batch panicked or returned an error.
    Failed { offset: usize, message: String },
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
    Hello { pid: u32 },
    Done,
    Failed { offset: usize, message: String },
}

fn write_part(stream: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(&(bytes.len() as u64).to_le_bytes())?;
    stream.write_all(bytes)
}

fn read_part(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut length = [0; 8];
    stream.read_exact(&mut length)?;
    let length = usize::try_from(u64::from_le_bytes(length)).map_err(io::Error::other)?;
    let mut bytes = vec![0; length];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The encoded header of a request to run a batch; the arguments travel beside it as
/// the payload. Also the MPI backend's message format.
pub(crate) fn request_header(trampoline: usize, function: usize) -> Result<Vec<u8>, String> {
    encode(&RunHeader {
        trampoline,
        function,
    })
}

/// The request made of a header and its payload.
pub(crate) fn request_from_parts(header: &[u8], arguments: Vec<u8>) -> io::Result<Request> {
    let RunHeader {
        trampoline,
        function,
    } = decode(header).map_err(io::Error::other)?;
    Ok(Request::Run {
        trampoline,
        function,
        arguments,
    })
}

/// A reply as its encoded header and its payload (empty but for `Done`).
pub(crate) fn reply_parts(reply: &Reply) -> io::Result<(Vec<u8>, &[u8])> {
    let (header, payload) = match reply {
        Reply::Hello { pid } => (ReplyHeader::Hello { pid: *pid }, &[][..]),
        Reply::Done(results) => (ReplyHeader::Done, &results[..]),
        Reply::Failed { offset, message } => (
            ReplyHeader::Failed {
                offset: *offset,
                message: message.clone(),
            },
            &[][..],
        ),
    };
    Ok((encode(&header).map_err(io::Error::other)?, payload))
}

/// The reply made of a header and its payload.
pub(crate) fn reply_from_parts(header: &[u8], payload: Vec<u8>) -> io::Result<Reply> {
    Ok(match decode(header).map_err(io::Error::other)? {
        ReplyHeader::Hello { pid } => Reply::Hello { pid },
        ReplyHeader::Done => Reply::Done(payload),
        ReplyHeader::Failed { offset, message } => Reply::Failed { offset, message },
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
        trampoline,
        function,
        arguments,
    } = request;
    let header = request_header(*trampoline, *function).map_err(io::Error::other)?;
    send_parts(stream, &header, arguments)
}

/// Reads a request; `UnexpectedEof` when the parent is gone.
pub(crate) fn receive_request(stream: &mut impl Read) -> io::Result<Request> {
    let header = read_part(stream)?;
    request_from_parts(&header, read_part(stream)?)
}

/// Sends a reply; the results of a finished batch go as a raw payload.
pub(crate) fn send_reply(stream: &mut impl Write, reply: &Reply) -> io::Result<()> {
    let (header, payload) = reply_parts(reply)?;
    send_parts(stream, &header, payload)
}

/// Reads a reply; `UnexpectedEof` when the worker is gone.
pub(crate) fn receive_reply(stream: &mut impl Read) -> io::Result<Reply> {
    let header = read_part(stream)?;
    reply_from_parts(&header, read_part(stream)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let mut wire = Vec::new();
        let request = Request::Run {
            trampoline: 7,
            function: usize::MAX - 3,
            arguments: vec![1, 2, 3],
        };
        send_request(&mut wire, &request).unwrap();
        send_reply(&mut wire, &Reply::Done(vec![9; 5])).unwrap();
        send_reply(
            &mut wire,
            &Reply::Failed {
                offset: 2,
                message: "no".into(),
            },
        )
        .unwrap();
        let mut reader = wire.as_slice();
        let Request::Run {
            trampoline,
            function,
            arguments,
        } = receive_request(&mut reader).unwrap();
        assert_eq!(
            (trampoline, function, arguments),
            (7, usize::MAX - 3, vec![1, 2, 3])
        );
        assert!(matches!(receive_reply(&mut reader).unwrap(), Reply::Done(p) if p == vec![9; 5]));
        assert!(matches!(
            receive_reply(&mut reader).unwrap(),
            Reply::Failed { offset: 2, .. }
        ));
        assert!(receive_reply(&mut reader).is_err(), "end of stream");
    }
}
