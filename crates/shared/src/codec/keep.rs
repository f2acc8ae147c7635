//! A deserializer that keeps the message of a type's own error.
//!
//! postcard's error type has no room for a message: `de::Error::custom("13 is unlucky")`
//! becomes a bare `SerdeDeCustom`. So the value is not deserialized from postcard
//! directly but through [`Keeping`], which hands every `Deserialize` it reaches an error
//! type of its own, [`Kept`], that holds the message. Where such an error must cross one
//! of postcard's layers (a visitor returning into postcard's sequence, say), it is parked
//! in a thread-local and picked up again on the other side.
//!
//! Every wrapper forwards one call to the one it wraps. The layer costs up to twice the
//! time of a plain decode, so the codec only uses it to explain a decode that failed.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use std::cell::RefCell;
use std::fmt;

/// An error of a value being decoded: the message a `Deserialize` gave, or the format's.
#[derive(Debug)]
pub(super) enum Kept {
    /// From the type's own `Deserialize` (`de::Error::custom` and the like).
    Message(String),
    /// From the format, as its `Display` says it.
    Format(String),
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::Message(text) | Kept::Format(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Kept {}

impl de::Error for Kept {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Kept::Message(message.to_string())
    }
}

thread_local! {
    /// A [`Kept`] error on its way through a layer of the format.
    static IN_FLIGHT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Forgets any error parked by an earlier decode on this thread.
pub(super) fn reset() {
    IN_FLIGHT.with(|parked| parked.borrow_mut().take());
}

/// A `Kept` error entering a layer of the format, whose error type may not hold it.
fn into_format<E: de::Error>(kept: Kept) -> E {
    let error = E::custom(&kept);
    IN_FLIGHT.with(|parked| *parked.borrow_mut() = Some(kept));
    error
}

/// An error leaving a layer of the format: the `Kept` error it stands for, when it is the
/// one parked (a type that swallowed an error and went on must not lend its message to
/// a later failure).
#[allow(clippy::needless_pass_by_value)] // `map_err` hands it over by value
fn from_format<E: de::Error>(error: E) -> Kept {
    let text = error.to_string();
    let parked = IN_FLIGHT.with(|parked| parked.borrow_mut().take());
    match parked {
        Some(kept) if E::custom(&kept).to_string() == text => kept,
        _ => Kept::Format(text),
    }
}

/// Deserializes through `D`, handing the value's `Deserialize` [`Kept`] errors.
pub(super) struct Keeping<D>(pub(super) D);

struct KeepingVisitor<V>(V);

struct KeepingSeed<S>(S);

struct KeepingSeq<A>(A);

struct KeepingMap<A>(A);

struct KeepingEnum<A>(A);

struct KeepingVariant<A>(A);

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Kept> {
            self.0.$method($($arg,)* KeepingVisitor(visitor)).map_err(from_format)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Keeping<D> {
    type Error = Kept;

    deserializer_methods!(forward_deserialize);
    forward_deserialize! {
        deserialize_seq();
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.0.$method::<Kept>(value).map_err(into_format)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeepingVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    visitor_methods!(forward_visit);

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none::<Kept>().map_err(into_format)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit::<Kept>().map_err(into_format)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0
            .visit_some(Keeping(deserializer))
            .map_err(into_format)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0
            .visit_newtype_struct(Keeping(deserializer))
            .map_err(into_format)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(KeepingSeq(seq)).map_err(into_format)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(KeepingMap(map)).map_err(into_format)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(KeepingEnum(data)).map_err(into_format)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeepingSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0
            .deserialize(Keeping(deserializer))
            .map_err(into_format)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for KeepingSeq<A> {
    type Error = Kept;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Kept> {
        self.0
            .next_element_seed(KeepingSeed(seed))
            .map_err(from_format)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for KeepingMap<A> {
    type Error = Kept;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Kept> {
        self.0.next_key_seed(KeepingSeed(seed)).map_err(from_format)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Kept> {
        self.0
            .next_value_seed(KeepingSeed(seed))
            .map_err(from_format)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for KeepingEnum<A> {
    type Error = Kept;
    type Variant = KeepingVariant<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), Kept> {
        self.0
            .variant_seed(KeepingSeed(seed))
            .map(|(value, variant)| (value, KeepingVariant(variant)))
            .map_err(from_format)
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for KeepingVariant<A> {
    type Error = Kept;

    fn unit_variant(self) -> Result<(), Kept> {
        self.0.unit_variant().map_err(from_format)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Kept> {
        self.0
            .newtype_variant_seed(KeepingSeed(seed))
            .map_err(from_format)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Kept> {
        self.0
            .tuple_variant(len, KeepingVisitor(visitor))
            .map_err(from_format)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Kept> {
        self.0
            .struct_variant(fields, KeepingVisitor(visitor))
            .map_err(from_format)
    }
}
