//! The sealing primitives: XChaCha20-Poly1305 from HChaCha20 and ring's ChaCha20-Poly1305,
//! the associated data of an entry, and the sealed bytes' version.
#![cfg(feature = "encryption")]

use crate::entry::Generations;

/// The first byte of sealed bytes, their version.
pub(super) const VERSION: u8 = b'T';

/// The associated data of a sealed value: the entry's full key and the generation tokens
/// it is stored under (prefix, scope, then tags), each behind its length, so that no two
/// (key, tokens) give the same bytes.
pub(super) fn associated(key: &str, generations: &Generations) -> Vec<u8> {
    let tokens = [&generations.prefix, &generations.scope]
        .into_iter()
        .chain(&generations.tags);
    let mut out = Vec::with_capacity(key.len() + 8 + 24 * (2 + generations.tags.len()));
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(&len(key.len()));
    out.extend_from_slice(key.as_bytes());
    for token in tokens {
        out.extend_from_slice(&len(token.len()));
        out.extend_from_slice(token);
    }
    out
}

/// The nonce's length: 192 bits, random per entry.
pub(super) const NONCE: usize = 24;

/// The Poly1305 tag's length.
pub(super) const TAG: usize = 16;

/// XChaCha20-Poly1305 for one 24-byte nonce: ChaCha20-Poly1305 under the HChaCha20 subkey
/// of the nonce's first 16 bytes, with the nonce `0000` + its last 8 bytes.
pub(super) fn xchacha(
    secret: &chacha20::Key,
    nonce: &[u8; NONCE],
) -> (ring::aead::LessSafeKey, ring::aead::Nonce) {
    use chacha20::cipher::consts::U10;
    let mut head = [0u8; 16];
    head.copy_from_slice(&nonce[..16]);
    let subkey = chacha20::hchacha::<U10>(secret, &head.into());
    let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, subkey.as_slice())
        .expect("a 32-byte ChaCha20-Poly1305 key");
    let mut short = [0u8; 12];
    short[4..].copy_from_slice(&nonce[16..]);
    (
        ring::aead::LessSafeKey::new(unbound),
        ring::aead::Nonce::assume_unique_for_key(short),
    )
}

/// Lower-case hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
