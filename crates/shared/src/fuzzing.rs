//! What the fuzz target `shared_arrays` (`fuzz/`, feature `fuzzing`) and this crate's
//! property tests feed arbitrary bytes to: `Shared` arrays that travelled inline (the
//! encoding of an MPI rank's values, of a small cached array), and plain vectors rebuilt
//! from raw bytes (what a worker reads from its socket).

use crate::attach::{self, Attachment};
use crate::{codec, plain, Shared};

/// Decodes `data` as values holding inline `Shared` arrays, as references to attached
/// arrays, and as a plain vector's element name and bytes. Never panics, aborts, or
/// allocates what the bytes claim.
pub fn arrays(data: &[u8]) {
    let _ = codec::decode::<Shared<[f64]>>(data);
    let _ = codec::decode::<Shared<[u8]>>(data);
    let _ = codec::decode::<Vec<Shared<[u32]>>>(data);
    let _ = codec::decode::<(Option<Shared<[i16]>>, String)>(data);
    // The same bytes as references to arrays that came beside them.
    let offered = vec![
        Attachment::copied(data),
        Attachment::copied(&data[..data.len() / 2]),
    ];
    let _ = attach::provide(offered, || codec::decode::<Vec<Shared<[f32]>>>(data));
    // A plain vector: the element's name from the first bytes, its bytes the rest.
    let split = data
        .first()
        .map_or(0, |&n| usize::from(n).min(data.len() - 1) + 1);
    let (name, bytes) = data.split_at(split.min(data.len()));
    let element = String::from_utf8_lossy(name.get(1..).unwrap_or_default());
    for element in [element.as_ref(), "f64", "u16"] {
        if let Ok(vector) = Attachment::read_vec(element, bytes.len(), |into| {
            into.copy_from_slice(bytes);
            Ok(())
        }) {
            let _ = plain::take_back::<Vec<f64>>(vec![vector.clone()]);
            let _ = plain::take_back::<Vec<u16>>(vec![vector]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            arrays(&data);
        }

        #[test]
        fn changed_encodings_never_panic(
            values in proptest::collection::vec(any::<f64>(), 0..40),
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        ) {
            let mut data = codec::encode(&Shared::from(values)).unwrap();
            for (at, value) in changes {
                let at = at % data.len();
                data[at] = value;
            }
            arrays(&data);
        }
    }

    /// The corpus of the fuzz target, replayed: every input a fuzzing run kept.
    #[test]
    fn the_fuzz_corpus_replays() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/shared_arrays");
        let mut replayed = 0;
        for file in std::fs::read_dir(&corpus).unwrap() {
            arrays(&std::fs::read(file.unwrap().path()).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus at {} is empty", corpus.display());
    }
}
