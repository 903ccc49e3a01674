//! The app's TTL classes, usable as `ttl = crate::ttl::LIST_SHORT`.

use std::time::Duration;

/// Sessions: read often, rarely changed (1 hour).
pub const SESSION: Duration = Duration::from_secs(60 * 60);
/// User profiles: changed now and then (30 minutes).
pub const USER_PROFILE: Duration = Duration::from_secs(30 * 60);
/// Lists (FMPA, formations, ...): changed often (5 minutes).
pub const LIST_SHORT: Duration = Duration::from_secs(5 * 60);
/// Dashboard statistics: expensive to compute, changed moderately (15 minutes).
pub const STATS: Duration = Duration::from_secs(15 * 60);
/// Static data: rarely changed (24 hours).
pub const STATIC: Duration = Duration::from_secs(24 * 60 * 60);
/// How long list and profile entries are kept past their TTL, to answer reads while the
/// database is down (fail-safe, 1 hour): an entry no write invalidated, never one that was.
pub const FAIL_SAFE: Duration = Duration::from_secs(60 * 60);
/// How long the loader of a cold dashboard holds the fleet's lease (5 seconds): the other
/// instances wait for its aggregate instead of running the same six scans.
pub const LEASE: Duration = Duration::from_secs(5);
