//! The one place that turns results into bytes and back, and frames them as entries.
//!
//! Results are encoded with bincode 2.0.1 through its serde support (bincode 3.0.0 is a
//! deliberate compile error upstream); swapping the codec means changing this file and
//! [`CODEC_VERSION`], which is part of every key and every entry header.
//!
//! An entry is `MAGIC` (4 bytes), the codec version (u16), a flags byte (bit 0: the
//! payload is zstd-compressed), a reserved byte, the payload length (u64), the XXH3-64 of
//! the payload (u64), the fingerprint of the result's type (u64, see `shape.rs`), when it
//! was stored and how long it took to compute (u64 nanoseconds each), all little-endian,
//! then the payload. The header alone says whether an entry is there, whole, of the right
//! type and still valid, without reading the payload.

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
pub(crate) const HEADER: usize = 48;

const COMPRESSED: u8 = 1;

/// Payloads smaller than this are never compressed: too little to gain.
const COMPRESS_ABOVE: usize = 4096;

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
    flags: u8,
    pub(crate) length: u64,
    checksum: u64,
    pub(crate) result_type: u64,
    stored_at: u64,
    compute_time: u64,
}

/// When a stored result was computed and how long it took: what an expiry or a
/// validation callback decides on (joblib's `cache_validation_callback` metadata).
///
/// ```
/// use parmemo_memory::EntryMeta;
/// use std::time::Duration;
/// // joblib's example: keep only results that took more than 0.1 s to compute.
/// fn worth_keeping(meta: &EntryMeta) -> bool {
///     meta.compute_time > Duration::from_millis(100)
/// }
/// # let _ = worth_keeping;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// When the result was stored.
    pub stored_at: std::time::SystemTime,
    /// How long computing it took.
    pub compute_time: std::time::Duration,
}

impl EntryMeta {
    fn nanos_since_epoch(&self) -> u64 {
        self.stored_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            })
    }
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
            flags: header[6],
            length: word(8),
            checksum: word(16),
            result_type: word(24),
            stored_at: word(32),
            compute_time: word(40),
        })
    }

    /// When the result was stored and how long it took to compute.
    pub(crate) fn meta(&self) -> EntryMeta {
        EntryMeta {
            stored_at: std::time::UNIX_EPOCH + std::time::Duration::from_nanos(self.stored_at),
            compute_time: std::time::Duration::from_nanos(self.compute_time),
        }
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

/// How a result is framed: its type's fingerprint, when and how long it was computed,
/// and the zstd level to compress a large payload with, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    pub(crate) result_type: u64,
    pub(crate) meta: EntryMeta,
    pub(crate) compress: Option<i32>,
}

impl Framing {
    /// A result of the type `result_type` stored now, computed in no time (a result
    /// kept in memory, not from a timed computation).
    pub(crate) fn now(result_type: u64) -> Framing {
        Framing {
            result_type,
            meta: EntryMeta {
                stored_at: std::time::SystemTime::now(),
                compute_time: std::time::Duration::ZERO,
            },
            compress: None,
        }
    }
}

/// A result encoded and framed as a stored entry.
pub(crate) fn encode_entry<R: Serialize + ?Sized>(
    result: &R,
    framing: Framing,
) -> Result<Vec<u8>, MemoryError> {
    let encoded =
        bincode::serde::encode_to_vec(result, config()).map_err(|err| MemoryError::Encode {
            what: "result",
            message: err.to_string(),
        })?;
    let (flags, payload) = match framing.compress {
        Some(level) if encoded.len() > COMPRESS_ABOVE => {
            let compressed =
                zstd::bulk::compress(&encoded, level).map_err(|err| MemoryError::Encode {
                    what: "result",
                    message: format!("zstd: {err}"),
                })?;
            // Incompressible data stays as it is.
            if compressed.len() < encoded.len() {
                (COMPRESSED, compressed)
            } else {
                (0, encoded)
            }
        }
        _ => (0, encoded),
    };
    let compute_time = u64::try_from(framing.meta.compute_time.as_nanos()).unwrap_or(u64::MAX);
    let mut entry = Vec::with_capacity(HEADER + payload.len());
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(&CODEC_VERSION.to_le_bytes());
    entry.extend_from_slice(&[flags, 0]);
    entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    entry.extend_from_slice(&XxHash3_64::oneshot(&payload).to_le_bytes());
    entry.extend_from_slice(&framing.result_type.to_le_bytes());
    entry.extend_from_slice(&framing.meta.nanos_since_epoch().to_le_bytes());
    entry.extend_from_slice(&compute_time.to_le_bytes());
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
    let decompressed;
    let payload = if header.flags & COMPRESSED == 0 {
        payload
    } else {
        decompressed = zstd::stream::decode_all(payload)
            .map_err(|err| Unusable::Damaged(format!("undecompressable payload: {err}")))?;
        &decompressed[..]
    };
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
        let entry = encode_entry(&value, Framing::now(7)).unwrap();
        let back: (Vec<f64>, String, Option<u8>) = decode_entry(&entry, 7).unwrap();
        assert_eq!(back.0[1].to_bits(), (-0.0_f64).to_bits());
        assert_eq!((back.1, back.2), (value.1, value.2));
    }

    #[test]
    fn every_kind_of_damage_is_detected() {
        let entry = encode_entry(&vec![42_u64; 100], Framing::now(7)).unwrap();
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

    #[test]
    fn large_payloads_compress_and_round_trip_with_their_metadata() {
        let value: Vec<u32> = (0..100_000).map(|i| i % 7).collect();
        let meta = EntryMeta {
            stored_at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            compute_time: std::time::Duration::from_millis(1234),
        };
        let framing = Framing {
            result_type: 3,
            meta,
            compress: Some(3),
        };
        let compressed = encode_entry(&value, framing).unwrap();
        let plain = encode_entry(
            &value,
            Framing {
                compress: None,
                ..framing
            },
        )
        .unwrap();
        assert!(
            compressed.len() * 10 < plain.len(),
            "{} vs {}",
            compressed.len(),
            plain.len()
        );
        for entry in [&compressed, &plain] {
            assert_eq!(decode_entry::<Vec<u32>>(entry, 3).unwrap(), value);
            assert_eq!(Header::read(entry).unwrap().meta(), meta);
        }
        // Small payloads are left alone.
        let small = encode_entry(&7_u8, framing).unwrap();
        assert_eq!(Header::read(&small).unwrap().flags, 0);
    }
}
