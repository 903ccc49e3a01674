//! Sensitive data at rest: the values of sensitive sites sealed with an AEAD, and their
//! key arguments written in key names as a keyed hash.
//!
//! - **Sealing**: XChaCha20-Poly1305, a fresh random 24-byte nonce per entry (random
//!   nonces of that size never realistically repeat). The associated data is the entry's
//!   full key and the generation tokens the value is stored under ([`associated`]): an
//!   entry copied under another key (another tenant's) fails to open, and so does an old
//!   sealed body spliced under the header of the current entry (a revoked session under
//!   today's generations), since its tokens are not the current ones. The
//!   construction of draft-irtf-cfrg-xchacha: HChaCha20 (RustCrypto's `chacha20`) derives
//!   a key per nonce from its first 16 bytes, and ring's ChaCha20-Poly1305 (assembly,
//!   twice RustCrypto's speed here) seals with the last 8; a test checks that RustCrypto's
//!   `XChaCha20Poly1305` opens what this seals, and the other way round.
//!   Sealed bytes: `T` (the version: `S` bound the key alone), the key id's length and the
//!   id, the nonce, the ciphertext and its tag. Anything that does not open (another key,
//!   a retired key, other generations, a flipped byte, a truncation, the older `S`) is a
//!   counted miss, refilled by the next load.
//! - **Keys**: [`EncryptionKeys`], `id:base64` pairs; the first seals, all open, so a
//!   rotation adds a key in front and retires old ones later. Never logged.
//! - **Key names**: each key argument (scope, arguments, tag values) of a sensitive
//!   prefix is written `~h` + 32 hex digits of HMAC-SHA256, keyed by a key derived from
//!   the *naming key*: the one given as such ([`EncryptionKeys::with_naming_key`],
//!   `CACHE_NAMING_KEY`), else the last (oldest) of the keys. Every process of a
//!   namespace must name alike, or one's invalidations miss the other's entries: the
//!   naming key never changes with a rotation. Adding a key in front keeps the last one;
//!   retiring the last one means keeping it as the naming key (it then names, and no
//!   longer opens anything). Its fingerprint ([`Keyring::fingerprint`]) is published in
//!   the fleet's manifests ([`crate::fleet`]), so a process that names otherwise than its
//!   live peers is told, and refuses its sensitive prefixes rather than split the fleet.

use super::EncryptionKeys;
use crate::entry::Generations;
use std::sync::Arc;

/// The first byte of sealed bytes, their version.
#[cfg(feature = "encryption")]
const VERSION: u8 = b'T';

/// The associated data of a sealed value: the entry's full key and the generation tokens
/// it is stored under (prefix, scope, then tags), each behind its length, so that no two
/// (key, tokens) give the same bytes.
#[cfg(feature = "encryption")]
fn associated(key: &str, generations: &Generations) -> Vec<u8> {
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
#[cfg(feature = "encryption")]
const NONCE: usize = 24;

/// The Poly1305 tag's length.
#[cfg(feature = "encryption")]
const TAG: usize = 16;

/// XChaCha20-Poly1305 for one 24-byte nonce: ChaCha20-Poly1305 under the HChaCha20 subkey
/// of the nonce's first 16 bytes, with the nonce `0000` + its last 8 bytes.
#[cfg(feature = "encryption")]
fn xchacha(
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
#[cfg(feature = "encryption")]
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Why sealed bytes did not open.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(feature = "encryption"), allow(dead_code))]
pub(crate) enum OpenError {
    #[error("not a sealed value")]
    NotSealed,
    #[error("sealed with key `{0}`, which is not configured (retired?)")]
    UnknownKey(String),
    #[error(
        "does not open with its key (tampered, truncated, under another key name, or under other generations)"
    )]
    Forged,
}

/// The keys, ready: ciphers and the key-name hasher.
pub(crate) struct Keyring {
    #[cfg(feature = "encryption")]
    ciphers: Vec<(String, chacha20::Key)>,
    /// The HMAC keyed for key names, cloned per component (keying it costs more than a
    /// short component's hash).
    #[cfg(feature = "encryption")]
    names: hmac::Hmac<sha2::Sha256>,
    /// The naming key's fingerprint, and the ids of the keys (never their bytes).
    fingerprint: String,
    ids: Vec<String>,
}

impl Keyring {
    /// The keyring of `keys`; `None` without keys (or without the `encryption` feature):
    /// sensitive sites are then not cached.
    pub fn new(keys: &EncryptionKeys) -> Option<Arc<Keyring>> {
        #[cfg(feature = "encryption")]
        {
            use hmac::Mac;
            keys.keys.first()?;
            let (_, naming) = keys.naming.as_ref().or(keys.keys.last())?;
            let ciphers = keys
                .keys
                .iter()
                .map(|(id, key)| (id.clone(), chacha20::Key::from(*key)))
                .collect();
            let mut derive = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(naming).ok()?;
            derive.update(b"cache-core key names v1");
            let names_key = derive.finalize().into_bytes();
            let names = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&names_key).ok()?;
            // A message no key component can be (components never hold a control byte).
            let mut mac = names.clone();
            mac.update(b"\0fleet fingerprint");
            let fingerprint = hex(&mac.finalize().into_bytes()[..8]);
            let ids = keys.ids().into_iter().map(str::to_owned).collect();
            Some(Arc::new(Keyring {
                ciphers,
                names,
                fingerprint,
                ids,
            }))
        }
        #[cfg(not(feature = "encryption"))]
        {
            let _ = keys;
            None
        }
    }

    /// A fingerprint of the naming key: equal in two processes exactly when they write
    /// the same names (16 hex digits of an HMAC under it; says nothing of the key).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The ids of the keys, the sealing one first.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// `plaintext` sealed for the entry `key`, stored under `generations`.
    #[cfg(feature = "encryption")]
    pub fn seal(&self, key: &str, generations: &Generations, plaintext: &[u8]) -> Option<Vec<u8>> {
        use ring::rand::SecureRandom;
        let (id, secret) = self.ciphers.first()?;
        let mut nonce = [0u8; NONCE];
        ring::rand::SystemRandom::new().fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(2 + id.len() + NONCE + plaintext.len() + TAG);
        out.push(VERSION);
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(plaintext);
        let (cipher, nonce) = xchacha(secret, &nonce);
        let tag = cipher
            .seal_in_place_separate_tag(
                nonce,
                ring::aead::Aad::from(associated(key, generations)),
                &mut out[body..],
            )
            .ok()?;
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    /// The plaintext of `sealed`, read under the entry `key` with `generations` current.
    #[cfg(feature = "encryption")]
    pub fn open(
        &self,
        key: &str,
        generations: &Generations,
        sealed: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        let rest = sealed
            .strip_prefix(&[VERSION])
            .ok_or(OpenError::NotSealed)?;
        let (&len, rest) = rest.split_first().ok_or(OpenError::NotSealed)?;
        let id = rest.get(..usize::from(len)).ok_or(OpenError::NotSealed)?;
        let rest = &rest[usize::from(len)..];
        let nonce: &[u8; NONCE] = rest
            .get(..NONCE)
            .and_then(|nonce| nonce.try_into().ok())
            .ok_or(OpenError::NotSealed)?;
        let id = std::str::from_utf8(id).map_err(|_| OpenError::NotSealed)?;
        let (_, secret) = self
            .ciphers
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let mut body = rest[NONCE..].to_vec();
        let (cipher, nonce) = xchacha(secret, nonce);
        let plain = cipher
            .open_in_place(
                nonce,
                ring::aead::Aad::from(associated(key, generations)),
                &mut body,
            )
            .map_err(|_| OpenError::Forged)?
            .len();
        body.truncate(plain);
        Ok(body)
    }

    /// A key component written as its keyed hash: `~h` and 32 hex digits.
    #[cfg(feature = "encryption")]
    pub fn hash_component(&self, component: &str) -> String {
        use hmac::Mac;
        let mut mac = self.names.clone();
        mac.update(component.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("~h{}", hex(&digest[..16]))
    }

    #[cfg(not(feature = "encryption"))]
    pub fn seal(&self, _: &str, _: &Generations, _: &[u8]) -> Option<Vec<u8>> {
        None
    }

    #[cfg(not(feature = "encryption"))]
    pub fn open(&self, _: &str, _: &Generations, _: &[u8]) -> Result<Vec<u8>, OpenError> {
        Err(OpenError::NotSealed)
    }

    #[cfg(not(feature = "encryption"))]
    pub fn hash_component(&self, _: &str) -> String {
        String::from("~h")
    }
}

#[cfg(all(test, feature = "encryption"))]
mod tests {
    use super::{EncryptionKeys, Keyring, OpenError, associated};
    use crate::entry::Generations;

    /// Generations with these tokens (prefix, scope, tags).
    fn tokens(prefix: &str, scope: &str, tags: &[&str]) -> Generations {
        Generations {
            prefix: bytes::Bytes::copy_from_slice(prefix.as_bytes()),
            scope: bytes::Bytes::copy_from_slice(scope.as_bytes()),
            tags: tags
                .iter()
                .map(|tag| bytes::Bytes::copy_from_slice(tag.as_bytes()))
                .collect(),
        }
    }

    fn g() -> Generations {
        tokens("p1", "s1", &[])
    }

    fn ring(keys: &[(&str, u8)]) -> std::sync::Arc<Keyring> {
        let keys = keys.iter().fold(EncryptionKeys::new(), |keys, (id, byte)| {
            keys.with_key(*id, [*byte; 32])
        });
        Keyring::new(&keys).expect("a keyring")
    }

    /// The seal is XChaCha20-Poly1305 as RustCrypto (and libsodium) define it: each opens
    /// what the other sealed, for lengths around the block and tag sizes.
    #[test]
    fn the_seal_is_standard_xchacha20_poly1305() {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let keyring = ring(&[("k", 9)]);
        let reference = chacha20poly1305::XChaCha20Poly1305::new(&[9u8; 32].into());
        let entry = "ns:c4:{session:019}:~h8f78:current:0";
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 1000, 7600] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let sealed = keyring.seal(entry, &g(), &plaintext).expect("sealed");
            let (nonce, body) = sealed[3..].split_at(24);
            let opened = reference
                .decrypt(
                    nonce.into(),
                    Payload {
                        msg: body,
                        aad: &associated(entry, &g()),
                    },
                )
                .expect("RustCrypto opens our seal");
            assert_eq!(opened, plaintext, "{len} bytes");
            let theirs = reference
                .encrypt(
                    nonce.into(),
                    Payload {
                        msg: &plaintext,
                        aad: &associated(entry, &g()),
                    },
                )
                .expect("RustCrypto seals");
            let mut ours = sealed[..3 + 24].to_vec();
            ours.extend_from_slice(&theirs);
            assert_eq!(
                ours, sealed,
                "the same bytes for the same nonce, {len} bytes"
            );
            assert_eq!(
                keyring.open(entry, &g(), &ours).expect("we open theirs"),
                plaintext
            );
        }
    }

    #[test]
    fn sealed_values_open_only_under_their_key_name_and_key() {
        let ring = ring(&[("k1", 1)]);
        let sealed = ring.seal("ns:a", &g(), b"secret value").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(ring.open("ns:a", &g(), &sealed).unwrap(), b"secret value");
        assert!(matches!(
            ring.open("ns:b", &g(), &sealed),
            Err(OpenError::Forged)
        ));
        // Under other generations (an old body under a current header): it does not open,
        // whichever token differs, one more or one less included.
        for other in [
            tokens("p2", "s1", &[]),
            tokens("p1", "s2", &[]),
            tokens("p1", "s1", &["t1"]),
            tokens("p1s", "1", &[]),
        ] {
            assert!(
                matches!(ring.open("ns:a", &other, &sealed), Err(OpenError::Forged)),
                "{other:?}"
            );
        }
        let tagged = ring
            .seal("ns:a", &tokens("p1", "s1", &["t1", "t2"]), b"v")
            .unwrap();
        assert!(
            ring.open("ns:a", &tokens("p1", "s1", &["t1", "t3"]), &tagged)
                .is_err()
        );
        assert_eq!(
            ring.open("ns:a", &tokens("p1", "s1", &["t1", "t2"]), &tagged)
                .unwrap(),
            b"v"
        );
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x01;
            assert!(
                ring.open("ns:a", &g(), &flipped).is_err(),
                "byte {i} flipped opened"
            );
        }
        for len in 0..sealed.len() {
            assert!(
                ring.open("ns:a", &g(), &sealed[..len]).is_err(),
                "truncated to {len} opened"
            );
        }
        // Two seals of one value differ (fresh nonces).
        assert_ne!(
            ring.seal("ns:a", &g(), b"x").unwrap(),
            ring.seal("ns:a", &g(), b"x").unwrap()
        );
    }

    #[test]
    fn rotation_opens_old_entries_until_their_key_is_retired() {
        let old = ring(&[("k1", 1)]);
        let sealed = old.seal("ns:a", &g(), b"v").unwrap();
        let rotated = ring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.open("ns:a", &g(), &sealed).unwrap(), b"v");
        assert!(
            rotated
                .seal("ns:a", &g(), b"v")
                .unwrap()
                .starts_with(b"T\x02k2")
        );
        // Names stay while keys are added in front.
        assert_eq!(old.hash_component("acme"), rotated.hash_component("acme"));
        assert_eq!(old.fingerprint(), rotated.fingerprint());
        // Retired, and kept as the naming key: names stay, k1 opens nothing.
        let retired = Keyring::new(
            &EncryptionKeys::new()
                .with_key("k2", [2; 32])
                .with_naming_key("k1", [1; 32]),
        )
        .expect("a keyring");
        assert!(matches!(
            retired.open("ns:a", &g(), &sealed),
            Err(OpenError::UnknownKey(_))
        ));
        assert_eq!(old.hash_component("acme"), retired.hash_component("acme"));
        assert_eq!(old.fingerprint(), retired.fingerprint());
        // Retired and dropped: other names, another fingerprint (what the fleet's
        // manifests tell apart).
        let renamed = ring(&[("k2", 2)]);
        assert_ne!(old.hash_component("acme"), renamed.hash_component("acme"));
        assert_ne!(old.fingerprint(), renamed.fingerprint());
        // A naming key alone seals nothing.
        assert!(Keyring::new(&EncryptionKeys::new().with_naming_key("k1", [1; 32])).is_none());
    }

    #[test]
    fn keys_parse_and_never_show() {
        let keys = EncryptionKeys::parse(
            "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, k1:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
        )
        .unwrap();
        assert_eq!(keys.ids(), ["k2", "k1"]);
        assert!(!format!("{keys:?}").contains("AQEB"));
        for bad in [
            "k1",
            "k1:c2hvcnQ=",
            ":AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            "k 1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        ] {
            let error = EncryptionKeys::parse(bad).unwrap_err().to_string();
            assert!(
                !error.contains("AQEB") && !error.contains("c2hv"),
                "{error}"
            );
        }
        let twice = "a:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,a:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        assert!(EncryptionKeys::parse(twice).is_err());
        let named = keys
            .clone()
            .parse_naming_key(" k0:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM= ")
            .unwrap();
        assert_eq!(named.naming_id(), Some("k0"));
        assert_eq!(keys.naming_id(), Some("k1"));
        assert!(!format!("{named:?}").contains("AwMD"));
        let error = keys
            .clone()
            .parse_naming_key("k0:c2hvcnQ=")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("naming key") && !error.contains("c2hv"),
            "{error}"
        );
        let ring = Keyring::new(&keys).unwrap();
        let hashed = ring.hash_component("alice@example.com");
        assert!(hashed.starts_with("~h") && hashed.len() == 34, "{hashed}");
        assert!(!hashed.contains("alice"));
    }
}
