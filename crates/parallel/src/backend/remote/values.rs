//! A batch of values (a batch's arguments, or its results) as a payload, in one of two
//! forms, named by its first byte:
//!
//! - **encoded**: the encoding of the `Vec<T>`, its `Shared` arrays attached (where the
//!   other side can map memory) or inline;
//! - **plain vectors**: when `T` is itself a `Vec` of numbers (`Vec<f64>`, `Vec<u32>`...)
//!   and the other side takes attachments, each value is moved whole into an attachment
//!   and crosses as raw bytes, written from its own memory and read straight into the
//!   vector the receiver will own. serde would cost a call per element (90 ms for 64 MB
//!   each way here); this costs the kernel's copy.
//!
//! Both sides are monomorphized for the same `T`, and the form is written down, so a
//! payload is never read in the wrong one.

use super::function::Arrays;
use super::wire::{decode, encode_onto, Payload};
use parmemo_shared::{attach, codec, plain};
use serde::de::DeserializeOwned;
use serde::Serialize;

const ENCODED: u8 = 0;
const PLAIN_VECTORS: u8 = 1;

/// `values` as a payload: plain vectors moved into attachments when `arrays` allows,
/// anything else encoded.
pub(crate) fn encode_values<T: Serialize + 'static>(
    values: Vec<T>,
    arrays: Arrays,
) -> Result<Payload, String> {
    let mut bytes = vec![ENCODED];
    let attached = match arrays {
        Arrays::Inline => {
            encode_onto(&mut bytes, &values)?;
            Vec::new()
        }
        Arrays::Attached => match plain::set_aside(values) {
            Ok(attached) => {
                let element = plain::element_of::<T>().unwrap_or_default();
                bytes[0] = PLAIN_VECTORS;
                encode_onto(&mut bytes, &(element, attached.len() as u64))?;
                attached
            }
            Err(values) => {
                // Large vectors inside the values go beside them too, read on the
                // other side straight into the vectors the values will own.
                let (encoded, attached) =
                    attach::collect(|| codec::vectors_aside(|| encode_onto(&mut bytes, &values)));
                encoded?;
                warn_if_large(bytes.len());
                attached
            }
        },
    };
    Ok(Payload { bytes, attached })
}

/// Values encoded this large despite their arrays going beside them are large in
/// something that goes element by element (integers in tuples, strings, maps).
const LARGE_INSIDE: usize = 16 << 20;

/// Says once per process, on stderr, that a batch's values went element by element
/// and were large, and what sends them whole.
fn warn_if_large(bytes: usize) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if bytes > LARGE_INSIDE {
        WARNED.call_once(|| {
            crate::progress::stderr_line(&format!(
                "parmemo: a batch's values took {} MB encoded element by element (vectors \
                 of numbers travel whole; what else they hold does not): make a large \
                 array a parmemo::Shared (made once, shared by every task without a copy)",
                bytes >> 20
            ));
        });
    }
}

/// The values of a payload made by [`encode_values`] for the same `T`. The attachments
/// are moved out: a plain vector that arrived whole becomes the value without a copy.
pub(crate) fn decode_values<T: DeserializeOwned + 'static>(
    payload: Payload,
) -> Result<Vec<T>, String> {
    let Payload { bytes, attached } = payload;
    match bytes.split_first() {
        Some((&ENCODED, encoded)) => attach::provide(attached, || decode(encoded)),
        Some((&PLAIN_VECTORS, header)) => {
            let (element, count): (String, u64) = decode(header)?;
            let expected = plain::element_of::<T>();
            if expected != Some(element.as_str()) {
                return Err(format!(
                    "plain vectors of {element} arrived for values of {}",
                    std::any::type_name::<T>()
                ));
            }
            if attached.len() as u64 != count {
                return Err(format!(
                    "{count} plain vectors were announced and {} arrived",
                    attached.len()
                ));
            }
            plain::take_back(attached)
        }
        Some((form, _)) => Err(format!("a batch in an unknown form ({form})")),
        None => Err("an empty batch payload".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parmemo_shared::Shared;

    #[test]
    fn plain_vectors_cross_as_attachments() {
        let payload = encode_values(vec![vec![1.0_f64; 10_000], vec![]], Arrays::Attached).unwrap();
        assert_eq!(payload.attached.len(), 2);
        assert!(payload.bytes.len() < 16, "no element in the bytes");
        let back: Vec<Vec<f64>> = decode_values(payload).unwrap();
        assert_eq!(back, [vec![1.0; 10_000], vec![]]);
    }

    #[test]
    fn inline_batches_are_encoded_whole() {
        let payload = encode_values(vec![vec![7_u16; 3]], Arrays::Inline).unwrap();
        assert!(payload.attached.is_empty());
        let back: Vec<Vec<u16>> = decode_values(payload).unwrap();
        assert_eq!(back, [vec![7; 3]]);
    }

    #[test]
    fn other_values_are_encoded_with_their_arrays_beside() {
        let shared: Shared<[f32]> = Shared::from(vec![2.0; 100_000]);
        let payload = encode_values(vec![(shared.clone(), 5_u8)], Arrays::Attached).unwrap();
        assert_eq!(payload.attached.len(), 1);
        let back: Vec<(Shared<[f32]>, u8)> = decode_values(payload).unwrap();
        assert_eq!(back[0], (shared, 5));
    }

    #[test]
    fn a_payload_read_as_another_type_is_an_error() {
        let payload = encode_values(vec![vec![1_u32]], Arrays::Attached).unwrap();
        let err = decode_values::<Vec<i32>>(payload).unwrap_err();
        assert!(err.contains("u32"), "{err}");
        assert!(decode_values::<u8>(Payload::plain(vec![9])).is_err());
        assert!(decode_values::<u8>(Payload::plain(Vec::new())).is_err());
    }
}
