//! The keys that sit beside an entry, in its slot: the claim of its early refresh and its
//! stampede leases (see the format in [`super`]).

/// The claim of an entry's early refresh (`refresh = ...`): the entry's key and
/// `:!refresh`, in the entry's slot; `!` cannot start a component, so it is no entry's
/// key.
pub(crate) fn refresh_key(entry: &str) -> String {
    format!("{entry}:!refresh")
}

/// The stampede lease of a miss of `entry` (`lease = ...`) whose flight (the entry, and
/// the generations and fences it read) is `flight`: the entry's key, `:!lease:` and the
/// FNV-1a hash of the flight in 16 hex digits, in the entry's slot. The same in every
/// process (a std hasher is seeded per process); a miss after an invalidation names
/// another lease.
pub(crate) fn lease_key(entry: &str, flight: &[u8]) -> String {
    let hash = flight.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{entry}:!lease:{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_follow_the_generations() {
        let a = lease_key("ns:c4:{p:001}:t:n:0", b"e\0g1");
        assert_eq!(a, lease_key("ns:c4:{p:001}:t:n:0", b"e\0g1"));
        assert_ne!(a, lease_key("ns:c4:{p:001}:t:n:0", b"e\0g2"));
        assert!(a.starts_with("ns:c4:{p:001}:t:n:0:!lease:"));
        assert_eq!(a.len(), "ns:c4:{p:001}:t:n:0:!lease:".len() + 16);
    }
}
