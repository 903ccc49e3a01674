//! The payload stage: a call's value to the bytes stored under its key, and back.
//!
//! An attribute's entry is the value encoded with the cache's codec, its top-level
//! `Option` marked ([`crate::option_mark`]), inside the envelope that records the
//! generations it was filled under ([`crate::entry`]). A user key (`get_or_set`) holds
//! plain JSON, as [`crate::Cache::set`] writes it, readable by any client. Compression
//! or encryption would be one more step here, between the encoded value and the envelope.

use crate::codec::{Codec, CodecError};
use crate::entry::{self, Generations};
use crate::key::CallKeys;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How a value becomes stored bytes, for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Payload {
    codec: Codec,
    /// An attribute's entry (marked, in the envelope), or plain JSON.
    entry: bool,
    /// How long an entry is kept past its TTL (fail-safe), written in its envelope.
    grace: Duration,
}

impl Payload {
    /// The payload of an attribute's entry written with `codec`.
    pub fn entry(codec: Codec) -> Payload {
        Payload {
            codec,
            entry: true,
            grace: Duration::ZERO,
        }
    }

    /// Plain JSON, as [`crate::Cache::set`] writes it.
    pub fn plain() -> Payload {
        Payload {
            codec: Codec::Json,
            entry: false,
            grace: Duration::ZERO,
        }
    }

    /// What a fill of `keys` writes: plain JSON for a user key, else an entry with
    /// `codec`.
    pub fn for_keys(keys: &CallKeys, codec: Codec) -> Payload {
        match keys.is_plain() {
            true => Payload::plain(),
            false => Payload::entry(codec),
        }
    }

    /// The same, for an entry kept `grace` past its TTL (fail-safe).
    pub fn kept(self, grace: Duration) -> Payload {
        Payload { grace, ..self }
    }

    /// The value's encoded bytes.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self.entry {
            true => self.codec.encode_value(value),
            false => self.codec.encode(value),
        }
    }

    /// The value of encoded bytes.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        match self.entry {
            true => self.codec.decode_value(bytes),
            false => self.codec.decode(bytes),
        }
    }

    /// The bytes to store for `encoded`, filled under `generations`, and where the
    /// encoded value starts in them.
    pub fn envelop(self, generations: &Generations, encoded: Vec<u8>) -> (Bytes, usize) {
        if !self.entry {
            return (Bytes::from(encoded), 0);
        }
        let envelope = entry::encode_kept(
            self.codec,
            self.grace,
            &generations.prefix,
            &generations.scope,
            &generations.tags,
            &encoded,
        );
        let at = envelope.len() - encoded.len();
        (Bytes::from(envelope), at)
    }
}
