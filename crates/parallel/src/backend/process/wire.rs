//! What parent and child say to each other: length-prefixed bincode frames on a Unix
//! socket (the child's stdout and stderr stay free for its own output).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Parent to child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Run a batch: `trampoline` and `function` are code offsets from the anchor (see
    /// `function.rs`); `arguments` is the bincode of the batch's `Vec<A>`.
    Run {
        trampoline: usize,
        function: usize,
        arguments: Vec<u8>,
    },
}

/// Child to parent.
#[derive(Debug, Serialize, Deserialize)]
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

/// Writes one frame: the payload's length (u64, little-endian), then the payload.
pub(crate) fn send<T: Serialize>(stream: &mut impl Write, message: &T) -> io::Result<()> {
    let payload = encode(message).map_err(io::Error::other)?;
    stream.write_all(&(payload.len() as u64).to_le_bytes())?;
    stream.write_all(&payload)?;
    stream.flush()
}

/// Reads one frame; `UnexpectedEof` when the other side is gone.
pub(crate) fn receive<T: DeserializeOwned>(stream: &mut impl Read) -> io::Result<T> {
    let mut length = [0; 8];
    stream.read_exact(&mut length)?;
    let length = usize::try_from(u64::from_le_bytes(length)).map_err(io::Error::other)?;
    let mut payload = vec![0; length];
    stream.read_exact(&mut payload)?;
    decode(&payload).map_err(io::Error::other)
}
