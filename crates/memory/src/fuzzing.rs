//! What the fuzz targets (`fuzz/`, feature `fuzzing`) and this crate's property tests
//! feed arbitrary bytes to: the entry decoder, as a hit reads a file from disk.

use crate::entry::{decode_entry, CODEC_VERSION, HEADER};
use crate::shape::fingerprint;
use crate::store::Entry;
use parmemo_shared::Shared;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use twox_hash::XxHash3_64;

/// Decodes `data` as a stored entry of a few result types, as read from disk and after
/// repaired (so that random bytes get past the checksums to the payload, the array
/// table and the arrays). Never panics, aborts, or allocates what the bytes claim.
pub fn entry(data: &[u8]) {
    decode_as::<(Vec<u64>, String, Option<Shared<[f64]>>)>(data);
    decode_as::<Vec<f64>>(data);
    decode_as::<HashMap<String, Vec<Shared<[u32]>>>>(data);
}

fn decode_as<R: DeserializeOwned + 'static>(data: &[u8]) {
    let result_type = fingerprint::<R>();
    for verify in [false, true] {
        let _ = decode_entry::<R>(&Entry::Owned(data.to_vec()), result_type, verify);
        let _ = decode_entry::<R>(
            &Entry::Owned(repaired(data, result_type)),
            result_type,
            verify,
        );
    }
}

/// `data` with a header this build reads: its magic, version and result type set, its
/// lengths cut to the bytes there are, and its checksums (payload, array table) made to
/// match. What is left random is what the decoder must survive.
fn repaired(data: &[u8], result_type: u64) -> Vec<u8> {
    let mut bytes = data.to_vec();
    if bytes.len() < HEADER {
        bytes.resize(HEADER, 0);
    }
    bytes[..4].copy_from_slice(b"PMC\x01");
    bytes[4..6].copy_from_slice(&CODEC_VERSION.to_le_bytes());
    bytes[24..32].copy_from_slice(&result_type.to_le_bytes());
    let after = (bytes.len() - HEADER) as u64;
    let claimed = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
    let arrays = bytes[6] & 2 != 0 && after > 0;
    if !arrays {
        bytes[6] &= !2;
    }
    let length = if arrays { claimed % after } else { after };
    bytes[8..16].copy_from_slice(&length.to_le_bytes());
    // Within the bytes: `length <= after`, which is what is left after the header.
    let payload_end = HEADER + usize::try_from(length).unwrap_or(0);
    let checksum = XxHash3_64::oneshot(&bytes[HEADER..payload_end]);
    bytes[16..24].copy_from_slice(&checksum.to_le_bytes());
    if arrays && bytes.len() >= payload_end + 16 {
        let room = (bytes.len() - payload_end - 16) / 24;
        let claimed = u64::from_le_bytes(
            bytes[payload_end..payload_end + 8]
                .try_into()
                .unwrap_or_default(),
        );
        let count = usize::try_from(claimed).unwrap_or(usize::MAX) % (room + 1);
        bytes[payload_end..payload_end + 8].copy_from_slice(&(count as u64).to_le_bytes());
        let table_end = payload_end + 8 + 24 * count;
        let table = XxHash3_64::oneshot(&bytes[payload_end..table_end]);
        bytes[table_end..table_end + 8].copy_from_slice(&table.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{encode_entry, Framing};
    use proptest::prelude::*;

    /// Real entries, to start the random changes from.
    fn stored_entries() -> Vec<Vec<u8>> {
        let arrays: (Vec<u64>, String, Option<Shared<[f64]>>) = (
            vec![1, 2, 3],
            "x".to_owned(),
            Some(Shared::from_fn(600, |i| i as f64)),
        );
        let first = fingerprint::<(Vec<u64>, String, Option<Shared<[f64]>>)>();
        let plain = fingerprint::<Vec<f64>>();
        vec![
            encode_entry(&arrays, Framing::now(first))
                .unwrap()
                .concatenated(),
            encode_entry(&vec![0.5_f64; 300], Framing::now(plain))
                .unwrap()
                .concatenated(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            entry(&data);
        }

        #[test]
        fn changed_entries_never_panic(
            which in 0_usize..2,
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut data = stored_entries().swap_remove(which);
            for (at, value) in changes {
                let at = at % data.len();
                data[at] = value;
            }
            let keep = data.len() - cut % (data.len() / 4 + 1);
            data.truncate(keep);
            entry(&data);
        }
    }

    #[test]
    fn repairing_reaches_the_payload() {
        // A repaired real entry decodes to the same value: the repair only sets what a
        // stored entry already has right.
        let stored = stored_entries().swap_remove(1);
        let again = repaired(&stored, fingerprint::<Vec<f64>>());
        let value: Vec<f64> = decode_entry(&Entry::Owned(again), fingerprint::<Vec<f64>>(), true)
            .unwrap()
            .0;
        assert_eq!(value, vec![0.5; 300]);
    }

    /// The corpus of the fuzz target, replayed: every input a fuzzing run kept.
    #[test]
    fn the_fuzz_corpus_replays() {
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/memory_entry");
        let mut replayed = 0;
        for file in std::fs::read_dir(&corpus).unwrap() {
            entry(&std::fs::read(file.unwrap().path()).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus at {} is empty", corpus.display());
    }
}
