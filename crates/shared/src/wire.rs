//! How a `Shared` array serializes: inline as its raw bytes (any format, any reader), or,
//! under [`attach::collect`](crate::attach::collect), as a reference to memory that
//! travels beside the value. Both forms name the element type, which is checked when read.

use crate::attach;
use crate::codec;
use crate::element::Element;
use crate::region::Region;
use crate::Shared;
use serde::de::{self, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::ser::{SerializeStructVariant, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

const NAME: &str = "Shared";
const VARIANTS: &[&str] = &["Inline", "Attached"];

impl<E: Element> Serialize for Shared<[E]> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(index) = attach::set_aside(self.region()) {
            let mut variant = serializer.serialize_struct_variant(NAME, 1, "Attached", 3)?;
            variant.serialize_field("element", E::NAME)?;
            variant.serialize_field("index", &(index as u64))?;
            variant.serialize_field("len", &(self.len() as u64))?;
            return variant.end();
        }
        let mut variant = serializer.serialize_struct_variant(NAME, 0, "Inline", 2)?;
        variant.serialize_field("element", E::NAME)?;
        variant.serialize_field("bytes", &RawBytes(self.bytes()))?;
        variant.end()
    }
}

/// Bytes serialized as one block (`serialize_bytes`): a length and a memcpy in binary
/// formats, never a call per byte.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Inline bytes read straight into the memory of a new array (one copy).
struct InlineBytes(Region);

impl<'de> Deserialize<'de> for InlineBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = InlineBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array's bytes")
            }
            fn visit_bytes<Er: de::Error>(self, bytes: &[u8]) -> Result<InlineBytes, Er> {
                Ok(InlineBytes(Region::copied(bytes)))
            }
            // Self-describing formats without a bytes type (JSON) give a sequence.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InlineBytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                self.visit_bytes(&bytes)
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

enum Field {
    Element,
    Index,
    Len,
    Bytes,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("element, index, len or bytes")
            }
            fn visit_str<Er: de::Error>(self, name: &str) -> Result<Field, Er> {
                match name {
                    "element" => Ok(Field::Element),
                    "index" => Ok(Field::Index),
                    "len" => Ok(Field::Len),
                    "bytes" => Ok(Field::Bytes),
                    other => Err(Er::unknown_field(
                        other,
                        &["element", "index", "len", "bytes"],
                    )),
                }
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// Which form an array was written in.
#[derive(Clone, Copy)]
enum Form {
    Inline,
    Attached,
}

impl<'de> Deserialize<'de> for Form {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FormVisitor;
        impl Visitor<'_> for FormVisitor {
            type Value = Form;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Inline or Attached")
            }
            fn visit_u64<Er: de::Error>(self, index: u64) -> Result<Form, Er> {
                match index {
                    0 => Ok(Form::Inline),
                    1 => Ok(Form::Attached),
                    _ => Err(Er::invalid_value(de::Unexpected::Unsigned(index), &self)),
                }
            }
            fn visit_str<Er: de::Error>(self, name: &str) -> Result<Form, Er> {
                match name {
                    "Inline" => Ok(Form::Inline),
                    "Attached" => Ok(Form::Attached),
                    other => Err(Er::unknown_variant(other, VARIANTS)),
                }
            }
        }
        deserializer.deserialize_identifier(FormVisitor)
    }
}

impl<'de, E: Element> Deserialize<'de> for Shared<[E]> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_enum(NAME, VARIANTS, SharedVisitor::<E>(std::marker::PhantomData))
    }
}

struct SharedVisitor<E>(std::marker::PhantomData<E>);

impl<'de, E: Element> Visitor<'de> for SharedVisitor<E> {
    type Value = Shared<[E]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a Shared array of {}", E::NAME)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (form, variant) = data.variant::<Form>()?;
        match form {
            Form::Inline => {
                variant.struct_variant(&["element", "bytes"], FieldsVisitor::<E>::new(form))
            }
            Form::Attached => {
                variant.struct_variant(&["element", "index", "len"], FieldsVisitor::<E>::new(form))
            }
        }
    }
}

/// The fields of either form, in order (binary formats) or by name (self-describing ones).
struct FieldsVisitor<E>(Form, std::marker::PhantomData<E>);

impl<E> FieldsVisitor<E> {
    fn new(form: Form) -> Self {
        FieldsVisitor(form, std::marker::PhantomData)
    }
}

#[derive(Default)]
struct Fields {
    element: Option<String>,
    index: Option<u64>,
    len: Option<u64>,
    bytes: Option<Region>,
}

impl Fields {
    fn finish<E: Element, Er: de::Error>(self) -> Result<Shared<[E]>, Er> {
        let element = self.element.ok_or_else(|| Er::missing_field("element"))?;
        if element != E::NAME {
            return Err(codec::refused(format!(
                "an array of {element} cannot be read as an array of {}",
                E::NAME
            )));
        }
        let region = match (self.bytes, self.index) {
            (Some(bytes), _) => Arc::new(bytes),
            (None, Some(index)) => {
                let index =
                    usize::try_from(index).map_err(|err| codec::refused(err.to_string()))?;
                attach::take(index).map_err(codec::refused)?
            }
            (None, None) => return Err(Er::missing_field("bytes")),
        };
        let array = Shared::<[E]>::from_region(region).map_err(codec::refused)?;
        if let Some(len) = self.len {
            if array.len() as u64 != len {
                return Err(codec::refused(format!(
                    "an array of {len} {element} arrived with {} of them",
                    array.len()
                )));
            }
        }
        Ok(array)
    }
}

impl<'de, E: Element> Visitor<'de> for FieldsVisitor<E> {
    type Value = Shared<[E]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the fields of a Shared array of {}", E::NAME)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Binary formats give the fields in order: the element name, then the bytes
        // (inline) or the index and the length (attached).
        let missing = |at| de::Error::invalid_length(at, &"the fields of a Shared array");
        let mut fields = Fields {
            element: Some(seq.next_element()?.ok_or_else(|| missing(0))?),
            ..Fields::default()
        };
        match self.0 {
            Form::Inline => {
                let bytes: InlineBytes = seq.next_element()?.ok_or_else(|| missing(1))?;
                fields.bytes = Some(bytes.0);
            }
            Form::Attached => {
                fields.index = Some(seq.next_element()?.ok_or_else(|| missing(1))?);
                fields.len = Some(seq.next_element()?.ok_or_else(|| missing(2))?);
            }
        }
        fields.finish()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields::default();
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Element => fields.element = Some(map.next_value()?),
                Field::Index => fields.index = Some(map.next_value()?),
                Field::Len => fields.len = Some(map.next_value()?),
                Field::Bytes => fields.bytes = Some(map.next_value::<InlineBytes>()?.0),
            }
        }
        fields.finish()
    }
}
