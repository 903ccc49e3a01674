//! Many entries of one slot in one round trip: a batch read's `MGET` (with each entry's
//! remaining TTL when asked), and its stores as one pipeline.

use super::{Node, RedisBackend, millis};
use crate::error::CacheError;
use bytes::Bytes;
use redis::RedisError;
use std::time::Duration;

impl RedisBackend {
    /// `MGET keys`, then `PTTL` of each of `ttls_of`, in one pipeline (one round trip;
    /// every key in one slot): the values, and what remains of each TTL (`None`: gone
    /// by then, or no TTL).
    pub async fn mget_ttls(
        &self,
        keys: &[&str],
        ttls_of: &[&str],
    ) -> Result<(Vec<Option<Bytes>>, Vec<Option<Duration>>), CacheError> {
        let mut pipe = redis::pipe();
        pipe.cmd("MGET").arg(keys);
        for key in ttls_of {
            pipe.cmd("PTTL").arg(*key);
        }
        let mut replies = self
            .pipeline_at(&self.conn, self.node_of(keys.first().copied()), pipe)
            .await?
            .into_iter();
        let values = replies.next().ok_or(CacheError::Unavailable)?;
        let values = redis::from_redis_value(values).map_err(RedisError::from)?;
        let mut left = Vec::with_capacity(ttls_of.len());
        for reply in replies {
            let ttl: i64 = redis::from_redis_value(reply).map_err(RedisError::from)?;
            left.push(u64::try_from(ttl).ok().map(Duration::from_millis));
        }
        if left.len() != ttls_of.len() {
            return Err(CacheError::Unavailable);
        }
        Ok((values, left))
    }

    /// `SET key value PX ttl` for each entry, in one pipeline (every key in one slot).
    pub async fn set_many(&self, entries: &[(String, Bytes, Duration)]) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        for (key, value, ttl) in entries {
            pipe.cmd("SET")
                .arg(key)
                .arg(&value[..])
                .arg("PX")
                .arg(millis(*ttl))
                .ignore();
        }
        let first = entries.first().map(|(key, _, _)| key.as_str());
        self.pipeline_at(&self.conn, self.node_of(first), pipe)
            .await
            .map(drop)
    }

    /// On a cluster, the master of `key`'s slot (where a pipeline of its slot goes).
    fn node_of(&self, key: Option<&str>) -> Option<Node> {
        use redis::cluster_routing::{Route, SlotAddr};
        let key = key.filter(|_| self.is_cluster())?;
        Some(Node::SpecificNode(Route::new(
            crate::slot::of(key),
            SlotAddr::Master,
        )))
    }
}
