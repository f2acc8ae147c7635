//! The one place that turns results into bytes and back, and frames them as entries.
//!
//! Results are encoded with bincode 2.0.1 through its serde support (bincode 3.0.0 is a
//! deliberate compile error upstream); swapping the codec means changing this file and
//! [`CODEC_VERSION`], which is part of every key and every entry header.
//!
//! An entry is `MAGIC` (4 bytes), the codec version (u16), two reserved bytes, the payload
//! length (u64) and the XXH3-64 of the payload (u64), all little-endian, then the payload.

use crate::MemoryError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use twox_hash::XxHash3_64;

/// The version of the entry format and payload encoding; bump it when either changes.
pub const CODEC_VERSION: u16 = 1;

const MAGIC: &[u8; 4] = b"PMC\x01";
const HEADER: usize = 24;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// A result encoded and framed as a stored entry.
pub(crate) fn encode_entry<R: Serialize + ?Sized>(result: &R) -> Result<Vec<u8>, MemoryError> {
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
    entry.extend_from_slice(&payload);
    Ok(entry)
}

/// Why a stored entry could not be used, for the warning that names it.
pub(crate) fn decode_entry<R: DeserializeOwned>(entry: &[u8]) -> Result<R, String> {
    let payload = checked_payload(entry)?;
    let (result, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|err| format!("undecodable payload: {err}"))?;
    if used == payload.len() {
        Ok(result)
    } else {
        Err(format!(
            "{} trailing bytes after the result",
            payload.len() - used
        ))
    }
}

/// The payload of a well-formed entry whose checksum matches.
pub(crate) fn checked_payload(entry: &[u8]) -> Result<&[u8], String> {
    let Some((header, payload)) = entry.split_first_chunk::<HEADER>() else {
        return Err(format!("{} bytes, shorter than the header", entry.len()));
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
    let mut word = [0; 8];
    word.copy_from_slice(&header[8..16]);
    let length = u64::from_le_bytes(word);
    word.copy_from_slice(&header[16..24]);
    let checksum = u64::from_le_bytes(word);
    if length != payload.len() as u64 {
        return Err(format!(
            "payload of {} bytes, header says {length} (truncated?)",
            payload.len()
        ));
    }
    if XxHash3_64::oneshot(payload) != checksum {
        return Err("checksum mismatch".to_owned());
    }
    Ok(payload)
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
        let entry = encode_entry(&value).unwrap();
        let back: (Vec<f64>, String, Option<u8>) = decode_entry(&entry).unwrap();
        assert_eq!(back.0[1].to_bits(), (-0.0_f64).to_bits());
        assert_eq!((back.1, back.2), (value.1, value.2));
    }

    #[test]
    fn every_kind_of_damage_is_detected() {
        let entry = encode_entry(&vec![42_u64; 100]).unwrap();
        let mut flipped = entry.clone();
        flipped[HEADER + 10] ^= 0x40;
        assert_eq!(
            decode_entry::<Vec<u64>>(&flipped),
            Err("checksum mismatch".into())
        );
        assert!(decode_entry::<Vec<u64>>(&entry[..entry.len() - 3])
            .unwrap_err()
            .contains("truncated"));
        assert!(decode_entry::<Vec<u64>>(&entry[..10])
            .unwrap_err()
            .contains("shorter than the header"));
        let mut bad_magic = entry.clone();
        bad_magic[0] = b'X';
        assert!(decode_entry::<Vec<u64>>(&bad_magic)
            .unwrap_err()
            .contains("magic"));
        let mut other_version = entry.clone();
        other_version[4] = 99;
        assert!(decode_entry::<Vec<u64>>(&other_version)
            .unwrap_err()
            .contains("codec version 99"));
        assert!(
            decode_entry::<(Vec<u64>, String)>(&entry).is_err(),
            "a payload of another type"
        );
    }
}
