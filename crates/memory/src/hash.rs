//! Argument hashing: serde's data model streamed straight into XXH3-128.
//!
//! The encoding is bincode-like (fixed-width little-endian numbers, lengths before
//! variable-sized data, variant indices), which is unambiguous for a given type; the
//! function's identity, part of every key, fixes the types. Bytes go through a small
//! fixed block into the hasher, so even a large argument is never copied whole.
//!
//! Floats: every NaN hashes as one canonical quiet NaN, whatever its payload bits, so a
//! NaN computed again matches the stored one. `-0.0` and `+0.0` hash differently: IEEE
//! keeps them apart and a function can tell them apart (`1.0 / x`), so sharing an
//! entry between them could return a wrong result.

use crate::MemoryError;
use serde::ser::{self, Serialize};
use std::fmt;
use std::hash::Hasher;
use twox_hash::{XxHash3_128, XxHash3_64};

/// The hash of a function's name, the stable part of its keys.
pub(crate) fn name_digest(module: &str, name: &str) -> u64 {
    let mut hasher = XxHash3_64::with_seed(0);
    hasher.write(module.as_bytes());
    hasher.write(b"::");
    hasher.write(name.as_bytes());
    hasher.finish()
}

/// XXH3-128 of `arguments` in the encoding described above, all through serde: what
/// the tests compare the other routes with.
#[cfg(test)]
pub(crate) fn hash_arguments<A: Serialize + ?Sized>(arguments: &A) -> Result<u128, MemoryError> {
    hash_parts(&[&SerdePart(arguments)])
}

/// XXH3-128 of the arguments given as parts, in order: the same hash as serde's
/// encoding of the tuple of those arguments, since a tuple's encoding is its elements'
/// encodings one after the other.
pub(crate) fn hash_parts(parts: &[&dyn KeyPart]) -> Result<u128, MemoryError> {
    let mut feeder = KeyFeeder(KeyHasher::new());
    for part in parts {
        part.feed(&mut feeder)?;
    }
    Ok(feeder.0.finish())
}

/// The hasher a [`KeyPart`] feeds. Opaque: only this crate's parts can use it.
#[doc(hidden)]
pub struct KeyFeeder(KeyHasher);

/// One argument of a call, as the `#[cache]` macro hands it over: a part feeds the same
/// bytes as serde's encoding of the argument would, by the fastest route for its type.
#[doc(hidden)]
pub trait KeyPart {
    /// Feeds the argument's encoding to the key's hasher.
    ///
    /// # Errors
    /// [`MemoryError::Encode`] if the argument's `Serialize` implementation fails.
    fn feed(&self, feeder: &mut KeyFeeder) -> Result<(), MemoryError>;
}

/// An argument encoded through serde: any `Serialize` type.
#[doc(hidden)]
pub struct SerdePart<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> KeyPart for SerdePart<'_, T> {
    fn feed(&self, feeder: &mut KeyFeeder) -> Result<(), MemoryError> {
        self.0.serialize(&mut feeder.0).map_err(encode_error)
    }
}

/// A slice of numbers, fed whole: serde hands numbers over one call at a time, which
/// makes hashing an 8 MB array a matter of milliseconds; the bulk route hashes the
/// same bytes at memory speed.
#[doc(hidden)]
pub struct SlicePart<'a, T>(pub &'a [T]);

/// The numbers a [`SlicePart`] takes.
#[doc(hidden)]
pub trait BulkNumber: bytemuck::Pod + Serialize {
    /// Whether the value has other bit patterns that must hash alike (NaN).
    fn needs_canonical_form(&self) -> bool;
}

macro_rules! bulk_integers {
    ($($ty:ty),*) => {$(
        impl BulkNumber for $ty {
            #[inline]
            fn needs_canonical_form(&self) -> bool {
                false
            }
        }
    )*};
}
bulk_integers!(i16, i32, i64, u16, u32, u64);

impl BulkNumber for f32 {
    #[inline]
    fn needs_canonical_form(&self) -> bool {
        self.is_nan()
    }
}

impl BulkNumber for f64 {
    #[inline]
    fn needs_canonical_form(&self) -> bool {
        self.is_nan()
    }
}

/// Numbers per bulk write: a few KB, so the NaN check of a chunk stays in cache.
const BULK_CHUNK: usize = 1024;

impl<T: BulkNumber> KeyPart for SlicePart<'_, T> {
    fn feed(&self, feeder: &mut KeyFeeder) -> Result<(), MemoryError> {
        let hasher = &mut feeder.0;
        // What serde's sequence encoding starts with.
        hasher.put_len(self.0.len());
        for chunk in self.0.chunks(BULK_CHUNK) {
            // Folded rather than `any`, so that the check vectorizes.
            let plain = cfg!(target_endian = "little")
                && !chunk
                    .iter()
                    .fold(false, |odd, value| odd | value.needs_canonical_form());
            if plain {
                hasher.put(bytemuck::cast_slice(chunk));
            } else {
                for value in chunk {
                    value.serialize(&mut *hasher).map_err(encode_error)?;
                }
            }
        }
        Ok(())
    }
}

const BLOCK: usize = 1024;

/// A serializer that feeds what it is given to XXH3-128, through a fixed block so that
/// the many small writes of a large argument cost a copy each, not a hasher call each.
///
/// The hasher and block sit in their own allocation: the occasional call that hands a
/// full block to the hasher then cannot touch `filled`, so the compiler keeps `filled`
/// in a register through a serde loop over millions of numbers (measured 2x faster).
struct KeyHasher {
    sink: Box<Sink>,
    filled: usize,
}

struct Sink {
    hasher: XxHash3_128,
    block: [u8; BLOCK],
}

impl Sink {
    #[cold]
    #[inline(never)]
    fn drain(&mut self, filled: usize) {
        self.hasher.write(&self.block[..filled]);
    }
}

impl KeyHasher {
    fn new() -> Self {
        KeyHasher {
            sink: Box::new(Sink {
                hasher: XxHash3_128::new(),
                block: [0; BLOCK],
            }),
            filled: 0,
        }
    }

    /// A fixed-size value: the copy compiles to a plain store, which matters for the
    /// millions of numbers in a large array argument.
    #[inline]
    fn put_fixed<const N: usize>(&mut self, bytes: [u8; N]) {
        if self.filled + N > BLOCK {
            self.sink.drain(self.filled);
            self.filled = 0;
        }
        if let Some(slot) = self.sink.block.get_mut(self.filled..self.filled + N) {
            slot.copy_from_slice(&bytes);
            self.filled += N;
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.filled + bytes.len() > BLOCK {
            self.sink.drain(self.filled);
            self.filled = 0;
            if bytes.len() > BLOCK {
                self.sink.hasher.write(bytes);
                return;
            }
        }
        self.sink.block[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
    }

    fn put_len(&mut self, len: usize) {
        self.put_fixed((len as u64).to_le_bytes());
    }

    fn finish(mut self) -> u128 {
        self.sink.drain(self.filled);
        self.sink.hasher.finish_128()
    }
}

fn encode_error(HashError(message): HashError) -> MemoryError {
    MemoryError::Encode {
        what: "arguments",
        message,
    }
}

/// Why an argument could not be hashed: its `Serialize` implementation failed.
#[derive(Debug)]
struct HashError(String);

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HashError {}

impl ser::Error for HashError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        HashError(message.to_string())
    }
}

// Markers that keep variable-length data unambiguous where serde gives no length.
const MORE: u8 = 1;
const END: u8 = 0;

macro_rules! put_number {
    ($($method:ident: $ty:ty),*) => {$(
        #[inline]
        fn $method(self, value: $ty) -> Result<(), HashError> {
            self.put_fixed(value.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'h> ser::Serializer for &'h mut KeyHasher {
    type Ok = ();
    type Error = HashError;
    type SerializeSeq = Compound<'h>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Compound<'h>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    put_number!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_bool(self, value: bool) -> Result<(), HashError> {
        self.put(&[u8::from(value)]);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, value: f32) -> Result<(), HashError> {
        // A select, not a branch: large float arrays are the common argument.
        let bits = if value.is_nan() {
            f32::NAN.to_bits()
        } else {
            value.to_bits()
        };
        self.put_fixed(bits.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, value: f64) -> Result<(), HashError> {
        let bits = if value.is_nan() {
            f64::NAN.to_bits()
        } else {
            value.to_bits()
        };
        self.put_fixed(bits.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<(), HashError> {
        self.put_fixed(u32::from(value).to_le_bytes());
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), HashError> {
        self.serialize_bytes(value.as_bytes())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), HashError> {
        self.put_len(value.len());
        self.put(value);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), HashError> {
        self.put(&[END]);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), HashError> {
        self.put(&[MORE]);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), HashError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), HashError> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), HashError> {
        self.serialize_u32(index)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        self.put(&index.to_le_bytes());
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'h>, HashError> {
        Ok(Compound::start(self, len))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, HashError> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'h>, HashError> {
        Ok(Compound::start(self, len))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, HashError> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }
}

/// A sequence or map: with a known length the length goes first; without one, each
/// element is preceded by `MORE` and the end marked by `END`.
struct Compound<'h> {
    hasher: &'h mut KeyHasher,
    marked: bool,
}

impl<'h> Compound<'h> {
    fn start(hasher: &'h mut KeyHasher, len: Option<usize>) -> Self {
        match len {
            Some(len) => {
                hasher.put_len(len);
                Compound {
                    hasher,
                    marked: false,
                }
            }
            None => Compound {
                hasher,
                marked: true,
            },
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        if self.marked {
            self.hasher.put(&[MORE]);
        }
        value.serialize(&mut *self.hasher)
    }

    fn finish(self) {
        if self.marked {
            self.hasher.put(&[END]);
        }
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), HashError> {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        value.serialize(&mut *self.hasher)
    }
    fn end(self) -> Result<(), HashError> {
        self.finish();
        Ok(())
    }
}

/// Fixed-shape compounds (tuples, structs, variants): the type fixes their length, so
/// their fields simply follow one another.
macro_rules! fixed_compound {
    ($($trait:ident :: $method:ident ($($name:ident: $ty:ty),*)),*) => {$(
        impl ser::$trait for &mut KeyHasher {
            type Ok = ();
            type Error = HashError;
            fn $method<T: Serialize + ?Sized>(&mut self, $($name: $ty,)* value: &T) -> Result<(), HashError> {
                $(let _ = $name;)*
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), HashError> {
                Ok(())
            }
        }
    )*};
}

fixed_compound!(
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(field: &'static str),
    SerializeStructVariant::serialize_field(field: &'static str)
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn h<A: Serialize + ?Sized>(value: &A) -> u128 {
        hash_arguments(value).unwrap()
    }

    #[test]
    fn equal_values_hash_equal_and_different_ones_differ() {
        let sample: Vec<f32> = (0..10_000_u16).map(f32::from).collect();
        assert_eq!(h(&sample[..]), h(&sample.clone()[..]));
        let mut changed = sample.clone();
        changed[9_999] += 1.0;
        assert_ne!(h(&sample[..]), h(&changed[..]));
        assert_ne!(
            h(&("ab", "c")),
            h(&("a", "bc")),
            "lengths keep strings apart"
        );
        assert_ne!(h(&Some(0_u8)), h(&None::<u8>));
        assert_ne!(h(&vec![vec![1_u8], vec![]]), h(&vec![vec![], vec![1_u8]]));
    }

    #[test]
    fn nan_payloads_are_one_key_but_signed_zeros_are_two() {
        let quiet = f64::NAN;
        let other = f64::from_bits(f64::NAN.to_bits() | 0xdead);
        assert!(other.is_nan());
        assert_eq!(h(&quiet), h(&other));
        assert_eq!(h(&-f32::NAN), h(&f32::NAN));
        assert_ne!(h(&0.0_f64), h(&-0.0_f64));
        assert_ne!(h(&0.0_f32), h(&-0.0_f32));
    }

    /// A sequence backed by an iterator, so serde gives no length up front.
    struct Unsized(Vec<u8>);

    impl Serialize for Unsized {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().filter(|_| true))
        }
    }

    #[test]
    fn maps_and_unknown_lengths_are_unambiguous() {
        let mut a = BTreeMap::new();
        a.insert("k".to_owned(), 1_u32);
        let mut b = a.clone();
        b.insert("l".to_owned(), 2);
        assert_ne!(h(&a), h(&b));
        assert_ne!(
            h(&(Unsized(vec![1]), Unsized(vec![]))),
            h(&(Unsized(vec![]), Unsized(vec![1])))
        );
    }

    struct Broken;

    impl Serialize for Broken {
        fn serialize<S: ser::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(ser::Error::custom("cannot serialize a Broken"))
        }
    }

    #[test]
    fn serialize_errors_are_reported() {
        assert!(matches!(
            hash_arguments(&Broken),
            Err(MemoryError::Encode { what: "arguments", message }) if message.contains("Broken")
        ));
    }
}
