//! How the attributes serialize cached values: JSON by default; MessagePack with the
//! `msgpack` feature, when decoding JSON is what bounds throughput (a list of a few KB
//! costs about as much to parse as a local round trip).
//!
//! The envelope records the codec of each entry (see [`crate::entry`]), so entries written
//! with one codec are still read after a switch to the other. Keys and values of the plain
//! operations (`get`, `set`, `get_or_set`) are always JSON, readable by any client.

use crate::option_mark::{Marked, unmarked};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The serialization of cached values; set with [`crate::CacheBuilder::codec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Codec {
    /// serde_json (the default).
    #[default]
    Json,
    /// MessagePack with field names (`rmp_serde::to_vec_named`), so that structs keep
    /// decoding across field reordering and `skip_serializing_if`.
    #[cfg(feature = "msgpack")]
    MessagePack,
}

/// A value that would not encode or decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

impl Codec {
    /// The codec's number in the envelope's flags.
    pub(crate) fn id(self) -> u8 {
        match self {
            Codec::Json => 0,
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => 1,
        }
    }

    /// The codec numbered `id`, if this build has it.
    pub(crate) fn from_id(id: u8) -> Option<Codec> {
        match id {
            0 => Some(Codec::Json),
            #[cfg(feature = "msgpack")]
            1 => Some(Codec::MessagePack),
            _ => None,
        }
    }

    pub(crate) fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::Json => serde_json::to_vec(value).map_err(|e| CodecError(e.to_string())),
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => {
                rmp_serde::to_vec_named(value).map_err(|e| CodecError(e.to_string()))
            }
        }
    }

    /// Encodes a cached value, its top-level `Option` marked (see [`crate::option_mark`]).
    pub(crate) fn encode_value<T: Serialize + ?Sized>(
        self,
        value: &T,
    ) -> Result<Vec<u8>, CodecError> {
        self.encode(&Marked(value))
    }

    /// Decodes what [`Codec::encode_value`] wrote.
    pub(crate) fn decode_value<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        let error = |e: &dyn std::fmt::Display| CodecError(e.to_string());
        match self {
            Codec::Json => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let value = unmarked(&mut de).map_err(|e| error(&e))?;
                de.end().map_err(|e| error(&e))?;
                Ok(value)
            }
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => {
                let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
                unmarked(&mut de).map_err(|e| error(&e))
            }
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| CodecError(e.to_string())),
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => {
                rmp_serde::from_slice(bytes).map_err(|e| CodecError(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Codec;

    #[test]
    fn round_trips_and_ids() {
        let value = vec![("a".to_owned(), 1u32)];
        let json = Codec::Json.encode(&value).unwrap();
        assert_eq!(
            Codec::Json.decode::<Vec<(String, u32)>>(&json).unwrap(),
            value
        );
        assert_eq!(Codec::from_id(Codec::Json.id()), Some(Codec::Json));
        assert_eq!(Codec::from_id(9), None);
        #[cfg(feature = "msgpack")]
        {
            let packed = Codec::MessagePack.encode(&value).unwrap();
            assert_eq!(
                Codec::MessagePack
                    .decode::<Vec<(String, u32)>>(&packed)
                    .unwrap(),
                value
            );
            assert!(Codec::Json.decode::<Vec<(String, u32)>>(&packed).is_err());
            assert_eq!(
                Codec::from_id(Codec::MessagePack.id()),
                Some(Codec::MessagePack)
            );
        }
    }
}
