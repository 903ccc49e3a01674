//! Component encoding: how one key argument (a string, or any serde value) becomes one
//! component of a key name (see the format in [`super`]).

use super::MAX_COMPONENT_LEN;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Whether `byte` must be written as `%XX` inside a component.
fn needs_escape(byte: u8) -> bool {
    matches!(
        byte,
        b'%' | b':'
            | b'{'
            | b'}'
            | b'*'
            | b'?'
            | b'['
            | b']'
            | b'\\'
            | b'~'
            | b'#'
            | b'!'
            | b'('
            | b')'
            | b'<'
            | b'>'
            | b','
            | b'='
    ) || byte <= b' '
        || byte == 0x7f
}

/// Appends `raw` to `out`, escaped as described in the module docs.
fn escape_into(out: &mut String, raw: &str) {
    // Scan for the first byte to escape so the common case is one copy.
    let mut start = 0;
    for (i, byte) in raw.bytes().enumerate() {
        if needs_escape(byte) {
            out.push_str(&raw[start..i]);
            let _ = write!(out, "%{byte:02X}");
            start = i + 1;
        }
    }
    out.push_str(&raw[start..]);
}

/// Replaces an over-long encoded component (the tail of `out` from `from`) by its hash.
fn bound_len(out: &mut String, from: usize) {
    if out.len() - from <= MAX_COMPONENT_LEN {
        return;
    }
    let digest = Sha256::digest(&out.as_bytes()[from..]);
    out.truncate(from);
    out.push('#');
    for byte in &digest[..16] {
        let _ = write!(out, "{byte:02x}");
    }
}

/// Appends the encoding of a plain string component (prefix, name) to `out`.
pub(crate) fn push_str_component(out: &mut String, raw: &str) {
    let from = out.len();
    escape_into(out, raw);
    bound_len(out, from);
}

/// Appends the encoding of a serializable value to `out`.
///
/// Strings (and newtypes, `Some`s and unit variants around them, which serialize as JSON
/// strings) are written directly; anything else goes through serde_json. Serialization
/// errors (a map with non-string keys, a failing custom `Serialize`) are reported to the
/// caller, which then bypasses the cache.
pub(crate) fn push_value_component<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
) -> Result<(), serde_json::Error> {
    let from = out.len();
    if value.serialize(StrOnly(out)).is_err() {
        out.truncate(from);
        let json = serde_json::to_string(value)?;
        match as_plain_string(&json) {
            Some(raw) => escape_into(out, raw),
            None if json.starts_with('"') => {
                // A string with JSON escapes in it: decode it to write the string itself.
                let raw: String = serde_json::from_str(&json)?;
                escape_into(out, &raw);
            }
            // A struct, a map, a sequence: readable, unless a number in it has more
            // digits than a float keeps (the readable form reads numbers back as such).
            None if json.starts_with(['{', '[']) && !has_long_number(&json) => {
                push_readable(out, &json)?;
            }
            None => {
                out.push('~');
                escape_into(out, &json);
            }
        }
    }
    bound_len(out, from);
    Ok(())
}

/// Whether the JSON text holds a run of 16 digits or more (a number a float may not keep
/// exactly; digits inside strings count too, which only costs readability).
fn has_long_number(json: &str) -> bool {
    let mut run = 0;
    json.bytes().any(|byte| {
        run = if byte.is_ascii_digit() { run + 1 } else { 0 };
        run >= 16
    })
}

/// Writes the JSON text `json` (as serde_json writes it: no whitespace) in the readable
/// form of a non-string component: a scalar as `~` and its JSON text (`~42`, `~true`,
/// `~null`), an object as `(key=value,…)` and an array as `<value,…>`, in the order of the
/// text (a struct's field order), strings inside written as themselves, escaped. A
/// string cannot start with `(`, `<` or `~`, nor contain `(`, `)`, `<`, `>`, `,` or `=`
/// (all escaped), so the form parses back one way: the encoding stays injective.
fn push_readable(out: &mut String, json: &str) -> Result<(), serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    Readable(out).deserialize(&mut deserializer)?;
    deserializer.end()
}

/// Writes the value it deserializes, readably, into the string it holds.
struct Readable<'a>(&'a mut String);

impl<'de> serde::de::DeserializeSeed<'de> for Readable<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Readable<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "~true" } else { "~false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        let _ = write!(self.0, "~{v}");
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let _ = write!(self.0, "~{v}");
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // serde_json's own text for the number, as the JSON form had it.
        let text = serde_json::to_string(&v).map_err(E::custom)?;
        self.0.push('~');
        escape_into(self.0, &text);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        // The empty string as its JSON text: written as nothing, `[""]` would read as `[]`.
        match v.is_empty() {
            true => self.0.push_str("~\"\""),
            false => escape_into(self.0, v),
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push_str("~null");
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push_str("~null");
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push('<');
        let mut first = true;
        while seq
            .next_element_seed(Element {
                out: self.0,
                first: &mut first,
            })?
            .is_some()
        {}
        self.0.push('>');
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push('(');
        let mut first = true;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !std::mem::take(&mut first) {
                self.0.push(',');
            }
            escape_into(self.0, &key);
            self.0.push('=');
            map.next_value_seed(Readable(self.0))?;
        }
        self.0.push(')');
        Ok(())
    }
}

/// One element of an array, after a comma unless it is the first.
struct Element<'a, 'b> {
    out: &'a mut String,
    first: &'b mut bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Element<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if !std::mem::take(self.first) {
            self.out.push(',');
        }
        Readable(self.out).deserialize(deserializer)
    }
}

/// A serializer that accepts exactly what serde_json writes as a JSON string, writing the
/// string escaped into the key, and refuses everything else (the caller then uses JSON).
/// It saves the hit path a JSON round trip for the usual `&str` / `String` scope.
struct StrOnly<'a>(&'a mut String);

/// "Not a string": the value takes the JSON path.
#[derive(Debug)]
struct NotStr;

impl std::fmt::Display for NotStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a string")
    }
}

impl std::error::Error for NotStr {}

impl serde::ser::Error for NotStr {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotStr
    }
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), NotStr> {
            Err(NotStr)
        })*
    };
}

impl serde::Serializer for StrOnly<'_> {
    type Ok = ();
    type Error = NotStr;
    type SerializeSeq = serde::ser::Impossible<(), NotStr>;
    type SerializeTuple = serde::ser::Impossible<(), NotStr>;
    type SerializeTupleStruct = serde::ser::Impossible<(), NotStr>;
    type SerializeTupleVariant = serde::ser::Impossible<(), NotStr>;
    type SerializeMap = serde::ser::Impossible<(), NotStr>;
    type SerializeStruct = serde::ser::Impossible<(), NotStr>;
    type SerializeStructVariant = serde::ser::Impossible<(), NotStr>;

    fn serialize_str(self, v: &str) -> Result<(), NotStr> {
        escape_into(self.0, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), NotStr> {
        escape_into(self.0, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NotStr> {
        escape_into(self.0, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotStr> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotStr> {
        value.serialize(self)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotStr> {
        Err(NotStr)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotStr> {
        Err(NotStr)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotStr> {
        Err(NotStr)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotStr> {
        Err(NotStr)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotStr> {
        Err(NotStr)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotStr> {
        Err(NotStr)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotStr> {
        Err(NotStr)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotStr> {
        Err(NotStr)
    }
}

/// The content of a JSON string literal that holds no escape sequence.
fn as_plain_string(json: &str) -> Option<&str> {
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// Encodes one value as a key component, as the attributes do for each key argument.
///
/// Exposed so that tools (and the key snapshot tests) can show what a value becomes.
///
/// ```
/// assert_eq!(cache_core::key::component(&"acme").unwrap(), "acme");
/// assert_eq!(cache_core::key::component(&"a:b").unwrap(), "a%3Ab");
/// assert_eq!(cache_core::key::component(&42).unwrap(), "~42");
/// ```
pub fn component<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    push_value_component(&mut out, value)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_stay_readable_and_separators_are_escaped() {
        assert_eq!(component("tenant-42").unwrap(), "tenant-42");
        assert_eq!(component("a:b{c}*").unwrap(), "a%3Ab%7Bc%7D%2A");
        assert_eq!(component("été").unwrap(), "été");
        assert_eq!(component("").unwrap(), "");
        assert_eq!(component("quote\"d").unwrap(), "quote\"d");
        assert_eq!(component("new\nline").unwrap(), "new%0Aline");
    }

    #[test]
    fn strings_take_the_direct_path_and_agree_with_json() {
        #[derive(Serialize)]
        struct TenantId(String);
        #[derive(Serialize)]
        enum Sort {
            Newest,
        }
        assert_eq!(component(&TenantId("a:b".into())).unwrap(), "a%3Ab");
        assert_eq!(component(&Some("x")).unwrap(), "x");
        assert_eq!(component(&Sort::Newest).unwrap(), "Newest");
        assert_eq!(component(&'é').unwrap(), "é");
        // The same bytes as the JSON route gives for strings with escapes.
        assert_eq!(component("tab\there").unwrap(), "tab%09here");
    }

    #[test]
    fn non_strings_are_marked() {
        assert_eq!(component(&42u32).unwrap(), "~42");
        assert_eq!(component("42").unwrap(), "42");
        assert_eq!(component(&Option::<u8>::None).unwrap(), "~null");
        assert_eq!(component("~null").unwrap(), "%7Enull");
    }

    #[test]
    fn long_components_are_hashed_and_bounded() {
        let long = "x".repeat(200);
        let encoded = component(&long).unwrap();
        assert!(encoded.starts_with('#'));
        assert_eq!(encoded.len(), 33);
        assert_ne!(encoded, component(&"x".repeat(201)).unwrap());
        // MAX_COMPONENT_LEN bytes exactly stay readable.
        let limit = "y".repeat(MAX_COMPONENT_LEN);
        assert_eq!(component(&limit).unwrap(), limit);
    }
}
