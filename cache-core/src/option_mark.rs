//! Exact round trips of a cached `Option`: `Some(x)` is stored as a sequence of one
//! element, `None` as an empty one.
//!
//! serde_json (and MessagePack) write `Some(x)` as `x` itself, so when `x` is itself
//! written as `null` (`()`, a unit struct, `serde_json::Value::Null`, an inner `None`),
//! `Some(x)` reads back as `None`. The payload of a cached value therefore marks an
//! `Option` at its top level (and under newtype structs) instead of inferring `None` from
//! `null`; an `Option` directly inside a marked `Some` or newtype is marked too. Every
//! other value is written exactly as the codec writes it: options in fields or sequences
//! are written by the codec as usual (for JSON, as serde_json round-trips them).

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Serializes `T` with its top-level `Option` marked.
pub struct Marked<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Serialize for Marked<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(MarkSer(serializer))
    }
}

/// Deserializes a `T` written by [`Marked`].
pub fn unmarked<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::deserialize(Unmark(deserializer))
}

struct MarkSer<S>(S);

macro_rules! forward_ser {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.0.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for MarkSer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = S::SerializeMap;
    type SerializeStruct = S::SerializeStruct;
    type SerializeStructVariant = S::SerializeStructVariant;

    forward_ser! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_seq(Some(0))?.end()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let mut seq = self.0.serialize_seq(Some(1))?;
        seq.serialize_element(&Marked(value))?;
        seq.end()
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Marked(value))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<S::SerializeSeq, S::Error> {
        self.0.serialize_seq(len)
    }

    fn serialize_tuple(self, len: usize) -> Result<S::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<S::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<S::SerializeTupleVariant, S::Error> {
        self.0.serialize_tuple_variant(name, index, variant, len)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<S::SerializeMap, S::Error> {
        self.0.serialize_map(len)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<S::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<S::SerializeStructVariant, S::Error> {
        self.0.serialize_struct_variant(name, index, variant, len)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

struct Unmark<D>(D);

macro_rules! forward_de {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Unmark<D> {
    type Error = D::Error;

    forward_de! {
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
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_seq(OptionSeq(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Newtype(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// Reads a marked option: `[x]` is `Some(x)`, `[]` is `None`.
struct OptionSeq<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionSeq<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an option marked as a sequence of at most one element")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V::Value, A::Error> {
        let mut visitor = Some(self.0);
        let value = match seq.next_element_seed(SomeSeed(&mut visitor))? {
            Some(value) => value,
            None => match visitor.take() {
                Some(visitor) => visitor.visit_none()?,
                None => return Err(de::Error::custom("option read twice")),
            },
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(2, &"at most one element"));
        }
        Ok(value)
    }
}

/// The element of a marked `Some`, handed to the option's visitor.
struct SomeSeed<'a, V>(&'a mut Option<V>);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for SomeSeed<'_, V> {
    type Value = V::Value;

    fn deserialize<E: Deserializer<'de>>(self, element: E) -> Result<V::Value, E::Error> {
        match self.0.take() {
            Some(visitor) => visitor.visit_some(Unmark(element)),
            None => Err(de::Error::custom("option read twice")),
        }
    }
}

/// A newtype struct's content is read marked too, as it was written.
struct Newtype<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Newtype<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_newtype_struct<E: Deserializer<'de>>(self, inner: E) -> Result<V::Value, E::Error> {
        self.0.visit_newtype_struct(Unmark(inner))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::{Marked, unmarked};
    use serde::{Deserialize, Serialize, de::DeserializeOwned};
    use std::fmt::Debug;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper(Option<()>);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Page {
        items: Vec<u32>,
        next: Option<u32>,
    }

    fn json<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) -> String {
        let bytes = serde_json::to_vec(&Marked(&value)).unwrap();
        let back: T = unmarked(&mut serde_json::Deserializer::from_slice(&bytes)).unwrap();
        assert_eq!(back, value);
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn options_round_trip_exactly() {
        assert_eq!(json(Some(())), "[null]");
        assert_eq!(json(None::<()>), "[]");
        assert_eq!(json(Some(serde_json::Value::Null)), "[null]");
        assert_eq!(json(Some(Unit)), "[null]");
        assert_eq!(json(Some(Some(()))), "[[null]]");
        assert_eq!(json(Some(None::<u8>)), "[[]]");
        assert_eq!(json(Some(vec![Some(1)])), "[[1]]");
        assert_eq!(json(Wrapper(Some(()))), "[null]");
        assert_eq!(json(Wrapper(None)), "[]");
    }

    #[test]
    fn other_values_are_written_as_the_codec_writes_them() {
        let page = Page {
            items: vec![1, 2],
            next: None,
        };
        assert_eq!(json(page), r#"{"items":[1,2],"next":null}"#);
        assert_eq!(json(7u8), "7");
        assert_eq!(json(()), "null");
        assert_eq!(json(vec![Some(1), None]), "[1,null]");
        assert_eq!(json(Ok::<u8, String>(1)), r#"{"Ok":1}"#);
    }

    #[test]
    fn unmarked_option_data_is_an_error_never_a_panic() {
        for raw in ["null", "5", "[1,2]", "{}", "\"x\""] {
            let read: Result<Option<u8>, _> =
                unmarked(&mut serde_json::Deserializer::from_str(raw));
            assert!(read.is_err(), "{raw}");
        }
    }
}
