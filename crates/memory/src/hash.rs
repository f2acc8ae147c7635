//! Argument hashing: serde's data model streamed straight into XXH3-128.
//!
//! The encoding is a plain binary one (fixed-width little-endian numbers, lengths before
//! variable-sized data, variant indices), which is unambiguous for a given type; the
//! function's identity, part of every key, fixes the types. Bytes go through a small
//! fixed block into the hasher, so even a large argument is never copied whole.
//!
//! Floats: every NaN hashes as one canonical quiet NaN, whatever its payload bits, so a
//! NaN computed again matches the stored one. `-0.0` and `+0.0` hash differently: IEEE
//! keeps them apart and a function can tell them apart (`1.0 / x`), so sharing an
//! entry between them could return a wrong result.
//!
//! Unordered collections hash by content, not iteration order, identically in every
//! process (a `HashMap` iterates in a random order that differs per process): every map
//! (`HashMap`, `BTreeMap`, `IndexMap`, hashbrown's, ...), and the sets that serde hands
//! over as plain sequences (`HashSet`, hashbrown's `HashSet`, `IndexSet`), recognised by
//! their type wherever they appear (an argument, a field, an element, behind a reference,
//! a `Box`, an `Rc` or an `Arc`). Each entry is hashed on its own; the sorted entry hashes
//! are what the key sees. Sequences (`Vec`, slices, `BTreeSet`, `VecDeque`) keep their
//! order: it is part of their value.

use crate::MemoryError;
use serde::ser::{self, Serialize};
use std::fmt;
use std::hash::Hasher;
use twox_hash::{XxHash3_128, XxHash3_64};

/// The hash of a function's path, given in parts that are hashed as if joined: the
/// stable part of its keys, computed on every call without building the path.
pub(crate) fn name_digest(parts: &[&str]) -> u64 {
    let mut hasher = XxHash3_64::with_seed(0);
    for part in parts {
        hasher.write(part.as_bytes());
    }
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

impl std::fmt::Debug for KeyFeeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFeeder")
    }
}

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

// By hand, as for the other parts: the argument need not be `Debug`.
impl<T: ?Sized> std::fmt::Debug for SerdePart<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SerdePart<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + ?Sized> KeyPart for SerdePart<'_, T> {
    fn feed(&self, feeder: &mut KeyFeeder) -> Result<(), MemoryError> {
        feed_value(&mut feeder.0, self.0).map_err(encode_error)
    }
}

/// A slice of numbers, fed whole: serde hands numbers over one call at a time, which
/// makes hashing an 8 MB array a matter of milliseconds; the bulk route hashes the
/// same bytes at memory speed.
#[doc(hidden)]
pub struct SlicePart<'a, T>(pub &'a [T]);

impl<T> std::fmt::Debug for SlicePart<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SlicePart<{}>({} values)",
            std::any::type_name::<T>(),
            self.0.len()
        )
    }
}

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

/// The sets whose `Serialize` hands serde a plain sequence in an iteration order that is
/// not part of their value. `BTreeSet` is absent: its order is its content's.
const UNORDERED_SETS: [&str; 4] = [
    "std::collections::hash::set::HashSet<",
    "hashbrown::set::HashSet<",
    "hashbrown::HashSet<",
    "indexmap::set::IndexSet<",
];

/// Wrappers whose `Serialize` is their content's.
const TRANSPARENT: [&str; 5] = [
    "&mut ",
    "&",
    "alloc::boxed::Box<",
    "alloc::rc::Rc<",
    "alloc::sync::Arc<",
];

/// Whether a value of type `T` is an unordered set, looking through references and
/// smart pointers.
#[inline]
fn is_unordered_set<T: ?Sized>() -> bool {
    let name = std::any::type_name::<T>();
    // Every set's name holds `Set<`; numbers and most other types are decided here.
    name.len() > 20 && name.contains("Set<") && is_unordered_set_name(name)
}

fn is_unordered_set_name(mut name: &str) -> bool {
    while let Some(inner) = TRANSPARENT
        .iter()
        .find_map(|wrapper| name.strip_prefix(wrapper))
    {
        name = inner;
    }
    UNORDERED_SETS.iter().any(|set| name.starts_with(set))
}

/// Hashes `value`, as an unordered set when its type is one.
#[inline]
fn feed_value<T: Serialize + ?Sized>(hasher: &mut KeyHasher, value: &T) -> Result<(), HashError> {
    feed_as(hasher, value, is_unordered_set::<T>())
}

/// Hashes `value`, as an unordered set if `set`.
#[inline]
fn feed_as<T: Serialize + ?Sized>(
    hasher: &mut KeyHasher,
    value: &T,
    set: bool,
) -> Result<(), HashError> {
    if set {
        hasher.unordered_next = true;
        let fed = value.serialize(&mut *hasher);
        hasher.unordered_next = false;
        fed
    } else {
        value.serialize(hasher)
    }
}

/// The elements of one sequence, or the keys or values of one map, are almost always of
/// one type: once the first is known not to be a set, the rest are hashed without asking
/// again (for a large `Vec<f32>` on the serde route, asking per element tripled the
/// cost). Only in that direction: were a later element a set after all, it would be
/// hashed in its iteration order, a miss at worst; a set is never taken for a sequence.
#[derive(Default)]
struct ElementKind {
    plain: bool,
}

impl ElementKind {
    #[inline]
    fn feed<T: Serialize + ?Sized>(
        &mut self,
        hasher: &mut KeyHasher,
        value: &T,
    ) -> Result<(), HashError> {
        if self.plain {
            return value.serialize(hasher);
        }
        let set = is_unordered_set::<T>();
        self.plain = !set;
        feed_as(hasher, value, set)
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
    /// The next sequence is an unordered set's (see [`feed_value`]).
    unordered_next: bool,
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
            unordered_next: false,
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
        self.digest()
    }

    /// The hash of what was fed since the last digest, and a fresh start: one hasher
    /// serves every entry of an unordered collection.
    fn digest(&mut self) -> u128 {
        self.sink.drain(self.filled);
        self.filled = 0;
        let digest = self.sink.hasher.finish_128();
        self.sink.hasher = XxHash3_128::new();
        digest
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
    type SerializeSeq = Sequence<'h>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Unordered<'h>;
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
        feed_value(self, value)
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
        feed_value(self, value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        self.put(&index.to_le_bytes());
        feed_value(self, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Sequence<'h>, HashError> {
        if std::mem::take(&mut self.unordered_next) {
            Ok(Sequence::Unordered(Unordered::start(self)))
        } else {
            Ok(Sequence::Ordered(Compound::start(self, len)))
        }
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

    fn serialize_map(self, _len: Option<usize>) -> Result<Unordered<'h>, HashError> {
        Ok(Unordered::start(self))
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

/// A sequence: with a known length the length goes first; without one, each element is
/// preceded by `MORE` and the end marked by `END`.
struct Compound<'h> {
    hasher: &'h mut KeyHasher,
    marked: bool,
    elements: ElementKind,
}

impl<'h> Compound<'h> {
    fn start(hasher: &'h mut KeyHasher, len: Option<usize>) -> Self {
        match len {
            Some(len) => {
                hasher.put_len(len);
                Compound {
                    hasher,
                    marked: false,
                    elements: ElementKind::default(),
                }
            }
            None => Compound {
                hasher,
                marked: true,
                elements: ElementKind::default(),
            },
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        if self.marked {
            self.hasher.put(&[MORE]);
        }
        self.elements.feed(self.hasher, value)
    }

    fn finish(self) {
        if self.marked {
            self.hasher.put(&[END]);
        }
    }
}

/// A sequence as serde hands it over: in order, or an unordered set's.
enum Sequence<'h> {
    Ordered(Compound<'h>),
    Unordered(Unordered<'h>),
}

impl ser::SerializeSeq for Sequence<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        match self {
            Sequence::Ordered(compound) => compound.element(value),
            Sequence::Unordered(unordered) => unordered.entry(value),
        }
    }
    fn end(self) -> Result<(), HashError> {
        match self {
            Sequence::Ordered(compound) => compound.finish(),
            Sequence::Unordered(unordered) => unordered.finish(),
        }
        Ok(())
    }
}

/// A map or an unordered set: each entry (a map's key and value together) is hashed on
/// its own, and the parent sees the entries' count and their hashes in sorted order, so
/// that any iteration order gives the same key.
struct Unordered<'h> {
    parent: &'h mut KeyHasher,
    entry: KeyHasher,
    digests: Vec<u128>,
    keys: ElementKind,
    values: ElementKind,
}

impl<'h> Unordered<'h> {
    fn start(parent: &'h mut KeyHasher) -> Self {
        Unordered {
            parent,
            entry: KeyHasher::new(),
            digests: Vec::new(),
            keys: ElementKind::default(),
            values: ElementKind::default(),
        }
    }

    /// A set's element, or a map entry's value (its key was fed just before).
    fn entry<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.values.feed(&mut self.entry, value)?;
        self.digests.push(self.entry.digest());
        Ok(())
    }

    fn finish(mut self) {
        self.digests.sort_unstable();
        self.parent.put_len(self.digests.len());
        for digest in &self.digests {
            self.parent.put_fixed(digest.to_le_bytes());
        }
    }
}

impl ser::SerializeMap for Unordered<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), HashError> {
        self.keys.feed(&mut self.entry, key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.entry(value)
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
                feed_value(self, value)
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
    use std::collections::{BTreeMap, HashMap, HashSet};

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

    /// Equal content, built in another order with another hasher seed: another
    /// iteration order, as in another process.
    fn scrambled<K: Clone + std::hash::Hash + Eq, V: Clone>(
        entries: &[(K, V)],
    ) -> (HashMap<K, V>, HashMap<K, V>) {
        let forward: HashMap<K, V> = entries.iter().cloned().collect();
        let mut backward = HashMap::with_hasher(std::hash::RandomState::new());
        for (key, value) in entries.iter().rev().cloned() {
            backward.insert(key, value);
        }
        (forward, backward)
    }

    /// A configuration holding sets and maps in the places serde reaches them.
    #[derive(serde::Serialize)]
    struct Config<'a> {
        names: HashSet<u64>,
        // Boxed on purpose: the box must be seen through.
        #[allow(clippy::box_collection)]
        weights: Option<Box<HashMap<String, u32>>>,
        shared: &'a HashSet<u64>,
    }

    #[test]
    fn maps_and_sets_hash_by_content_not_iteration_order() {
        let entries: Vec<(String, u32)> = (0..200).map(|i| (format!("k{i}"), i)).collect();
        let (a, b) = scrambled(&entries);
        assert_ne!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "the two maps iterate differently"
        );
        assert_eq!(h(&a), h(&b));
        let sorted: BTreeMap<String, u32> = entries.iter().cloned().collect();
        assert_eq!(h(&a), h(&sorted), "a map is a map, however it is kept");

        let set_a: HashSet<u64> = (0..300).collect();
        let set_b: HashSet<u64> = (0..300).rev().collect();
        assert_eq!(h(&set_a), h(&set_b));
        // Wherever a set or map stands: a field, an option, a box, a reference, a tuple.
        let config = |names: &HashSet<u64>, weights: &HashMap<String, u32>| Config {
            names: names.clone(),
            weights: Some(Box::new(weights.clone())),
            shared: &set_a,
        };
        assert_eq!(h(&config(&set_a, &a)), h(&config(&set_b, &b)));
        assert_eq!(h(&(&set_a, 1_u8)), h(&(&set_b, 1_u8)));
        assert_eq!(h(&Box::new(set_a.clone())), h(&Box::new(set_b.clone())));
        // Content still counts, and sequences keep their order.
        let mut fewer = set_a.clone();
        fewer.remove(&7);
        assert_ne!(h(&set_a), h(&fewer));
        let mut other = a.clone();
        other.insert("k0".to_owned(), 999);
        assert_ne!(h(&a), h(&other));
        assert_ne!(h(&vec![1_u8, 2]), h(&vec![2_u8, 1]));
        // Nested: a map of sets.
        let nested_a: HashMap<u8, HashSet<u64>> = [(1, set_a.clone()), (2, fewer.clone())].into();
        let nested_b: HashMap<u8, HashSet<u64>> = [(2, fewer.clone()), (1, set_b.clone())].into();
        assert_eq!(h(&nested_a), h(&nested_b));
    }

    const GOLDEN: [&str; 5] = [
        "u64 7: deb6d224c549cbd3e8c0d782b2f61276",
        "str: f153b5de4127564fe82bc79cd1fd2d6b",
        "f64 slice: 56db435813b3e61ade1166f773380063",
        "map: da90b649b52427fb3a8ecfba56b22438",
        "set in option: 41661bb5d690194a63dc0a0cdb0804ba",
    ];

    #[test]
    fn a_map_entry_is_its_key_with_its_value() {
        // Swapping values between keys changes the content, and so the hash.
        let a: BTreeMap<u8, u8> = [(1, 10), (2, 20)].into();
        let b: BTreeMap<u8, u8> = [(1, 20), (2, 10)].into();
        assert_ne!(h(&a), h(&b));
    }

    /// joblib's `test_trivial_hash`: values that differ hash apart, values that are
    /// equal hash alike, across types of one shape.
    #[test]
    fn distinct_values_hash_apart() {
        let values: Vec<u128> = vec![
            h(&1_u64),
            h(&2_u64),
            h(&"a"),
            h(&"b"),
            h(&vec![1_u8, 2]),
            h(&vec![1_u8]),
            h(&(1_u8, 2_u8)),
            h(&Some(1_u8)),
            h(&None::<u8>),
            h(&BTreeMap::from([(1_u8, 2_u8)])),
            h(&BTreeMap::from([(2_u8, 1_u8)])),
            h(&HashSet::from([1_u8, 2])),
            h(&HashSet::from([1_u8, 3])),
        ];
        let distinct: HashSet<u128> = values.iter().copied().collect();
        assert_eq!(distinct.len(), values.len());
        assert_eq!(h(&HashSet::from([1_u8, 2])), h(&HashSet::from([2_u8, 1])));
    }

    /// joblib's `test_hashes_stay_the_same`: a key must not change between runs,
    /// builds or versions without a new `CODEC_VERSION`, or every cache is silently
    /// recomputed. These are the hashes this scheme gives; a change here is a change of
    /// key scheme and must bump `CODEC_VERSION`.
    #[test]
    fn hashes_stay_the_same() {
        let weights: HashMap<String, u32> = [("a".to_owned(), 1), ("b".to_owned(), 2)].into();
        let cases: [(&str, u128); 5] = [
            ("u64 7", h(&7_u64)),
            ("str", h(&"parmemo")),
            ("f64 slice", h(&[0.5_f64, -0.0, f64::NAN][..])),
            ("map", h(&weights)),
            ("set in option", h(&Some(HashSet::from([3_u16, 1, 2])))),
        ];
        let printed: Vec<String> = cases
            .iter()
            .map(|(name, hash)| format!("{name}: {hash:032x}"))
            .collect();
        assert_eq!(
            printed, GOLDEN,
            "the key scheme changed: bump CODEC_VERSION and update"
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
