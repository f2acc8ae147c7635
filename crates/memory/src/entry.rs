//! The entry format: how a result becomes the bytes of a stored entry, and back.
//!
//! Results are encoded with `parmemo_shared::codec` (postcard 1 through serde, since
//! version 5; bincode before, which is no longer maintained); swapping the codec means
//! bumping [`CODEC_VERSION`], which is part of every key and every entry header, so that
//! an older entry is a miss and never decoded by a new codec.
//!
//! An entry is `MAGIC` (4 bytes), the codec version (u16), a flags byte (bit 0: the
//! payload is zstd-compressed), a reserved byte, the payload length (u64), the XXH3-64 of
//! the payload (u64), the fingerprint of the result's type (u64, see `shape.rs`), when it
//! was stored and how long it took to compute (u64 nanoseconds each), all little-endian,
//! then the payload. The header alone says whether an entry is there, whole, of the right
//! type and still valid, without reading the payload.
//!
//! A result holding `Shared` arrays (flag bit 1) stores them raw after the payload, each
//! at a page-aligned offset in an entry large enough to be mapped (1 MiB; 64-byte
//! aligned in a smaller one, which is always read: a 100-byte vector takes 200 bytes of
//! disk and of a size limit, not 4 KiB), behind a table of their offsets, lengths and XXH3-64
//! checksums (itself checksummed). A mapped hit hands them out as slices of the mapped
//! file, without a copy: what is verified then is the header, the payload and the table
//! (at once) and that every array lies inside the file (so none can fault); an array's
//! own checksum is verified when the entry is read rather than mapped, or on a mapped hit
//! when `Memory::verify_mapped_arrays(true)` asks for it.
//!
//! A result that is itself a plain vector of numbers (`Vec<f64>`, `Vec<u32>`...; flag
//! bit 2) is stored the same way, as the entry's one array, with the element type's name
//! as its payload: written from the vector's own memory, read back from the file straight
//! into a new vector (`pread`, no mapping to fault in page by page), and always checked
//! against its checksum, since it is copied anyway.

use crate::store::{Entry, MAPPED_FROM};
use crate::verify::Unchecked;
use crate::MemoryError;
use parmemo_shared::attach::{self, Attachment};
use parmemo_shared::{codec, plain};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::hash::Hasher;
use std::sync::Arc;
use twox_hash::XxHash3_64;

/// The version of the entry format, payload encoding and key scheme; bump it when any
/// changes. Version 2: the header carries the result type's fingerprint, and maps and
/// unordered sets hash by content. Version 3: `Shared` arrays stored raw after the payload.
/// Version 4: a plain vector of numbers stored raw as well. Version 5: postcard payloads
/// (bincode before).
pub const CODEC_VERSION: u16 = 5;

const MAGIC: &[u8; 4] = b"PMC\x01";

/// The length of an entry's header.
pub(crate) const HEADER: usize = 48;

const COMPRESSED: u8 = 1;

/// The entry holds raw arrays after its payload.
const ARRAYS: u8 = 2;

/// The result is a plain vector, stored as the one array (and `ARRAYS` is set too).
const PLAIN_VECTOR: u8 = 4;

/// The alignment of a stored array in an entry that may be mapped: a page, so that a
/// mapped entry hands out arrays aligned for any element and a worker process can map
/// them from the file.
const ARRAY_ALIGN: usize = 4096;

/// Where within its page the one array of a plain-vector entry that may be mapped
/// starts: such an array is never mapped, only read into a new vector, which glibc's
/// allocator places 16 bytes into a page (and others on a page). At 16, the kernel's copy
/// into the vector keeps a distance at which it runs at full speed with either (0, or
/// 4080 bytes); from a page start it ran at a third of that into glibc's vectors
/// (`parmemo_shared::copy`). Entries written before keep their page-aligned array and
/// are read through a buffer instead.
const PLAIN_VECTOR_PLACE: usize = 16;

/// The alignment of a stored array in an entry too small to be mapped: arrays are copied
/// out of it, so only the element's own alignment could matter, and 64 covers any.
const SMALL_ARRAY_ALIGN: usize = 64;

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
        let framed = HEADER as u64 + self.length;
        let whole = if self.flags & ARRAYS == 0 {
            total == framed
        } else {
            total > framed
        };
        whole && result_type.is_none_or(|expected| expected == self.result_type)
    }
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

/// A result encoded and framed as a stored entry: its leading bytes (header, payload,
/// array table) and the arrays that follow them, each written where `placement` puts it.
pub(crate) struct Framed<'a> {
    pub(crate) head: Vec<u8>,
    pub(crate) arrays: Vec<ArrayBytes<'a>>,
    placement: Placement,
}

/// Where the arrays of an entry go: at offsets `place` bytes past a multiple of `align`.
#[derive(Clone, Copy)]
struct Placement {
    align: usize,
    place: usize,
}

impl Placement {
    /// The first offset at or after `at` where an array may start.
    fn next(self, at: usize) -> usize {
        at.saturating_sub(self.place).next_multiple_of(self.align) + self.place
    }
}

/// The bytes of an array to store: a `Shared` array's memory, or a plain vector result's.
pub(crate) enum ArrayBytes<'a> {
    Attached(Attachment),
    Borrowed(&'a [u8]),
}

impl ArrayBytes<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            ArrayBytes::Attached(attachment) => attachment.bytes(),
            ArrayBytes::Borrowed(bytes) => bytes,
        }
    }
}

impl Framed<'_> {
    /// The entry's parts in order, padding included: what a store writes one after the
    /// other.
    pub(crate) fn parts(&self) -> Vec<&[u8]> {
        const ZEROS: [u8; ARRAY_ALIGN] = [0; ARRAY_ALIGN];
        let mut parts = vec![&self.head[..]];
        let mut at = self.head.len();
        for array in &self.arrays {
            let pad = self.placement.next(at) - at;
            parts.push(&ZEROS[..pad]);
            parts.push(array.bytes());
            at += pad + array.bytes().len();
        }
        parts
    }

    /// The whole entry in one buffer (for entries kept in memory, and tests).
    pub(crate) fn concatenated(&self) -> Vec<u8> {
        self.parts().concat()
    }
}

/// A result encoded and framed as a stored entry.
pub(crate) fn encode_entry<R: Serialize + 'static>(
    result: &R,
    framing: Framing,
) -> Result<Framed<'_>, MemoryError> {
    // A compressed cache trades speed for space: its vectors are encoded and compressed.
    let raw = framing
        .compress
        .is_none()
        .then(|| plain::bytes_of(result))
        .flatten();
    let (encoded, arrays, plain_flag) = if let Some((element, bytes)) = raw {
        (
            codec::encode(element),
            vec![ArrayBytes::Borrowed(bytes)],
            PLAIN_VECTOR,
        )
    } else {
        let (encoded, attached) = attach::collect(|| codec::encode(result));
        let arrays = attached.into_iter().map(ArrayBytes::Attached).collect();
        (encoded, arrays, 0)
    };
    let encoded = encoded.map_err(|err| MemoryError::Encode {
        what: "result",
        message: err.to_string(),
    })?;
    let (mut flags, payload) = match framing.compress {
        Some(level) if encoded.len() > COMPRESS_ABOVE => {
            let compressed = crate::compression::compress(&encoded, level).map_err(|message| {
                MemoryError::Encode {
                    what: "result",
                    message,
                }
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
    if !arrays.is_empty() {
        flags |= ARRAYS | plain_flag;
    }
    let compute_time = u64::try_from(framing.meta.compute_time.as_nanos()).unwrap_or(u64::MAX);
    let table_len = if arrays.is_empty() {
        0
    } else {
        16 + 24 * arrays.len()
    };
    let mut head = Vec::with_capacity(HEADER + payload.len() + table_len);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&CODEC_VERSION.to_le_bytes());
    head.extend_from_slice(&[flags, 0]);
    head.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    head.extend_from_slice(&XxHash3_64::oneshot(&payload).to_le_bytes());
    head.extend_from_slice(&framing.result_type.to_le_bytes());
    head.extend_from_slice(&framing.meta.nanos_since_epoch().to_le_bytes());
    head.extend_from_slice(&compute_time.to_le_bytes());
    head.extend_from_slice(&payload);
    // Page alignment only where a store may map the entry: at its page-aligned size.
    let paged = arrays.iter().fold(head.len() + table_len, |at, array| {
        at.next_multiple_of(ARRAY_ALIGN) + array.bytes().len()
    });
    let placement = match (paged as u64 >= MAPPED_FROM, plain_flag == PLAIN_VECTOR) {
        (true, true) => Placement {
            align: ARRAY_ALIGN,
            place: PLAIN_VECTOR_PLACE,
        },
        (true, false) => Placement {
            align: ARRAY_ALIGN,
            place: 0,
        },
        (false, _) => Placement {
            align: SMALL_ARRAY_ALIGN,
            place: 0,
        },
    };
    if !arrays.is_empty() {
        let mut table = Vec::with_capacity(table_len);
        table.extend_from_slice(&(arrays.len() as u64).to_le_bytes());
        let mut at = head.len() + table_len;
        for array in &arrays {
            at = placement.next(at);
            let bytes = array.bytes();
            table.extend_from_slice(&(at as u64).to_le_bytes());
            table.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            table.extend_from_slice(&XxHash3_64::oneshot(bytes).to_le_bytes());
            at += bytes.len();
        }
        let checksum = XxHash3_64::oneshot(&table);
        head.extend_from_slice(&table);
        head.extend_from_slice(&checksum.to_le_bytes());
    }
    Ok(Framed {
        head,
        arrays,
        placement,
    })
}

/// Where a stored array lies in its entry, and its checksum.
struct StoredArray {
    offset: usize,
    len: usize,
    checksum: u64,
}

/// The array table after the payload of `entry`, checked against its checksum and
/// against the entry's size.
fn array_table(entry: &[u8], header: &Header) -> Result<Vec<StoredArray>, String> {
    let start = HEADER + usize::try_from(header.length).map_err(|err| err.to_string())?;
    let word = |at: usize| -> Result<u64, String> {
        entry
            .get(at..at + 8)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| "the array table is cut short (truncated?)".to_owned())
    };
    let count = usize::try_from(word(start)?).map_err(|err| err.to_string())?;
    // Every sum checked: the count is the file's word, and may be anything.
    let table_len = count
        .checked_mul(24)
        .and_then(|len| len.checked_add(8))
        .filter(|&len| {
            start
                .checked_add(len)
                .and_then(|end| end.checked_add(8))
                .is_some_and(|end| end <= entry.len())
        })
        .ok_or("the array table is cut short (truncated?)")?;
    let table = &entry[start..start + table_len];
    if XxHash3_64::oneshot(table) != word(start + table_len)? {
        return Err("array table checksum mismatch".to_owned());
    }
    (0..count)
        .map(|i| {
            let at = start + 8 + 24 * i;
            let offset = usize::try_from(word(at)?).map_err(|err| err.to_string())?;
            let len = usize::try_from(word(at + 8)?).map_err(|err| err.to_string())?;
            if offset.checked_add(len).is_none_or(|end| end > entry.len()) {
                return Err(format!(
                    "array {i} lies past the end of the entry (truncated?)"
                ));
            }
            Ok(StoredArray {
                offset,
                len,
                checksum: word(at + 16)?,
            })
        })
        .collect()
}

/// The result in `entry`, if it is whole and of the type whose fingerprint is
/// `result_type`; else why not, for the warning that names it. The arrays of a mapped
/// entry are slices of its mapping, their checksums verified here only with
/// `verify_mapped`; otherwise they come back [`Unchecked`], for a check right after.
pub(crate) fn decode_entry<R: DeserializeOwned + 'static>(
    entry: &Entry,
    result_type: u64,
    verify_mapped: bool,
) -> Result<(R, Option<Unchecked>), Unusable> {
    let bytes = entry.bytes();
    let (header, payload) = checked_payload(bytes).map_err(Unusable::Damaged)?;
    if header.result_type != result_type {
        return Err(Unusable::OtherType);
    }
    if header.flags & PLAIN_VECTOR != 0 {
        return plain_vector(entry, &header, payload).map(|value| (value, None));
    }
    let decompressed;
    let payload = if header.flags & COMPRESSED == 0 {
        payload
    } else {
        decompressed = crate::compression::decompress(payload).map_err(Unusable::Damaged)?;
        &decompressed[..]
    };
    let mut unchecked = None;
    let arrays = if header.flags & ARRAYS == 0 {
        Vec::new()
    } else {
        let table = array_table(bytes, &header).map_err(Unusable::Damaged)?;
        match entry {
            Entry::Mapped { file, .. } if !verify_mapped => {
                unchecked = Some(Unchecked {
                    file: Arc::clone(file),
                    arrays: table
                        .iter()
                        .map(|stored| (stored.offset, stored.len, stored.checksum))
                        .collect(),
                });
            }
            _ => {
                for (i, stored) in table.iter().enumerate() {
                    let range = stored.offset..stored.offset + stored.len;
                    if XxHash3_64::oneshot(&bytes[range]) != stored.checksum {
                        return Err(Unusable::Damaged(format!("array {i} checksum mismatch")));
                    }
                }
            }
        }
        table
            .into_iter()
            .enumerate()
            .map(|(i, stored)| {
                entry
                    .array(stored.offset, stored.len)
                    .map_err(|err| Unusable::Damaged(format!("array {i}: {err}")))
            })
            .collect::<Result<Vec<Attachment>, Unusable>>()?
    };
    let value = attach::provide(arrays, || codec::decode_whole(payload))
        .map_err(|err| Unusable::Damaged(format!("undecodable payload: {err}")))?;
    Ok((value, unchecked))
}

/// The plain vector an entry holds as its one array, read from the entry's file (or
/// copied from its bytes) into a new vector, and checked against its checksum.
fn plain_vector<R: 'static>(entry: &Entry, header: &Header, payload: &[u8]) -> Result<R, Unusable> {
    let damaged = Unusable::Damaged;
    let element: String = codec::decode_whole(payload)
        .map_err(|err| damaged(format!("undecodable element type: {err}")))?;
    if plain::element_of::<R>() != Some(element.as_str()) {
        return Err(Unusable::OtherType);
    }
    let table = array_table(entry.bytes(), header).map_err(damaged)?;
    let [stored] = &table[..] else {
        return Err(damaged(format!("{} arrays for one vector", table.len())));
    };
    let mut hasher = XxHash3_64::new();
    let value: R = plain::read_value(stored.len, |into| match entry {
        Entry::Mapped { file, .. } => {
            crate::read_into::read_hashed(file, stored.offset as u64, into, &mut hasher)
        }
        Entry::Owned(bytes) => {
            let from = &bytes[stored.offset..stored.offset + stored.len];
            hasher.write(from);
            // A large entry of a store that reads rather than maps (sled) lands here.
            parmemo_shared::copy::copy_bytes(into, from);
            Ok(())
        }
    })
    .map_err(damaged)?;
    if hasher.finish() != stored.checksum {
        return Err(damaged("vector checksum mismatch".to_owned()));
    }
    Ok(value)
}

/// The header and payload of a well-formed entry whose checksum matches.
pub(crate) fn checked_payload(entry: &[u8]) -> Result<(Header, &[u8]), String> {
    let header = Header::read(entry)?;
    let after = (entry.len() - HEADER) as u64;
    let fits = if header.flags & ARRAYS == 0 {
        header.length == after
    } else {
        header.length < after
    };
    if !fits {
        return Err(format!(
            "payload of {after} bytes, header says {} (truncated?)",
            header.length
        ));
    }
    let payload =
        &entry[HEADER..HEADER + usize::try_from(header.length).map_err(|err| err.to_string())?];
    if XxHash3_64::oneshot(payload) != header.checksum {
        return Err("checksum mismatch".to_owned());
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value `decode_entry` finds, without the arrays left for a later check.
    fn decoded<R: DeserializeOwned + 'static>(
        entry: &Entry,
        result_type: u64,
        verify_mapped: bool,
    ) -> Result<R, Unusable> {
        decode_entry(entry, result_type, verify_mapped).map(|(value, _)| value)
    }

    #[test]
    fn results_round_trip() {
        let value = (
            vec![1.5_f64, -0.0, f64::INFINITY],
            "text".to_owned(),
            Some(7_u8),
        );
        let entry = encode_entry(&value, Framing::now(7))
            .unwrap()
            .concatenated();
        let back: (Vec<f64>, String, Option<u8>) = decoded(&Entry::Owned(entry), 7, false).unwrap();
        assert_eq!(back.0[1].to_bits(), (-0.0_f64).to_bits());
        assert_eq!((back.1, back.2), (value.1, value.2));
    }

    #[test]
    fn arrays_are_page_aligned_only_in_entries_that_may_be_mapped() {
        let small = vec![0.5_f64; 12];
        let entry = encode_entry(&small, Framing::now(7)).unwrap();
        let bytes = entry.concatenated();
        assert!(
            bytes.len() < 300,
            "a 96-byte vector took {} bytes",
            bytes.len()
        );
        let back: Vec<f64> = decoded(&Entry::Owned(bytes), 7, false).unwrap();
        assert_eq!(back, small);

        let large = vec![0.25_f64; (1 << 20) / 8];
        let shared = parmemo_shared::Shared::<[f64]>::from_slice(&large);
        let entry = encode_entry(&shared, Framing::now(7)).unwrap();
        let bytes = entry.concatenated();
        let table = array_table(&bytes, &Header::read(&bytes).unwrap()).unwrap();
        assert_eq!(table[0].offset % ARRAY_ALIGN, 0, "a Shared array: mapped");
        // A plain vector's array is only ever read: placed for the copy into the
        // vector, 16 bytes into a page.
        let entry = encode_entry(&large, Framing::now(7)).unwrap();
        let bytes = entry.concatenated();
        let table = array_table(&bytes, &Header::read(&bytes).unwrap()).unwrap();
        assert_eq!(table[0].offset % ARRAY_ALIGN, PLAIN_VECTOR_PLACE);
        let back: Vec<f64> = decoded(&Entry::Owned(bytes), 7, false).unwrap();
        assert_eq!(back, large);
    }

    #[test]
    fn every_kind_of_damage_is_detected() {
        let entry = encode_entry(&vec![Some(42_u64); 100], Framing::now(7))
            .unwrap()
            .concatenated();
        let reason = |bytes: &[u8]| match decoded::<Vec<Option<u64>>>(
            &Entry::Owned(bytes.to_vec()),
            7,
            false,
        ) {
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
        // Version 4 was bincode: its entries are never handed to postcard.
        other_version[4] = 4;
        assert!(reason(&other_version).contains("codec version 4,"));
        assert!(
            decoded::<(Vec<u64>, String)>(&Entry::Owned(entry.clone()), 7, false).is_err(),
            "a payload of another shape"
        );
        assert_eq!(
            decoded::<Vec<Option<u64>>>(&Entry::Owned(entry.clone()), 8, false),
            Err(Unusable::OtherType),
            "a result of another type is never decoded"
        );
        let header = Header::read(&entry).unwrap();
        assert!(header.answers(entry.len() as u64, Some(7)));
        assert!(!header.answers(entry.len() as u64, Some(8)));
        assert!(!header.answers(entry.len() as u64 - 1, None));
    }

    #[test]
    fn plain_vectors_are_stored_raw_and_always_verified() {
        let value: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.25).collect();
        let framed = encode_entry(&value, Framing::now(7)).unwrap();
        assert!(
            matches!(framed.arrays[..], [ArrayBytes::Borrowed(_)]),
            "no copy"
        );
        let entry = framed.concatenated();
        let header = Header::read(&entry).unwrap();
        assert_eq!(
            header.flags & (PLAIN_VECTOR | ARRAYS),
            PLAIN_VECTOR | ARRAYS
        );
        assert!(
            header.length < 16,
            "the payload names the element type only"
        );
        let back: Vec<f64> = decoded(&Entry::Owned(entry.clone()), 7, false).unwrap();
        assert_eq!(back, value);
        let damaged = |bytes: Vec<u8>| decoded::<Vec<f64>>(&Entry::Owned(bytes), 7, false);
        let mut flipped = entry.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            damaged(flipped),
            Err(Unusable::Damaged("vector checksum mismatch".into())),
            "checked even when the caller does not ask for mapped arrays to be"
        );
        assert!(matches!(
            damaged(entry[..entry.len() - 8].to_vec()),
            Err(Unusable::Damaged(_))
        ));
        assert_eq!(
            decoded::<Vec<u64>>(&Entry::Owned(entry), 7, false),
            Err(Unusable::OtherType),
            "the element type is checked as well as the fingerprint"
        );
    }

    #[test]
    #[cfg(feature = "zstd")]
    fn a_compressed_cache_compresses_plain_vectors_too() {
        let compressed = Framing {
            compress: Some(3),
            ..Framing::now(7)
        };
        let zeros = encode_entry(&vec![0.0_f64; 100_000], compressed)
            .unwrap()
            .concatenated();
        assert!(
            zeros.len() < 100_000,
            "a compressed cache compresses vectors too"
        );
        let back: Vec<f64> = decoded(&Entry::Owned(zeros), 7, false).unwrap();
        assert_eq!(back.len(), 100_000);
    }

    #[test]
    #[cfg(feature = "zstd")]
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
        let compressed = encode_entry(&value, framing).unwrap().concatenated();
        let plain = encode_entry(
            &value,
            Framing {
                compress: None,
                ..framing
            },
        )
        .unwrap()
        .concatenated();
        assert!(
            compressed.len() * 10 < plain.len(),
            "{} vs {}",
            compressed.len(),
            plain.len()
        );
        for entry in [&compressed, &plain] {
            assert_eq!(
                decoded::<Vec<u32>>(&Entry::Owned(entry.clone()), 3, false).unwrap(),
                value
            );
            assert_eq!(Header::read(entry).unwrap().meta(), meta);
        }
        // Small payloads are left alone.
        let small = encode_entry(&7_u8, framing).unwrap().concatenated();
        assert_eq!(Header::read(&small).unwrap().flags, 0);
    }
}
