//! The entry envelope: a small header, then the value as serde_json.
//!
//! ```text
//! byte 0      0xC1: the envelope format, version 1 (never the first byte of UTF-8 text,
//!             so plain JSON written by another client is told apart at once); 0xC2 for
//!             an entry with tags, whose scope generation is followed by t, the number
//!             of tag generations, then each as a length byte and its bytes
//! byte 1      flags: the low four bits name the codec (0 = JSON, 1 = MessagePack, see
//!             [`crate::codec`]); bit 4 ([`GRACE`]) says a grace follows; the others are
//!             reserved and must be zero
//! (grace)     with [`GRACE`]: 4 bytes, big-endian, the milliseconds the entry is kept
//!             past its TTL for fail-safe reads (`#[cached(fail_safe = ...)]`): its
//!             value is fresh while its remaining TTL in Redis is above the grace
//! byte 2      n, the length of the prefix generation, then n bytes
//! next byte   m, the length of the scope generation, then m bytes
//! the rest    the payload
//! ```
//!
//! An entry whose header does not parse, has another format byte or unknown flags, or
//! whose payload does not decode, is a miss: it is counted and overwritten by the next fill.

/// The first byte of every entry without tags.
pub const FORMAT: u8 = 0xC1;

/// The first byte of an entry with tags.
pub const FORMAT_TAGGED: u8 = 0xC2;

/// The flag of an entry kept past its TTL (fail-safe): its grace follows the flags.
pub const GRACE: u8 = 0x10;

use std::time::Duration;

use crate::codec::Codec;

/// Why an entry was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Shorter than its header says.
    #[error("entry is truncated")]
    Truncated,
    /// Another format byte: garbage, or written by another version of this library.
    #[error("entry has unknown format byte {0:#04x}")]
    UnknownFormat(u8),
    /// Flags this version does not know.
    #[error("entry has unknown flags {0:#04x}")]
    UnknownFlags(u8),
}

/// The generations an entry is (or will be) filled under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Generations {
    /// The prefix generation's token.
    pub prefix: bytes::Bytes,
    /// The scope generation's token.
    pub scope: bytes::Bytes,
    /// The tag generations' tokens, in the order of [`crate::key::CallKeys::tag_generations`].
    pub tags: Vec<bytes::Bytes>,
}

/// A decoded envelope, borrowing the stored bytes: the generations it was filled under
/// and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The codec of the payload.
    pub codec: Codec,
    /// How long the entry is kept past its TTL (fail-safe); zero for most entries. Its
    /// value is fresh while the entry's remaining TTL is above it.
    pub grace: Duration,
    /// The prefix generation current when the fill began.
    pub prefix_generation: &'a [u8],
    /// The scope generation current when the fill began.
    pub scope_generation: &'a [u8],
    /// The tag generations current when the fill began: a count, then each as a length
    /// byte and its bytes (empty without tags).
    pub tag_generations: &'a [u8],
    /// The serialized value.
    pub payload: &'a [u8],
}

impl<'a> Entry<'a> {
    /// The tag generations' tokens, in order (empty without tags, or when they do not
    /// parse).
    pub fn tag_tokens(&self) -> Vec<&'a [u8]> {
        let mut tokens = Vec::new();
        let Some((&count, mut rest)) = self.tag_generations.split_first() else {
            return tokens;
        };
        for _ in 0..count {
            let Some((&len, after)) = rest.split_first() else {
                return Vec::new();
            };
            let Some((token, after)) = after.split_at_checked(usize::from(len)) else {
                return Vec::new();
            };
            tokens.push(token);
            rest = after;
        }
        tokens
    }
}

impl Entry<'_> {
    /// Whether this entry was filled under these generations (and no tags).
    pub fn is_current(&self, prefix_generation: &[u8], scope_generation: &[u8]) -> bool {
        self.is_current_with::<&[u8]>(prefix_generation, scope_generation, &[])
    }

    /// Whether this entry was filled under these generations, tags included.
    pub fn is_current_with<T: AsRef<[u8]>>(
        &self,
        prefix_generation: &[u8],
        scope_generation: &[u8],
        tag_generations: &[T],
    ) -> bool {
        if self.prefix_generation != prefix_generation || self.scope_generation != scope_generation
        {
            return false;
        }
        let Some((&count, mut rest)) = self.tag_generations.split_first() else {
            return tag_generations.is_empty();
        };
        if usize::from(count) != tag_generations.len() {
            return false;
        }
        for expected in tag_generations {
            let Some((&len, after)) = rest.split_first() else {
                return false;
            };
            let Some((token, after)) = after.split_at_checked(usize::from(len)) else {
                return false;
            };
            if token != expected.as_ref() {
                return false;
            }
            rest = after;
        }
        true
    }
}

/// Writes the envelope of `payload`, filled under the given generations.
///
/// Generations are tokens of this crate (under 255 bytes); a longer one is cut, which
/// can only make the entry a miss, never a false hit.
pub fn encode(
    codec: Codec,
    prefix_generation: &[u8],
    scope_generation: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    encode_with::<&[u8]>(codec, prefix_generation, scope_generation, &[], payload)
}

/// Writes the envelope of `payload`, filled under the given generations, tags included
/// (at most 255 of them; more make the entry a miss, never a false hit).
pub fn encode_with<T: AsRef<[u8]>>(
    codec: Codec,
    prefix_generation: &[u8],
    scope_generation: &[u8],
    tag_generations: &[T],
    payload: &[u8],
) -> Vec<u8> {
    encode_kept(
        codec,
        Duration::ZERO,
        prefix_generation,
        scope_generation,
        tag_generations,
        payload,
    )
}

/// [`encode_with`] for an entry kept `grace` past its TTL (fail-safe; at most
/// `u32::MAX` milliseconds, about 49 days, longer is cut).
pub fn encode_kept<T: AsRef<[u8]>>(
    codec: Codec,
    grace: Duration,
    prefix_generation: &[u8],
    scope_generation: &[u8],
    tag_generations: &[T],
    payload: &[u8],
) -> Vec<u8> {
    let cut = |generation: &[u8]| generation.len().min(255);
    let tags_len: usize = tag_generations
        .iter()
        .map(|t| 1 + cut(t.as_ref()))
        .sum::<usize>();
    let mut out = Vec::with_capacity(
        9 + prefix_generation.len() + scope_generation.len() + tags_len + payload.len(),
    );
    out.push(if tag_generations.is_empty() {
        FORMAT
    } else {
        FORMAT_TAGGED
    });
    let grace_ms = u32::try_from(grace.as_millis()).unwrap_or(u32::MAX);
    match grace_ms {
        0 => out.push(codec.id()),
        ms => {
            out.push(codec.id() | GRACE);
            out.extend_from_slice(&ms.to_be_bytes());
        }
    }
    for generation in [prefix_generation, scope_generation] {
        out.push(cut(generation) as u8);
        out.extend_from_slice(&generation[..cut(generation)]);
    }
    if !tag_generations.is_empty() {
        out.push(tag_generations.len().min(255) as u8);
        for generation in tag_generations {
            let generation = generation.as_ref();
            out.push(cut(generation) as u8);
            out.extend_from_slice(&generation[..cut(generation)]);
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads an envelope without copying its parts.
pub fn decode(bytes: &[u8]) -> Result<Entry<'_>, EntryError> {
    let (&format, rest) = bytes.split_first().ok_or(EntryError::Truncated)?;
    if format != FORMAT && format != FORMAT_TAGGED {
        return Err(EntryError::UnknownFormat(format));
    }
    let (&flags, mut rest) = rest.split_first().ok_or(EntryError::Truncated)?;
    let codec = Codec::from_id(flags & !GRACE).ok_or(EntryError::UnknownFlags(flags))?;
    let mut grace = Duration::ZERO;
    if flags & GRACE != 0 {
        let (ms, after) = rest.split_first_chunk::<4>().ok_or(EntryError::Truncated)?;
        grace = Duration::from_millis(u64::from(u32::from_be_bytes(*ms)));
        rest = after;
    }
    let mut field = || -> Result<&[u8], EntryError> {
        let (&len, after) = rest.split_first().ok_or(EntryError::Truncated)?;
        if after.len() < len as usize {
            return Err(EntryError::Truncated);
        }
        let (value, after) = after.split_at(len as usize);
        rest = after;
        Ok(value)
    };
    let prefix_generation = field()?;
    let scope_generation = field()?;
    let mut tag_generations: &[u8] = &[];
    if format == FORMAT_TAGGED {
        let start = rest;
        let (&count, mut after) = rest.split_first().ok_or(EntryError::Truncated)?;
        for _ in 0..count {
            let (&len, tail) = after.split_first().ok_or(EntryError::Truncated)?;
            after = tail.get(usize::from(len)..).ok_or(EntryError::Truncated)?;
        }
        tag_generations = &start[..start.len() - after.len()];
        rest = after;
    }
    Ok(Entry {
        codec,
        grace,
        prefix_generation,
        scope_generation,
        tag_generations,
        payload: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw = encode(Codec::Json, b"p1", b"s22", b"{\"a\":1}");
        let entry = decode(&raw).unwrap();
        assert_eq!(entry.codec, Codec::Json);
        assert_eq!(entry.prefix_generation, b"p1");
        assert_eq!(entry.scope_generation, b"s22");
        assert_eq!(entry.payload, b"{\"a\":1}");
        assert!(entry.is_current(b"p1", b"s22"));
        assert!(!entry.is_current(b"p1", b"s23"));
    }

    #[test]
    fn tagged_round_trip() {
        let tags = [&b"t1"[..], b"", b"t333"];
        let raw = encode_with(Codec::Json, b"p1", b"s22", &tags, b"[1]");
        assert_eq!(raw[0], FORMAT_TAGGED);
        let entry = decode(&raw).unwrap();
        assert_eq!(entry.payload, b"[1]");
        assert!(entry.is_current_with(b"p1", b"s22", &tags));
        assert!(!entry.is_current_with(b"p1", b"s22", &[&b"t1"[..], b"", b"t334"]));
        assert!(!entry.is_current_with(b"p1", b"s22", &tags[..2]));
        assert!(
            !entry.is_current(b"p1", b"s22"),
            "a tagged entry needs its tags"
        );
        let untagged = encode(Codec::Json, b"p1", b"s22", b"[1]");
        assert!(
            !decode(&untagged)
                .unwrap()
                .is_current_with(b"p1", b"s22", &tags)
        );
        for cut in 0..raw.len() - 3 {
            let _ = decode(&raw[..cut]); // never a panic
        }
    }

    #[test]
    fn a_grace_round_trips_and_old_entries_have_none() {
        let tags = [&b"t1"[..]];
        let raw = encode_kept(
            Codec::Json,
            Duration::from_secs(3600),
            b"p",
            b"s",
            &tags,
            b"[1]",
        );
        assert_eq!(raw[1], GRACE);
        let entry = decode(&raw).unwrap();
        assert_eq!(entry.grace, Duration::from_secs(3600));
        assert_eq!(entry.payload, b"[1]");
        assert!(entry.is_current_with(b"p", b"s", &tags));
        let plain = encode(Codec::Json, b"p", b"s", b"[1]");
        assert_eq!(decode(&plain).unwrap().grace, Duration::ZERO);
        for cut in 0..raw.len() - 3 {
            let _ = decode(&raw[..cut]); // never a panic
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for raw in [
            &b""[..],
            b"\xC1",
            b"\xC1\x00",
            b"\xC1\x00\x05ab",
            b"\xC1\x00\x01a\x09b",
            b"{\"a\":1}",
            b"\xC2\x00\x00\x00{}",
            b"\xC1\x10\x00\x00{}",
        ] {
            assert!(decode(raw).is_err(), "{raw:?}");
        }
    }
}
