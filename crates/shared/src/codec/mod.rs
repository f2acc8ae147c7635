//! The binary codec of parmemo: how arguments and results cross to worker processes and
//! MPI ranks, and how cached results are stored. It is [postcard] 1 through serde, a
//! maintained format with a written specification, with errors that say what to change.
//!
//! postcard's errors hold no message (they fit `no_std`): a type's own "13 is unlucky"
//! would come back as "Serde Deserialization Error". So a decode that fails that way is
//! run again through a layer that keeps such messages (`keep.rs`), and the format's own
//! errors are explained by kind, with what to change.
//!
//! ```
//! use parmemo_shared::codec;
//!
//! let value = (3_u32, String::from("walsh"), vec![0.5_f64, 1.5]);
//! let bytes = codec::encode(&value)?;
//! let back: (u32, String, Vec<f64>) = codec::decode_whole(&bytes)?;
//! assert_eq!(back, value);
//! // A value that does not use every byte is refused by `decode_whole`.
//! let mut longer = bytes.clone();
//! longer.push(0);
//! assert!(codec::decode_whole::<(u32, String, Vec<f64>)>(&longer).is_err());
//! # Ok::<(), codec::CodecError>(())
//! ```
//!
//! [postcard]: https://docs.rs/postcard

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;

/// Calls `$forward!` with every method of `serde::Deserializer` that takes a visitor,
/// `deserialize_seq` apart (each layer treats it on its own), and their arguments: the
/// one list the wrapping layers (`bulk`, `keep`) forward.
macro_rules! deserializer_methods {
    ($forward:ident) => {
        $forward! {
            deserialize_any();
            deserialize_bool();
            deserialize_i8();
            deserialize_i16();
            deserialize_i32();
            deserialize_i64();
            deserialize_i128();
            deserialize_u8();
            deserialize_u16();
            deserialize_u32();
            deserialize_u64();
            deserialize_u128();
            deserialize_f32();
            deserialize_f64();
            deserialize_char();
            deserialize_str();
            deserialize_string();
            deserialize_bytes();
            deserialize_byte_buf();
            deserialize_option();
            deserialize_unit();
            deserialize_unit_struct(name: &'static str);
            deserialize_newtype_struct(name: &'static str);
            deserialize_tuple(len: usize);
            deserialize_tuple_struct(name: &'static str, len: usize);
            deserialize_map();
            deserialize_struct(name: &'static str, fields: &'static [&'static str]);
            deserialize_enum(name: &'static str, variants: &'static [&'static str]);
            deserialize_identifier();
            deserialize_ignored_any();
        }
    };
}

/// Calls `$forward!` with every `serde::de::Visitor` method that takes one value, and
/// its type: the one list the wrapping layers forward.
macro_rules! visitor_methods {
    ($forward:ident) => {
        $forward! {
            visit_bool(bool);
            visit_i8(i8);
            visit_i16(i16);
            visit_i32(i32);
            visit_i64(i64);
            visit_i128(i128);
            visit_u8(u8);
            visit_u16(u16);
            visit_u32(u32);
            visit_u64(u64);
            visit_u128(u128);
            visit_f32(f32);
            visit_f64(f64);
            visit_char(char);
            visit_str(&str);
            visit_borrowed_str(&'de str);
            visit_string(String);
            visit_bytes(&[u8]);
            visit_borrowed_bytes(&'de [u8]);
            visit_byte_buf(Vec<u8>);
        }
    };
}

mod bulk;
mod keep;

/// Why a value could not be encoded or decoded, in words that say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be encoded.
    #[error("cannot encode the value: {0}")]
    Encode(String),
    /// The bytes could not be decoded as a value of the type asked for.
    #[error("cannot decode the value: {0}")]
    Decode(String),
}

/// `value` as bytes.
///
/// # Errors
/// [`CodecError::Encode`] when the value's `Serialize` fails or asks for what a compact
/// binary format cannot hold (a sequence of unknown length).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut bytes = Vec::new();
    encode_onto(&mut bytes, value)?;
    Ok(bytes)
}

/// `value` encoded at the end of `bytes`, which keeps what it held: a message's leading
/// tag is written first, and the encoding is never copied a second time.
///
/// ```
/// let mut bytes = vec![7_u8];
/// parmemo_shared::codec::encode_onto(&mut bytes, &300_u32)?;
/// assert_eq!(bytes[0], 7);
/// assert_eq!(parmemo_shared::codec::decode::<u32>(&bytes[1..])?, 300);
/// # Ok::<(), parmemo_shared::codec::CodecError>(())
/// ```
///
/// # Errors
/// As [`encode`]; `bytes` may then hold part of the encoding after what it held.
pub fn encode_onto<T: Serialize + ?Sized>(
    bytes: &mut Vec<u8>,
    value: &T,
) -> Result<(), CodecError> {
    bulk::encode_onto(bytes, value).map_err(|err| CodecError::Encode(explain(&err)))
}

/// Runs `encode` (calls of [`encode_onto`] under [`attach::collect`](crate::attach::collect))
/// with the large vectors of numbers anywhere in the values (in a tuple, a struct, an
/// `Option`, a `Vec` of them) set aside as attachments, each copied once into fresh
/// memory, rather than copied into the encoding: how a batch goes to a worker process,
/// which reads each straight into the vector it will own. Decode such bytes under
/// [`attach::provide`](crate::attach::provide) with those attachments; without them the
/// decode fails (never a wrong value).
///
/// ```
/// use parmemo_shared::{attach, codec};
/// let value = (vec![0.5_f64; 100_000], 7_u32);
/// let mut bytes = Vec::new();
/// let (encoded, attached) =
///     attach::collect(|| codec::vectors_aside(|| codec::encode_onto(&mut bytes, &value)));
/// encoded?;
/// assert!(bytes.len() < 16, "the vector went beside the bytes");
/// assert_eq!(attached.len(), 1);
/// let back: (Vec<f64>, u32) = attach::provide(attached, || codec::decode(&bytes))?;
/// assert_eq!(back, value);
/// assert!(codec::decode::<(Vec<f64>, u32)>(&bytes).is_err());
/// # Ok::<(), codec::CodecError>(())
/// ```
pub fn vectors_aside<R>(encode: impl FnOnce() -> R) -> R {
    bulk::vectors_aside(encode)
}

/// The value at the start of `bytes` (bytes after it are left alone).
///
/// # Errors
/// [`CodecError::Decode`] when the bytes are not a value of type `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_prefix(bytes).map(|(value, _)| value)
}

/// The value that `bytes` hold, all of them: trailing bytes are an error, since they
/// mean the bytes were written for another type.
///
/// # Errors
/// [`CodecError::Decode`] when the bytes are not a value of type `T`, or hold more.
pub fn decode_whole<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match decode_prefix(bytes)? {
        (value, 0) => Ok(value),
        (_, trailing) => Err(CodecError::Decode(format!(
            "{trailing} bytes follow the value: they were written for another type"
        ))),
    }
}

/// The value at the start of `bytes`, and how many bytes follow it.
fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    take_refusal();
    match bulk::decode_prefix::<T>(bytes) {
        Ok((value, rest)) => Ok((value, rest)),
        Err(postcard::Error::SerdeDeCustom) => Err(CodecError::Decode(own_message::<T>(bytes))),
        Err(err) => Err(CodecError::Decode(explain(&err))),
    }
}

/// Why `T`'s own `Deserialize` refused `bytes`. postcard drops that message, so the
/// failed decode is run again through a layer that keeps it: the fast path pays nothing
/// for it (that layer costs up to twice the time of a decode: measured on records of
/// strings and numbers). A `Shared` array's reason is known from the first run already;
/// if the second run stumbles on an array (its attachment was taken by the first), its
/// message would be about that, so the reason is then left general.
fn own_message<T: DeserializeOwned>(bytes: &[u8]) -> String {
    if let Some(why) = take_refusal() {
        return why;
    }
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    keep::reset();
    let again = T::deserialize(keep::Keeping(&mut deserializer));
    keep::reset();
    let array_refused = take_refusal().is_some();
    // The same bytes fail at the same place again, now with the type's message; only a
    // type that decodes differently on a second try ends anywhere else.
    match again {
        Err(keep::Kept::Message(message)) if !array_refused => message,
        _ => "the type's Deserialize implementation refused the bytes: they were written \
              by another type, or its Serialize and Deserialize disagree"
            .to_owned(),
    }
}

thread_local! {
    /// Why a `Shared` array refused its bytes, which postcard's error cannot say.
    static REFUSAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn take_refusal() -> Option<String> {
    REFUSAL.with(|refusal| refusal.borrow_mut().take())
}

/// A custom deserialization error of a `Shared` array, whose `message` the codec reports
/// whatever the format keeps of it.
pub(crate) fn refused<E: serde::de::Error>(message: String) -> E {
    let error = E::custom(&message);
    REFUSAL.with(|refusal| *refusal.borrow_mut() = Some(message));
    error
}

fn explain(err: &postcard::Error) -> String {
    use postcard::Error as E;
    match err {
        E::WontImplement => "the type needs a self-describing format (serde's \
            deserialize_any: #[serde(flatten)], #[serde(untagged)], serde_json::Value and \
            the like), which a compact binary codec cannot carry: give it plain fields, or \
            pass such a part as a JSON string"
            .to_owned(),
        E::SerializeSeqLengthUnknown => "a sequence or map was serialized without its \
            length, which a compact binary codec needs: #[serde(flatten)] does that (give \
            the type plain fields), and so does serde's collect_seq or collect_map over an \
            iterator of unknown size (collect it into a Vec first)"
            .to_owned(),
        E::DeserializeUnexpectedEnd => "the bytes end before the value does: the type's \
            Serialize writes less than its Deserialize reads (#[serde(skip_serializing_if)] \
            and #[serde(skip_serializing)] do), or the data was cut short"
            .to_owned(),
        E::SerdeSerCustom => "the type's Serialize implementation returned an error (the \
            codec keeps no message of it): check that implementation"
            .to_owned(),
        E::DeserializeBadVarint
        | E::DeserializeBadBool
        | E::DeserializeBadChar
        | E::DeserializeBadUtf8
        | E::DeserializeBadOption
        | E::DeserializeBadEnum
        | E::DeserializeBadEncoding => format!(
            "the bytes are not a value of this type ({}): they were written by another \
             type, or the type's Serialize skips what its Deserialize reads \
             (#[serde(skip_serializing_if)] does)",
            lowercase_first(&err.to_string())
        ),
        other => format!("{other} (postcard)"),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shared;
    use std::collections::BTreeMap;

    #[test]
    fn values_round_trip_and_trailing_bytes_are_refused() {
        let value: BTreeMap<String, Vec<Option<i64>>> = [
            ("a".to_owned(), vec![Some(-1), None]),
            ("b".to_owned(), Vec::new()),
        ]
        .into();
        let bytes = encode(&value).unwrap();
        assert_eq!(
            decode_whole::<BTreeMap<String, Vec<Option<i64>>>>(&bytes).unwrap(),
            value
        );
        let mut onto = vec![9];
        encode_onto(&mut onto, &value).unwrap();
        assert_eq!(onto[1..], bytes[..]);
        let mut longer = bytes;
        longer.extend([1, 2]);
        let err = decode_whole::<BTreeMap<String, Vec<Option<i64>>>>(&longer).unwrap_err();
        assert!(
            err.to_string().contains("2 bytes follow the value"),
            "{err}"
        );
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    struct Skipping {
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        count: u32,
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    struct Flattened {
        #[serde(flatten)]
        inner: BTreeMap<String, u32>,
    }

    #[test]
    fn common_mistakes_are_explained() {
        let bytes = encode(&Skipping {
            note: None,
            count: 3,
        })
        .unwrap();
        let err = decode::<Skipping>(&bytes).unwrap_err().to_string();
        assert!(err.contains("skip_serializing_if"), "{err}");

        let flattened = Flattened {
            inner: [("a".to_owned(), 1)].into(),
        };
        let err = encode(&flattened)
            .and_then(|bytes| decode::<Flattened>(&bytes))
            .unwrap_err()
            .to_string();
        assert!(err.contains("#[serde(flatten)]"), "{err}");

        let err = decode::<u32>(&[]).unwrap_err().to_string();
        assert!(err.starts_with("cannot decode the value"), "{err}");
    }

    /// A number that refuses 13 when read back, with its own message.
    #[derive(serde::Serialize, Debug, PartialEq)]
    struct Picky(u8);

    impl<'de> serde::Deserialize<'de> for Picky {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match u8::deserialize(deserializer)? {
                13 => Err(serde::de::Error::custom("13 is unlucky")),
                value => Ok(Picky(value)),
            }
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Nested {
        Unit,
        Pair(Option<Picky>, u8),
        Named { values: Vec<Picky>, label: String },
        Map(BTreeMap<String, Picky>),
    }

    #[test]
    fn a_types_own_error_message_is_kept_at_any_depth() {
        let err = decode::<Picky>(&encode(&Picky(13)).unwrap()).unwrap_err();
        assert_eq!(err, CodecError::Decode("13 is unlucky".to_owned()));
        let refused = [
            Nested::Pair(Some(Picky(13)), 1),
            Nested::Named {
                values: vec![Picky(1), Picky(13)],
                label: "x".to_owned(),
            },
            Nested::Map([("k".to_owned(), Picky(13))].into()),
        ];
        for value in refused {
            let err = decode::<Vec<Nested>>(&encode(&vec![Nested::Unit, value]).unwrap());
            assert_eq!(
                err.unwrap_err().to_string(),
                "cannot decode the value: 13 is unlucky"
            );
        }
        let fine = vec![
            Nested::Unit,
            Nested::Pair(None, 2),
            Nested::Named {
                values: vec![Picky(1), Picky(2)],
                label: "y".to_owned(),
            },
            Nested::Map([("k".to_owned(), Picky(3))].into()),
        ];
        assert_eq!(
            decode_whole::<Vec<Nested>>(&encode(&fine).unwrap()).unwrap(),
            fine
        );
        // A refusal does not lend its message to the next decode's failure.
        let err = decode::<Nested>(&[9]).unwrap_err().to_string();
        assert!(!err.contains("unlucky"), "{err}");
    }

    #[test]
    fn beside_an_attached_array_a_refusal_is_explained_not_blamed_on_the_array() {
        let value = (Shared::<[u16]>::from(vec![1, 2, 3]), Picky(13));
        let (bytes, attached) = crate::attach::collect(|| encode(&value).unwrap());
        assert_eq!(attached.len(), 1);
        let err = crate::attach::provide(attached, || {
            decode::<(Shared<[u16]>, Picky)>(&bytes).unwrap_err()
        })
        .to_string();
        assert!(err.contains("Deserialize implementation refused"), "{err}");
        assert!(!err.contains("attachment"), "{err}");
    }

    #[test]
    fn a_claimed_length_beyond_the_bytes_is_an_error_not_an_allocation() {
        // A varint length of about 2^63, then nothing.
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(decode::<Vec<u64>>(&huge).is_err());
        assert!(decode::<String>(&huge).is_err());
        assert!(decode::<Vec<u8>>(&huge).is_err());
        assert!(decode::<BTreeMap<u32, u32>>(&huge).is_err());
    }

    #[test]
    fn an_array_says_why_it_refused_its_bytes() {
        let bytes = encode(&Shared::<[f32]>::from(vec![1.0, 2.0])).unwrap();
        let err = decode::<Shared<[u32]>>(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("an array of f32 cannot be read as an array of u32"),
            "{err}"
        );
        // The reason does not outlive its own decode.
        let err = decode::<String>(&[1, 0xff]).unwrap_err().to_string();
        assert!(!err.contains("array"), "{err}");
    }
}
