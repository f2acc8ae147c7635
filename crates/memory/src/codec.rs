//! The one place that turns results into bytes and back, and frames them as entries.
//!
//! Results are encoded with bincode 2.0.1 through its serde support (bincode 3.0.0 is a
//! deliberate compile error upstream); swapping the codec means changing this file and
//! [`CODEC_VERSION`], which is part of every key and every entry header.
//!
//! An entry is `MAGIC` (4 bytes), the codec version (u16), two reserved bytes, the payload
//! length (u64), the XXH3-64 of the payload (u64) and the fingerprint of the result's
//! type (u64, see `shape.rs`), all little-endian, then the payload. The header alone says
//! whether an entry is there, whole and of the right type, without reading the payload.

use crate::MemoryError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use twox_hash::XxHash3_64;

/// The version of the entry format, payload encoding and key scheme; bump it when any
/// changes. Version 2: the header carries the result type's fingerprint, and maps and
/// unordered sets hash by content.
pub const CODEC_VERSION: u16 = 2;

const MAGIC: &[u8; 4] = b"PMC\x01";

/// The length of an entry's header.
pub(crate) const HEADER: usize = 32;

/// Why a stored entry cannot answer a call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// It holds a result of another type: the function's result type changed since.
    OtherType,
    /// It is damaged, or was written by an incompatible version.
    Damaged(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::OtherType => f.write_str("it holds a result of another type"),
            Unusable::Damaged(reason) => f.write_str(reason),
        }
    }
}

/// What an entry's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) length: u64,
    checksum: u64,
    pub(crate) result_type: u64,
}

impl Header {
    /// The header at the start of `bytes` (at least [`HEADER`] of them).
    pub(crate) fn read(bytes: &[u8]) -> Result<Header, String> {
        let Some(header) = bytes.first_chunk::<HEADER>() else {
            return Err(format!("{} bytes, shorter than the header", bytes.len()));
        };
        if &header[..4] != MAGIC {
            return Err("not a parmemo entry (bad magic)".to_owned());
        }
        let version = u16::from_le_bytes([header[4], header[5]]);
        if version != CODEC_VERSION {
            return Err(format!(
                "codec version {version}, this build reads {CODEC_VERSION}"
            ));
        }
        let word = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(word)
        };
        Ok(Header {
            length: word(8),
            checksum: word(16),
            result_type: word(24),
        })
    }

    /// Whether an entry of `total` bytes with this header would answer a call expecting
    /// `result_type`: the header's own claims, without reading the payload.
    pub(crate) fn answers(&self, total: u64, result_type: Option<u64>) -> bool {
        total == HEADER as u64 + self.length
            && result_type.is_none_or(|expected| expected == self.result_type)
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// A result encoded and framed as a stored entry; `result_type` is its type's fingerprint.
pub(crate) fn encode_entry<R: Serialize + ?Sized>(
    result: &R,
    result_type: u64,
) -> Result<Vec<u8>, MemoryError> {
    let payload =
        bincode::serde::encode_to_vec(result, config()).map_err(|err| MemoryError::Encode {
            what: "result",
            message: err.to_string(),
        })?;
    let mut entry = Vec::with_capacity(HEADER + payload.len());
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(&CODEC_VERSION.to_le_bytes());
    entry.extend_from_slice(&[0, 0]);
    entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    entry.extend_from_slice(&XxHash3_64::oneshot(&payload).to_le_bytes());
    entry.extend_from_slice(&result_type.to_le_bytes());
    entry.extend_from_slice(&payload);
    Ok(entry)
}

/// The result in `entry`, if it is whole and of the type whose fingerprint is
/// `result_type`; else why not, for the warning that names it.
pub(crate) fn decode_entry<R: DeserializeOwned>(
    entry: &[u8],
    result_type: u64,
) -> Result<R, Unusable> {
    let (header, payload) = checked_payload(entry).map_err(Unusable::Damaged)?;
    if header.result_type != result_type {
        return Err(Unusable::OtherType);
    }
    let (result, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|err| Unusable::Damaged(format!("undecodable payload: {err}")))?;
    if used == payload.len() {
        Ok(result)
    } else {
        Err(Unusable::Damaged(format!(
            "{} trailing bytes after the result",
            payload.len() - used
        )))
    }
}

/// The header and payload of a well-formed entry whose checksum matches.
pub(crate) fn checked_payload(entry: &[u8]) -> Result<(Header, &[u8]), String> {
    let header = Header::read(entry)?;
    let payload = &entry[HEADER..];
    if header.length != payload.len() as u64 {
        return Err(format!(
            "payload of {} bytes, header says {} (truncated?)",
            payload.len(),
            header.length
        ));
    }
    if XxHash3_64::oneshot(payload) != header.checksum {
        return Err("checksum mismatch".to_owned());
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip() {
        let value = (
            vec![1.5_f64, -0.0, f64::INFINITY],
            "text".to_owned(),
            Some(7_u8),
        );
        let entry = encode_entry(&value, 7).unwrap();
        let back: (Vec<f64>, String, Option<u8>) = decode_entry(&entry, 7).unwrap();
        assert_eq!(back.0[1].to_bits(), (-0.0_f64).to_bits());
        assert_eq!((back.1, back.2), (value.1, value.2));
    }

    #[test]
    fn every_kind_of_damage_is_detected() {
        let entry = encode_entry(&vec![42_u64; 100], 7).unwrap();
        let reason = |bytes: &[u8]| match decode_entry::<Vec<u64>>(bytes, 7) {
            Err(Unusable::Damaged(reason)) => reason,
            other => panic!("expected damage, got {other:?}"),
        };
        let mut flipped = entry.clone();
        flipped[HEADER + 10] ^= 0x40;
        assert_eq!(reason(&flipped), "checksum mismatch");
        assert!(reason(&entry[..entry.len() - 3]).contains("truncated"));
        assert!(reason(&entry[..10]).contains("shorter than the header"));
        let mut bad_magic = entry.clone();
        bad_magic[0] = b'X';
        assert!(reason(&bad_magic).contains("magic"));
        let mut other_version = entry.clone();
        other_version[4] = 99;
        assert!(reason(&other_version).contains("codec version 99"));
        assert!(
            decode_entry::<(Vec<u64>, String)>(&entry, 7).is_err(),
            "a payload of another shape"
        );
        assert_eq!(
            decode_entry::<Vec<u64>>(&entry, 8),
            Err(Unusable::OtherType),
            "a result of another type is never decoded"
        );
        let header = Header::read(&entry).unwrap();
        assert!(header.answers(entry.len() as u64, Some(7)));
        assert!(!header.answers(entry.len() as u64, Some(8)));
        assert!(!header.answers(entry.len() as u64 - 1, None));
    }
}
