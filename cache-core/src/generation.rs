//! Generation tokens: the values of the generation keys.
//!
//! Invalidation removes a generation key; the next read creates it with a fresh token.
//! An entry records the tokens current when its fill began and is a hit only while both
//! are still current. A token never repeats (the
//! time in microseconds, a per-process random seed and a counter), so a generation key
//! that disappears (evicted, expired, deleted by hand) and is created again can never
//! bring an entry filled under an older token back to life.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A new generation token, unique across processes and time: 29 ASCII bytes.
pub fn fresh() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS's randomness once per process.
    let seed = *SEED.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // A bijective mix of the counter keeps tokens of one process distinct.
    let tail = seed ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{micros:012x}-{tail:016x}")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn tokens_do_not_repeat() {
        let tokens: HashSet<String> = (0..10_000).map(|_| super::fresh()).collect();
        assert_eq!(tokens.len(), 10_000);
    }
}
