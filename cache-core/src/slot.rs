//! Redis Cluster hash slots, computed client-side: CRC16 (XMODEM) of the key's hash tag,
//! modulo 16384, exactly as the server does.

/// The number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// What the slot of `key` is computed from: the text between the first `{` and the
/// first `}` after it, if that is not empty; otherwise the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The hash slot of `key` on a Redis Cluster.
///
/// ```
/// // Keys of one (prefix, scope) share a hash tag, hence a slot.
/// let a = cache_core::slot::of("app:c2:{fmpa:1a3}:acme:list:0");
/// assert_eq!(a, cache_core::slot::of("app:c2:{fmpa:1a3}"));
/// assert_eq!(cache_core::slot::of("foo"), 12182); // CLUSTER KEYSLOT foo
/// ```
pub fn of(key: &str) -> u16 {
    crc16(hash_tag(key.as_bytes())) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::of;

    #[test]
    fn agrees_with_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(of("foo"), 12182);
        assert_eq!(of("bar"), 5061);
        assert_eq!(of("{user1000}.following"), of("{user1000}.followers"));
        assert_eq!(of("{user1000}.following"), of("user1000"));
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(of("foo{}{bar}"), 8363);
        assert_eq!(of("foo{{bar}}zap"), 4015);
        assert_eq!(of(""), 0);
    }
}
