//! Cache-aside for async Rust, on Redis or in process memory.
//!
//! Two attributes turn a function into a cached read and another into the write that
//! invalidates it; this crate is the runtime they call: keys, generations, fail-open,
//! single-flight and statistics.
//!
//! ```
//! use cache_core::{Cache, cached, invalidates};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Page { items: Vec<String> }
//!
//! #[cached(prefix = "fmpa", ttl = "5m", key = tenant, page)]
//! async fn list_fmpa(tenant: &str, page: u32) -> Result<Page, std::io::Error> {
//!     Ok(Page { items: vec![format!("{tenant}:{page}")] })
//! }
//!
//! #[invalidates("fmpa", key = tenant)]
//! async fn create_fmpa(tenant: &str, title: String) -> Result<(), std::io::Error> {
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // `Cache::from_env()` in a program: Redis from `REDIS_URL`, else process memory.
//! cache_core::install(Cache::builder().memory().build().await.unwrap());
//! let page = list_fmpa("acme", 1).await;   // miss: runs the body, stores Ok
//! let page = list_fmpa("acme", 1).await;   // hit: one round trip on Redis
//! create_fmpa("acme", "new".into()).await; // Ok: invalidates acme's fmpa entries
//! let fmpa = cache_core::installed().unwrap().stats().prefix("fmpa");
//! assert_eq!((fmpa.hits, fmpa.misses), (1, 1));
//! # }
//! ```
//!
//! The guide (`docs/` in the repository) walks through every feature, and
//! `ARCHITECTURE.md` through the code. See [`Cache`] for the semantics, [`key`] for the key format and [`entry`] for the
//! stored bytes; [`CacheBuilder::l1`] for the in-process tier kept coherent across
//! processes, and [`CacheBuilder::sensitive_prefix`] for values sealed at rest.

#![deny(missing_docs)]

pub mod audit;
mod backend;
mod batch;
mod breaker;
mod builder;
mod cache;
pub mod codec;
mod consistency;
pub mod entry;
mod error;
mod fail_safe;
mod fleet;
mod flight;
mod generation;
mod guarded;
mod index;
mod inner;
pub mod inspect;
mod installed;
mod invalidation;
pub mod key;
mod l1;
mod lease;
mod option_mark;
pub mod outcome;
mod payload;
mod pending;
mod read;
mod sensitive;
mod site;
pub mod slot;
mod stats;
mod target;
mod throttle;
mod write_through;

/// The README and the guide (`docs/`): their examples run as doctests.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../README.md")]
    struct Readme;
    #[doc = include_str!("../../docs/attributes.md")]
    struct Attributes;
    #[doc = include_str!("../../docs/keys.md")]
    struct Keys;
    #[doc = include_str!("../../docs/invalidation.md")]
    struct Invalidation;
    #[doc = include_str!("../../docs/write-through.md")]
    struct WriteThrough;
    #[doc = include_str!("../../docs/tier.md")]
    struct Tier;
    #[doc = include_str!("../../docs/resilience.md")]
    struct Resilience;
    #[doc = include_str!("../../docs/security.md")]
    struct Security;
    #[doc = include_str!("../../docs/operations.md")]
    struct Operations;
    #[doc = include_str!("../../docs/cluster-tls.md")]
    struct ClusterTls;
    #[doc = include_str!("../../docs/guarantees.md")]
    struct Guarantees;
    #[doc = include_str!("../../docs/audit.md")]
    struct Audit;
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use audit::{Audit, audit};
pub use builder::CacheBuilder;
pub use cache::Cache;
pub use codec::Codec;
pub use error::CacheError;
pub use fleet::{Disagreement, FleetReport, FleetStats, Manifest, ProcessStats};
pub use installed::{install, installed, uninstall};
pub use l1::L1Stats;
pub use sensitive::EncryptionKeys;
pub use stats::{CacheStats, PrefixStats};

/// Caches an async function's result; see the crate docs and the README.
pub use cache_macros::cached;
/// Invalidates cached entries after an async function succeeds.
pub use cache_macros::invalidates;
