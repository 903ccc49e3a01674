//! The builder's options for throughput under many concurrent calls.

use super::CacheBuilder;

impl CacheBuilder {
    /// Whether hits issued while another hit's read is in flight (on the same Redis
    /// slot) wait for it and then share one read (default: yes): one `MGET` for all of
    /// them, each key read once however many ask for it, so Redis and the client parse
    /// one command instead of one per hit. A hit that finds nothing in flight is sent at
    /// once, alone: no timer, no added latency when calls come one at a time. Off, every
    /// hit is its own `MGET` (pipelined on the connection by the driver). Exactness is
    /// the same either way: each hit still compares its own entry's generations.
    pub fn coalesce_hits(mut self, coalesce: bool) -> Self {
        self.coalesce_hits = coalesce;
        self
    }
}
