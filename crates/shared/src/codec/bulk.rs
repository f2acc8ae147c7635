//! Vectors of numbers encoded and decoded whole, wherever they sit in a value.
//!
//! serde hands a `Vec<f64>` to a format one element per call, and builds one back the
//! same way: 50 ms each way for 64 MB here, where the bytes themselves are a `memcpy`.
//! postcard writes an `f32`, `f64`, `u8` or `i8` as its little-endian bytes, so a vector
//! of them is its length (a varint) and then exactly its memory. This layer wraps
//! postcard's serializer and deserializer, forwards every call, and takes such vectors
//! in one step: the bytes are postcard's own, so either side may go through it or not.
//!
//! What qualifies is decided by type, never by content:
//! - encoding: `Vec<E>` and `[E]` reach a serializer through `collect_seq` with the
//!   iterator `&Vec<E>` or `&[E]`, known by its type id (`typeid`: the types need not be
//!   `'static`);
//! - decoding: serde builds a `Vec<E>` with one private visitor type per `E`, whose type
//!   id is learned once by a probe (a deserializer that records the visitor it is
//!   handed). Only that visitor is answered in one step: a custom visitor that builds a
//!   `Vec<f64>` from something else reads its own bytes as before.
//!
//! A length is checked against the bytes left before anything is allocated.
//!
//! **Beside the bytes.** Where the other side takes attachments (a worker process of
//! this machine), [`vectors_aside`] sets large vectors beside the encoding instead of
//! inside it, as `Shared` arrays are: each is copied once into fresh memory (huge pages)
//! that is written to the socket as it is and read on the other side straight into the
//! vector the value will own. In its place the encoding holds a length no input could
//! hold (`ASIDE_MARK` plus the attachment's index): a reader that does not take this
//! route fails on it rather than misreading it.

use crate::attach::{self, Attachment};
use crate::element::Element;
use crate::plain;
use crate::region::Region;
use postcard::de_flavors::Flavor as DeFlavor;
use postcard::ser_flavors::Flavor as SerFlavor;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{self, Serialize, Serializer};
use std::any::TypeId;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

type Result<T> = postcard::Result<T>;

/// The vectors of at least this many bytes go beside the encoding in [`vectors_aside`]:
/// below it, a copy inside the encoding costs less than an attachment's bookkeeping.
const ASIDE_FROM: usize = 64 << 10;

/// Lengths from here on name an attachment (`ASIDE_MARK + index`): no input of this
/// machine holds that many elements.
const ASIDE_MARK: u64 = 1 << 62;

/// Vectors this large are read into memory advised into huge pages (see `plain::fresh`).
const FRESH_FROM: usize = 1 << 20;

thread_local! {
    static ASIDE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `encode` with large vectors of raw numbers set aside as attachments (under
/// [`attach::collect`], which receives them), rather than copied into the encoding.
pub(crate) fn vectors_aside<R>(encode: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ASIDE.with(|aside| aside.set(self.0));
        }
    }
    let _restore = Restore(ASIDE.with(|aside| aside.replace(true)));
    encode()
}

/// Calls `$apply!(E, raw)` for each element type: `raw` says whether postcard's
/// encoding of an `E` is its bytes (else it is a varint, and only the route beside the
/// encoding takes the vector whole).
macro_rules! for_each_element {
    ($apply:ident) => {
        $apply!(f64, true);
        $apply!(f32, true);
        $apply!(u8, true);
        $apply!(i8, true);
        $apply!(u16, false);
        $apply!(u32, false);
        $apply!(u64, false);
        $apply!(i16, false);
        $apply!(i32, false);
        $apply!(i64, false);
    };
}

// ---------------------------------------------------------------------------------------
// Encoding

/// An output a value is encoded onto: postcard's flavor for a `Vec<u8>` it extends.
pub(super) struct Onto<'a>(pub(super) &'a mut Vec<u8>);

impl SerFlavor for Onto<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> Result<()> {
        Ok(())
    }
}

/// `value` encoded at the end of `bytes`, vectors of raw numbers in one step.
pub(super) fn encode_onto<T: Serialize + ?Sized>(bytes: &mut Vec<u8>, value: &T) -> Result<()> {
    let mut serializer = postcard::Serializer {
        output: Onto(bytes),
    };
    value.serialize(Bulk(&mut serializer))
}

/// postcard's serializer, with vectors of raw numbers written whole.
struct Bulk<'a, 'b>(&'a mut postcard::Serializer<Onto<'b>>);

/// The compound serializers: each element goes through [`Bulk`] again.
struct Compound<'a, 'b>(&'a mut postcard::Serializer<Onto<'b>>);

/// Writes `iter` whole when it is `&Vec<E>` or `&[E]` for an element type `E`: beside
/// the encoding ([`vectors_aside`], when large), else as its raw bytes when those are
/// postcard's encoding. `None`: the caller writes it element by element.
fn whole_slice<I>(serializer: &mut Bulk<'_, '_>, iter: &I) -> Option<Result<()>> {
    macro_rules! check {
        ($e:ty, $raw:expr) => {
            let slice: Option<&[$e]> = if typeid::of::<I>() == TypeId::of::<&'static Vec<$e>>() {
                // SAFETY: `I` is `&Vec<$e>` (the type ids are equal; lifetimes aside, a
                // reference has one layout), so the copy is that reference.
                Some(unsafe { std::mem::transmute_copy::<I, &Vec<$e>>(iter) }.as_slice())
            } else if typeid::of::<I>() == TypeId::of::<&'static [$e]>() {
                // SAFETY: as above, for `&[$e]` (a fat pointer, copied whole).
                Some(unsafe { std::mem::transmute_copy::<I, &[$e]>(iter) })
            } else {
                None
            };
            if let Some(values) = slice {
                if let Some(written) = set_aside(serializer, values) {
                    return Some(written);
                }
                if $raw {
                    return Some(write_raw(serializer, values));
                }
                return None;
            }
        };
    }
    for_each_element!(check);
    None
}

/// In [`vectors_aside`], a large `values` as an attachment of its copy, named in the
/// encoding by `ASIDE_MARK` plus its index.
fn set_aside<E: Element>(serializer: &mut Bulk<'_, '_>, values: &[E]) -> Option<Result<()>> {
    if size_of_val(values) < ASIDE_FROM || !ASIDE.with(Cell::get) {
        return None;
    }
    let mut copy = plain::fresh::<E>(values.len()).ok()?;
    crate::copy::copy_bytes(
        plain::bytes_of_mut(&mut copy),
        plain::bytes_of_slice(values),
    );
    let index = attach::set_aside(&Arc::new(Region::from_vec(copy)))?;
    Some((&mut *serializer.0).serialize_u64(ASIDE_MARK + index as u64))
}

/// Writes `values` as postcard does, their length and then their bytes (for the types
/// whose encoding is their bytes).
fn write_raw<E: Element>(serializer: &mut Bulk<'_, '_>, values: &[E]) -> Result<()> {
    (&mut *serializer.0).serialize_u64(values.len() as u64)?;
    serializer
        .0
        .output
        .try_extend(plain::bytes_of_slice(values))
}

macro_rules! forward_scalars {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<()> {
            self.0.$method(v)
        }
    )*};
}

/// The compound serializers, each postcard's own wrapped so that its elements go
/// through [`Bulk`] again.
macro_rules! forward_compounds {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<Compound<'a, 'b>> {
            self.0.$method($($arg),*).map(Compound)
        }
    )*};
}

impl<'a, 'b> Serializer for Bulk<'a, 'b> {
    type Ok = ();
    type Error = postcard::Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    forward_scalars! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_struct(&'static str);
    }

    fn serialize_none(self) -> Result<()> {
        self.0.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        // postcard's `Some`: the tag 1, then the value.
        self.0.output.try_push(1)?;
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.0.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.0.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        // postcard writes a newtype struct as its content.
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        // postcard writes the variant's index, then the content.
        self.0.serialize_unit_variant(name, index, variant)?;
        value.serialize(self)
    }

    forward_compounds! {
        serialize_seq(len: Option<usize>);
        serialize_tuple(len: usize);
        serialize_tuple_struct(name: &'static str, len: usize);
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize);
        serialize_map(len: Option<usize>);
        serialize_struct(name: &'static str, len: usize);
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize);
    }

    fn collect_seq<I>(mut self, iter: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if let Some(written) = whole_slice(&mut self, &iter) {
            return written;
        }
        let iter = iter.into_iter();
        let len = match iter.size_hint() {
            (lower, Some(upper)) if lower == upper => Some(lower),
            _ => None,
        };
        let mut seq = self.serialize_seq(len)?;
        for item in iter {
            ser::SerializeSeq::serialize_element(&mut seq, &item)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        self.0.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = postcard::Error;

            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: &'static str,)?
                value: &T,
            ) -> Result<()> {
                value.serialize(Bulk(&mut *self.0))
            }

            fn end(self) -> Result<()> {
                ser::$trait::end(self.0)
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, _key);
compound!(SerializeStructVariant, serialize_field, _key);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = postcard::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        key.serialize(Bulk(&mut *self.0))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(Bulk(&mut *self.0))
    }

    fn end(self) -> Result<()> {
        ser::SerializeMap::end(self.0)
    }
}

// ---------------------------------------------------------------------------------------
// Decoding

/// Where decoding stands in the input: shared by postcard's deserializer (through
/// [`Cursor`], its flavor) and this layer, which reads raw vectors from it directly.
type Position<'de> = Rc<Cell<&'de [u8]>>;

/// postcard's input flavor over a [`Position`].
pub(super) struct Cursor<'de>(Position<'de>);

impl<'de> DeFlavor<'de> for Cursor<'de> {
    type Remainder = usize;
    type Source = ();

    #[inline]
    fn pop(&mut self) -> Result<u8> {
        let (&first, rest) = self
            .0
            .get()
            .split_first()
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.0.set(rest);
        Ok(first)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.get().len())
    }

    #[inline]
    fn try_take_n(&mut self, ct: usize) -> Result<&'de [u8]> {
        let rest = self.0.get();
        if ct > rest.len() {
            return Err(postcard::Error::DeserializeUnexpectedEnd);
        }
        let (taken, rest) = rest.split_at(ct);
        self.0.set(rest);
        Ok(taken)
    }

    fn finalize(self) -> Result<usize> {
        Ok(self.0.get().len())
    }
}

/// The value at the start of `bytes`, vectors of raw numbers in one step, and how many
/// bytes follow it.
pub(super) fn decode_prefix<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<(T, usize)> {
    let position: Position<'de> = Rc::new(Cell::new(bytes));
    let mut deserializer = postcard::Deserializer::from_flavor(Cursor(Rc::clone(&position)));
    let value = T::deserialize(Unbulk {
        inner: &mut deserializer,
        position: &position,
    })?;
    Ok((value, position.get().len()))
}

/// The type id of the visitor serde's `Vec<E>` hands `deserialize_seq`, learned once.
fn vector_visitor<E: de::DeserializeOwned>(cell: &OnceLock<TypeId>) -> TypeId {
    *cell.get_or_init(|| {
        let mut seen = None;
        let _ = <Vec<E> as de::Deserialize>::deserialize(Probe(&mut seen));
        // A visitor never seen matches no type id of a visitor.
        seen.unwrap_or_else(TypeId::of::<Probe<'static>>)
    })
}

/// A deserializer that records the type of the visitor `deserialize_seq` is handed.
struct Probe<'a>(&'a mut Option<TypeId>);

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Self::Error> {
        Err(de::Error::custom("a probe"))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Self::Error> {
        *self.0 = Some(typeid::of::<V>());
        Err(de::Error::custom("a probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// A deserializer of the format (postcard's, or one postcard hands a visitor), reading
/// from `position`, with vectors of raw numbers read whole.
struct Unbulk<'p, 'de, D> {
    inner: D,
    position: &'p Position<'de>,
}

impl<'de, D: Deserializer<'de>> Unbulk<'_, 'de, D> {
    /// The vector the next bytes hold, read whole, when `V` is serde's visitor of
    /// `Vec<E>` for an element type `E` and the vector was set beside the encoding or
    /// is held as raw bytes; else the deserializer and the visitor back, and the caller
    /// goes on as usual.
    fn whole_vector<V: Visitor<'de>>(
        inner: D,
        position: &Position<'de>,
        visitor: V,
    ) -> std::result::Result<std::result::Result<V::Value, D::Error>, (D, V)> {
        macro_rules! check {
            ($e:ty, $raw:expr) => {{
                static VISITOR: OnceLock<TypeId> = OnceLock::new();
                if typeid::of::<V>() == vector_visitor::<$e>(&VISITOR) {
                    let read = if peek_length(position).is_some_and(|len| len >= ASIDE_MARK) {
                        read_aside::<$e, D>(inner)
                    } else if $raw {
                        read_raw::<$e, D>(inner, position)
                    } else {
                        return Err((inner, visitor));
                    };
                    return Ok(read.map(|vector| {
                        let vector = std::mem::ManuallyDrop::new(vector);
                        // SAFETY: `V` is serde's visitor of `Vec<$e>`, whose `Value` is
                        // `Vec<$e>`: the vector is moved into its own type (and not
                        // dropped here).
                        unsafe { std::mem::transmute_copy::<Vec<$e>, V::Value>(&vector) }
                    }));
                }
            }};
        }
        for_each_element!(check);
        Err((inner, visitor))
    }
}

/// The length a sequence at `position` announces (postcard's varint), without reading
/// it: `None` if the bytes are not one. Only compared with `ASIDE_MARK`; the length
/// itself is then read by the format.
fn peek_length(position: &Position<'_>) -> Option<u64> {
    let mut value = 0_u64;
    for (at, byte) in position.get().iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * at);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A length that names an attachment (read by the format itself), and the vector the
/// attachment holds.
fn read_aside<'de, E: Element, D: Deserializer<'de>>(
    inner: D,
) -> std::result::Result<Vec<E>, D::Error> {
    let len = read_length(inner)?;
    let index = len
        .checked_sub(ASIDE_MARK)
        .and_then(|index| usize::try_from(index).ok())
        .ok_or_else(|| de::Error::custom("a vector set aside is named by a length out of range"))?;
    let region = attach::take(index).map_err(de::Error::custom)?;
    plain::vector_of::<E>(Attachment(region)).map_err(de::Error::custom)
}

/// A sequence's length: postcard writes the varint of a `usize`, the varint of a `u64`
/// on the 64-bit targets this crate builds for.
fn read_length<'de, D: Deserializer<'de>>(inner: D) -> std::result::Result<u64, D::Error> {
    <u64 as de::Deserialize>::deserialize(inner)
}

/// A length (read by the format itself) and that many raw `E`s read straight from
/// `position`.
fn read_raw<'de, E: Element + Default, D: Deserializer<'de>>(
    inner: D,
    position: &Position<'de>,
) -> std::result::Result<Vec<E>, D::Error> {
    let len = read_length(inner)?;
    let rest = position.get();
    let bytes = usize::try_from(len)
        .ok()
        .and_then(|len| len.checked_mul(std::mem::size_of::<E>()))
        .filter(|&bytes| bytes <= rest.len())
        .ok_or_else(|| {
            de::Error::custom(format!(
                "a vector of {len} elements is announced where {} bytes are left",
                rest.len()
            ))
        })?;
    let (taken, rest) = rest.split_at(bytes);
    position.set(rest);
    let count = bytes / std::mem::size_of::<E>();
    let mut vector: Vec<E> = if bytes >= FRESH_FROM {
        plain::fresh(count).map_err(de::Error::custom)?
    } else {
        vec![E::default(); count]
    };
    crate::copy::copy_bytes(plain::bytes_of_mut(&mut vector), taken);
    Ok(vector)
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($arg: $ty,)*
            visitor: V,
        ) -> std::result::Result<V::Value, D::Error> {
            let position = self.position;
            self.inner.$method($($arg,)* Wrapped { inner: visitor, position })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Unbulk<'_, 'de, D> {
    type Error = D::Error;

    deserializer_methods!(forward_deserialize);

    fn deserialize_seq<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let position = self.position;
        match Self::whole_vector(self.inner, position, visitor) {
            Ok(read) => read,
            Err((inner, visitor)) => inner.deserialize_seq(Wrapped {
                inner: visitor,
                position,
            }),
        }
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// A visitor, seed or access of the format, whose deserializers go through [`Unbulk`].
struct Wrapped<'p, 'de, T> {
    inner: T,
    position: &'p Position<'de>,
}

impl<'p, 'de, T> Wrapped<'p, 'de, T> {
    fn around<U>(&self, inner: U) -> Wrapped<'p, 'de, U> {
        Wrapped {
            inner,
            position: self.position,
        }
    }

    fn unbulk<D>(&self, inner: D) -> Unbulk<'p, 'de, D> {
        Unbulk {
            inner,
            position: self.position,
        }
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> std::result::Result<V::Value, E> {
            self.inner.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrapped<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    visitor_methods!(forward_visit);

    fn visit_none<E: de::Error>(self) -> std::result::Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<V::Value, D::Error> {
        let deserializer = self.unbulk(deserializer);
        self.inner.visit_some(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<V::Value, D::Error> {
        let deserializer = self.unbulk(deserializer);
        self.inner.visit_newtype_struct(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<V::Value, A::Error> {
        let seq = self.around(seq);
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<V::Value, A::Error> {
        let map = self.around(map);
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> std::result::Result<V::Value, A::Error> {
        let data = self.around(data);
        self.inner.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrapped<'_, 'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<S::Value, D::Error> {
        let deserializer = self.unbulk(deserializer);
        self.inner.deserialize(deserializer)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrapped<'_, 'de, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<Option<S::Value>, A::Error> {
        let seed = self.around(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrapped<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, A::Error> {
        let seed = self.around(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<S::Value, A::Error> {
        let seed = self.around(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'p, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrapped<'p, 'de, A> {
    type Error = A::Error;
    type Variant = Wrapped<'p, 'de, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> std::result::Result<(S::Value, Self::Variant), A::Error> {
        let seed = self.around(seed);
        let position = self.position;
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((
            value,
            Wrapped {
                inner: variant,
                position,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrapped<'_, 'de, A> {
    type Error = A::Error;

    fn unit_variant(self) -> std::result::Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> std::result::Result<S::Value, A::Error> {
        let seed = self.around(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> std::result::Result<V::Value, A::Error> {
        let visitor = self.around(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, A::Error> {
        let visitor = self.around(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Empty,
        Samples(Vec<f64>),
        Pair { left: Vec<f32>, right: Vec<i8> },
        Tuple(Vec<u8>, u16),
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Record {
        name: String,
        samples: Vec<f64>,
        weights: Option<Vec<f32>>,
        rows: Vec<Vec<f64>>,
        counts: Vec<u32>,
        shapes: Vec<Shape>,
        pair: (Vec<i8>, Vec<u8>),
        wrapped: Newtype,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Newtype(Vec<f64>);

    fn record() -> impl Strategy<Value = Record> {
        let f64s = || proptest::collection::vec(any::<f64>(), 0..40);
        let shape = prop_oneof![
            Just(Shape::Empty),
            f64s().prop_map(Shape::Samples),
            (
                proptest::collection::vec(any::<f32>(), 0..9),
                proptest::collection::vec(any::<i8>(), 0..9)
            )
                .prop_map(|(left, right)| Shape::Pair { left, right }),
            (proptest::collection::vec(any::<u8>(), 0..300), any::<u16>())
                .prop_map(|(bytes, n)| Shape::Tuple(bytes, n)),
        ];
        (
            ".{0,8}",
            f64s(),
            proptest::option::of(proptest::collection::vec(any::<f32>(), 0..20)),
            proptest::collection::vec(f64s(), 0..4),
            proptest::collection::vec(any::<u32>(), 0..10),
            proptest::collection::vec(shape, 0..4),
            (
                proptest::collection::vec(any::<i8>(), 0..200),
                proptest::collection::vec(any::<u8>(), 0..200),
            ),
            f64s(),
        )
            .prop_map(
                |(name, samples, weights, rows, counts, shapes, pair, wrapped)| Record {
                    name,
                    samples,
                    weights,
                    rows,
                    counts,
                    shapes,
                    pair,
                    wrapped: Newtype(wrapped),
                },
            )
    }

    /// Equal as bits: NaNs compare unequal as numbers.
    fn bits(record: &Record) -> Vec<u8> {
        postcard::to_stdvec(record).unwrap()
    }

    proptest! {
        #[test]
        fn the_bytes_are_postcards_own_both_ways(record in record()) {
            let mut ours = Vec::new();
            encode_onto(&mut ours, &record).unwrap();
            let theirs = postcard::to_stdvec(&record).unwrap();
            prop_assert_eq!(&ours, &theirs);
            let (back, rest): (Record, usize) = decode_prefix(&theirs).unwrap();
            prop_assert_eq!(rest, 0);
            prop_assert_eq!(bits(&back), theirs);
        }

        #[test]
        fn cut_bytes_are_an_error_never_a_panic(record in record(), cut in 0..10_000_usize) {
            let bytes = postcard::to_stdvec(&record).unwrap();
            let at = cut % bytes.len().max(1);
            if at < bytes.len() {
                prop_assert!(decode_prefix::<Record>(&bytes[..at]).is_err());
            }
        }
    }

    #[test]
    fn slices_and_references_are_written_whole_too() {
        let values = vec![1.5_f64, -2.0, f64::NAN];
        let mut ours = Vec::new();
        encode_onto(&mut ours, &(&values[..], &values, 7_u8)).unwrap();
        assert_eq!(
            ours,
            postcard::to_stdvec(&(&values[..], &values, 7_u8)).unwrap()
        );
    }

    /// Builds a `Vec<f64>` from `f32`s on the wire: a visitor of its own, which must be
    /// handed its own bytes, not a vector read as `f64`s.
    #[derive(Debug, PartialEq)]
    struct Widened(Vec<f64>);

    impl<'de> Deserialize<'de> for Widened {
        fn deserialize<D: Deserializer<'de>>(
            deserializer: D,
        ) -> std::result::Result<Self, D::Error> {
            struct Widening;
            impl<'de> Visitor<'de> for Widening {
                type Value = Vec<f64>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("f32s")
                }
                fn visit_seq<A: SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> std::result::Result<Vec<f64>, A::Error> {
                    let mut out = Vec::new();
                    while let Some(x) = seq.next_element::<f32>()? {
                        out.push(f64::from(x));
                    }
                    Ok(out)
                }
            }
            deserializer.deserialize_seq(Widening).map(Widened)
        }
    }

    #[test]
    fn a_visitor_of_its_own_reads_its_own_bytes() {
        let bytes = postcard::to_stdvec(&(vec![1.5_f32, 2.5], 9_u8)).unwrap();
        let (back, rest): ((Widened, u8), usize) = decode_prefix(&bytes).unwrap();
        assert_eq!(back, (Widened(vec![1.5, 2.5]), 9));
        assert_eq!(rest, 0);
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Nested {
        label: String,
        samples: Vec<f64>,
        counts: Option<Vec<u32>>,
        rows: Vec<Vec<i16>>,
        small: Vec<f32>,
        pair: (Vec<u8>, u64),
        shared: crate::Shared<[f64]>,
    }

    fn nested() -> Nested {
        Nested {
            label: "walsh".to_owned(),
            samples: (0..20_000).map(f64::from).collect(),
            counts: Some((0..30_000).collect()),
            rows: vec![vec![-3; 40_000], vec![7; 3]],
            small: vec![0.5; 10],
            pair: (vec![9; 70_000], 12),
            shared: crate::Shared::from(vec![2.5; 10_000]),
        }
    }

    #[test]
    fn large_vectors_anywhere_go_beside_the_encoding_and_come_back() {
        let value = vec![nested(), nested()];
        let mut bytes = Vec::new();
        let (encoded, attached) =
            attach::collect(|| vectors_aside(|| encode_onto(&mut bytes, &value)));
        encoded.unwrap();
        // Per value: samples, counts, the long row, the byte vector and the `Shared`.
        assert_eq!(attached.len(), 10);
        assert!(bytes.len() < 400, "{} bytes inside", bytes.len());
        let (back, rest): (Vec<Nested>, usize) =
            attach::provide(attached, || decode_prefix(&bytes)).unwrap();
        assert_eq!((back, rest), (value, 0));
        // Without them, an error: never a vector read from the wrong bytes.
        assert!(decode_prefix::<Vec<Nested>>(&bytes).is_err());
    }

    #[test]
    fn outside_vectors_aside_the_encoding_is_postcards() {
        let value = nested();
        let mut ours = Vec::new();
        let (encoded, _) = attach::collect(|| encode_onto(&mut ours, &value));
        encoded.unwrap();
        let (theirs, _) = attach::collect(|| postcard::to_stdvec(&value).unwrap());
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_length_beyond_the_bytes_is_an_error_not_an_allocation() {
        // A varint of 2^60 elements, then nothing.
        let bytes = postcard::to_stdvec(&(1_u64 << 60)).unwrap();
        let err = decode_prefix::<Vec<f64>>(&bytes).unwrap_err();
        assert_eq!(err, postcard::Error::SerdeDeCustom);
    }
}
