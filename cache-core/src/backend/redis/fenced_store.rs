//! The write-through of one entry, as one script: the generations the write read before
//! its body are compared with the current ones; if none changed, the entry's own
//! generation is replaced by a fresh token and the entry stored under it; if any changed,
//! that generation is removed (the invalidation the write owes) and nothing is stored.

use super::{Node, RedisBackend};
use crate::backend::WriteThrough;
use crate::error::CacheError;
use redis::RedisError;

/// `KEYS`: the entry, its `n` generations, its `f` fences, then the indexes to list it in.
/// `ARGV`: the index (1-based, among the generations) of the one to replace, its new token,
/// its TTL (ms), the entry's bytes, its TTL (ms), `n`, `f`, the expected value of each
/// generation and fence, then (every cache on Redis) the backplane's channel and the
/// notice published when the generation changes.
const SCRIPT: &str = r#"
local own = tonumber(ARGV[1])
local n = tonumber(ARGV[6])
local f = tonumber(ARGV[7])
local function notify()
  local at = 8 + n + f
  if ARGV[at] then
    redis.call('PUBLISH', ARGV[at], ARGV[at + 1])
  end
end
for i = 1, n + f do
  if redis.call('GET', KEYS[1 + i]) ~= ARGV[7 + i] then
    redis.call('UNLINK', KEYS[own + 1])
    notify()
    return 0
  end
end
redis.call('SET', KEYS[own + 1], ARGV[2], 'PX', ARGV[3])
local ttl = tonumber(ARGV[5])
redis.call('SET', KEYS[1], ARGV[4], 'PX', ttl)
for i = 2 + n + f, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
notify()
return 1
"#;

impl RedisBackend {
    /// Runs the write-through script (with its `WAIT` on the writer connection when
    /// replicas must acknowledge); whether the entry was stored.
    pub async fn write_through(&self, op: &WriteThrough<'_>) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT)
            .arg(1 + op.generations.len() + op.fences.len() + op.indexes.len())
            .arg(op.entry)
            .arg(op.generations)
            .arg(op.fences)
            .arg(op.indexes)
            .arg(op.own + 1)
            .arg(op.token)
            .arg(super::millis(op.generation_ttl))
            .arg(&op.value[..])
            .arg(super::millis(op.ttl))
            .arg(op.generations.len())
            .arg(op.fences.len());
        for expected in op.expected.iter().chain(op.fence_expected) {
            cmd.arg(&expected[..]);
        }
        if let Some(notice) = &op.notice {
            cmd.arg(notice.channel).arg(notice.message);
        }
        let Some(writer) = &self.writer else {
            return self.run::<bool>(&cmd).await;
        };
        let node = self.is_cluster().then(|| {
            use redis::cluster_routing::{Route, SlotAddr};
            Node::SpecificNode(Route::new(crate::slot::of(op.entry), SlotAddr::Master))
        });
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        let stored = self.then_wait(writer, node, pipe).await?;
        Ok(redis::from_redis_value(stored).map_err(RedisError::from)?)
    }
}
