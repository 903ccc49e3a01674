//! [`Keyring`]: the configured keys, ready to seal, open and name.

use super::EncryptionKeys;
#[cfg(feature = "encryption")]
use super::aead::{NONCE, TAG, VERSION, associated, hex, xchacha};
use crate::entry::Generations;
use std::sync::Arc;

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
