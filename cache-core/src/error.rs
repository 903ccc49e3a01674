//! The errors of this crate.

use std::time::Duration;

/// What went wrong in a cache operation, or in building a [`crate::Cache`].
///
/// The attributes never surface these: a failing cache reads as a miss. They reach
/// callers of [`crate::CacheBuilder::build`] and of the `try_*` operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The Redis URL does not parse, or names a scheme this build does not support.
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The namespace holds a character that would break the key layout.
    #[error("invalid namespace {0:?}: use letters, digits and `_ . - : /`")]
    InvalidNamespace(String),
    /// The encryption keys (`CACHE_ENCRYPTION_KEYS`) do not parse; says which entry,
    /// never a key.
    #[error("invalid encryption keys: {0}")]
    InvalidKeys(String),
    /// The server refused the credentials (wrong password or user).
    #[error("Redis at {url} refused the credentials: {source}")]
    Auth {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// The driver's error.
        source: redis::RedisError,
    },
    /// The TLS set-up is wrong (no TLS support built in, bad certificate, plain server).
    #[error("TLS to Redis at {url} failed: {reason}")]
    Tls {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// What failed.
        reason: String,
    },
    /// Nothing answered at start-up (refused, unresolvable or silent).
    #[error("Redis at {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// A Redis call did not finish within its deadline.
    #[error("Redis call timed out after {0:?}")]
    Timeout(Duration),
    /// Redis is being skipped: the breaker is open, the connection is not up yet, or an
    /// invalidation of this prefix and scope is waiting to be retried.
    #[error("Redis is unavailable (breaker open or not connected)")]
    Unavailable,
    /// Fewer replicas than asked ([`crate::CacheBuilder::wait_for_replicas`]) acknowledged
    /// an invalidation in time: it is kept and retried.
    #[error("only {acknowledged} of {wanted} replicas acknowledged the invalidation in time")]
    NotReplicated {
        /// How many replicas acknowledged it (the fewest, over the masters involved).
        acknowledged: u64,
        /// How many were asked for.
        wanted: u32,
    },
    /// Redis answered, refusing the command: out of memory under `maxmemory` with the
    /// `noeviction` policy (`OOM`), a read-only replica, a missing permission... Redis is
    /// up: this does not open the breaker.
    #[error("Redis refused the command: {0}")]
    Refused(redis::RedisError),
    /// The connection failed (or another error of the driver).
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// A value could not be serialized or deserialized.
    #[error("serialization error: {0}")]
    Serde(#[from] serde_json::Error),
    /// A cached value would not encode or decode with the configured codec.
    #[error("codec error: {0}")]
    Codec(#[from] crate::codec::CodecError),
    /// An entry written by this library could not be read.
    #[error("corrupt entry: {0}")]
    Entry(#[from] crate::entry::EntryError),
}

impl CacheError {
    /// A driver error met on a call: a reply from the server (Redis is up and said no) is
    /// [`CacheError::Refused`]; anything else is a transport failure.
    pub(crate) fn from_driver(error: redis::RedisError) -> CacheError {
        use redis::ErrorKind;
        match error.kind() {
            ErrorKind::Server(_) | ErrorKind::Extension if !error.is_io_error() => {
                CacheError::Refused(error)
            }
            _ => CacheError::Redis(error),
        }
    }

    /// The same failure again, for each of the hits that shared one read (a coalesced
    /// read's error reaches all of them): what Redis said and whether the breaker counts
    /// it are kept; an error no read can return reads as [`CacheError::Unavailable`].
    pub(crate) fn duplicate(&self) -> CacheError {
        match self {
            CacheError::Timeout(after) => CacheError::Timeout(*after),
            CacheError::Refused(error) => CacheError::Refused(error.clone()),
            CacheError::Redis(error) => CacheError::Redis(error.clone()),
            _ => CacheError::Unavailable,
        }
    }

    /// Whether this failure says Redis cannot be reached (what the breaker counts).
    pub(crate) fn is_transport(&self) -> bool {
        matches!(self, CacheError::Timeout(_) | CacheError::Redis(_))
    }
}

/// A URL with its password hidden, for error messages and logs.
pub(crate) fn redact(url: &str) -> String {
    // scheme://user:password@host... -> scheme://user:***@host...
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = &url[scheme_end + 3..];
    let Some(at) = after.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &after[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    if userinfo.contains(':') || !user.is_empty() {
        let shown_user = if userinfo.contains(':') { user } else { "" };
        format!(
            "{}{}:***@{}",
            &url[..scheme_end + 3],
            shown_user,
            &after[at + 1..]
        )
    } else {
        url.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            super::redact("redis://:secret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(
            super::redact("rediss://default:tok@x.io:6379"),
            "rediss://default:***@x.io:6379"
        );
        assert_eq!(super::redact("redis://token@h"), "redis://:***@h");
        assert_eq!(super::redact("redis://h:6379"), "redis://h:6379");
    }
}
