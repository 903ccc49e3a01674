//! [`EncryptionKeys`]: the keys that seal and open sensitive values, and the naming key,
//! as configured (`CACHE_ENCRYPTION_KEYS`, `CACHE_NAMING_KEY`, or built in code).

use crate::error::CacheError;
use std::fmt;

/// The keys that seal and open sensitive values: the first seals, all open.
///
/// ```
/// # use cache_core::EncryptionKeys;
/// // Two 32-byte keys, base64: `k2` seals, entries sealed with `k1` still open.
/// let keys = EncryptionKeys::parse(
///     "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,k1:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
/// )?;
/// assert_eq!(keys.ids(), ["k2", "k1"]);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
///
/// The keys of sensitive key names come from the *naming key*: the last key, unless one is
/// given with [`EncryptionKeys::with_naming_key`] (`CACHE_NAMING_KEY`). It must be the same
/// in every process of a namespace, through every step of a rotation: to retire the last
/// key, keep it as the naming key.
///
/// ```
/// # use cache_core::EncryptionKeys;
/// // Step two of a rotation: `k1` retired from sealing and opening, still naming.
/// let keys = EncryptionKeys::parse("k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")?
///     .parse_naming_key("k1:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")?;
/// assert_eq!(keys.ids(), ["k2"]);
/// assert_eq!(keys.naming_id(), Some("k1"));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Clone, Default)]
pub struct EncryptionKeys {
    pub(super) keys: Vec<(String, [u8; 32])>,
    pub(super) naming: Option<(String, [u8; 32])>,
}

/// Key bytes are never shown.
impl fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKeys")
            .field("ids", &self.ids())
            .field("naming", &self.naming_id())
            .finish()
    }
}

impl EncryptionKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a 32-byte key named `id` (after those already given: the first one added
    /// seals).
    pub fn with_key(mut self, id: impl Into<String>, key: [u8; 32]) -> Self {
        self.keys.push((id.into(), key));
        self
    }

    /// Names sensitive key arguments with the 32-byte key `key` (named `id`) instead of
    /// the last of the keys: what keeps names stable when the last key is retired (give
    /// it here, with the same bytes). It never seals or opens a value.
    pub fn with_naming_key(mut self, id: impl Into<String>, key: [u8; 32]) -> Self {
        self.naming = Some((id.into(), key));
        self
    }

    /// Keys from `id:base64,id:base64` (`CACHE_ENCRYPTION_KEYS`): each key 32 bytes, ids
    /// of 1 to 32 characters among letters, digits, `-` and `_`, each id once. The error
    /// names the entry at fault, never a key.
    pub fn parse(spec: &str) -> Result<Self, CacheError> {
        let mut keys = EncryptionKeys::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let (id, key) = parse_entry(entry)
                .map_err(|why| CacheError::InvalidKeys(format!("entry {}: {why}", i + 1)))?;
            if keys.ids().contains(&id) {
                return Err(CacheError::InvalidKeys(format!(
                    "entry {}: this id is given twice",
                    i + 1
                )));
            }
            keys = keys.with_key(id, key);
        }
        Ok(keys)
    }

    /// [`EncryptionKeys::with_naming_key`] from `id:base64` (`CACHE_NAMING_KEY`). The
    /// error never shows the key.
    pub fn parse_naming_key(self, spec: &str) -> Result<Self, CacheError> {
        let (id, key) = parse_entry(spec.trim())
            .map_err(|why| CacheError::InvalidKeys(format!("naming key: {why}")))?;
        Ok(self.with_naming_key(id, key))
    }

    /// The key ids, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The id of the key that names sensitive key arguments: the naming key, else the
    /// last key; `None` without keys.
    pub fn naming_id(&self) -> Option<&str> {
        self.naming
            .as_ref()
            .or(self.keys.last())
            .map(|(id, _)| id.as_str())
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// One `id:base64` entry; why not, never showing the key.
fn parse_entry(entry: &str) -> Result<(&str, [u8; 32]), &'static str> {
    let (id, encoded) = entry.split_once(':').ok_or("expected id:base64")?;
    let valid_id = (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_id {
        return Err("an id is 1 to 32 letters, digits, - or _");
    }
    let key = decode_key(encoded).ok_or("the key is not 32 bytes of base64")?;
    Ok((id, key))
}

#[cfg(feature = "encryption")]
fn decode_key(encoded: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    bytes.try_into().ok()
}

#[cfg(not(feature = "encryption"))]
fn decode_key(_: &str) -> Option<[u8; 32]> {
    // Keys still parse (a configuration stays valid); nothing is sealed without the feature.
    Some([0; 32])
}
