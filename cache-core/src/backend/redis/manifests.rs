//! The fleet's manifests on Redis ([`crate::fleet`]): one hash per namespace, a field per
//! live cache holding `<expiry in ms, server clock> <manifest>`. One script publishes this
//! cache's manifest, drops the expired ones and returns the others, on Redis's clock (no
//! two clients need agree on the time).

use super::RedisBackend;
use crate::error::CacheError;
use std::time::Duration;

/// `KEYS[1]`: a hash of `<expiry> <value>` fields. `ARGV`, when given: this cache's id,
/// its value and the value's TTL (ms), written first. Drops the expired fields and
/// returns the other live values (the manifests' exchange; the statistics' read, with no
/// `ARGV`).
const LIVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] then
  redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[3])) .. ' ' .. ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local value = all[i + 1]
  local space = string.find(value, ' ', 1, true)
  local expiry = space and tonumber(string.sub(value, 1, space - 1))
  if not expiry or expiry < now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] ~= ARGV[1] then
    live[#live + 1] = string.sub(value, space + 1)
  end
end
return live
"#;

/// `KEYS[1]`: the statistics hash. `ARGV`: this cache's id, its statistics, their TTL (ms).
const PUBLISH: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[3])) .. ' ' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#;

impl RedisBackend {
    /// Publishes `stats` under `id` in the hash `key` for `ttl`.
    pub async fn publish_stats(
        &self,
        key: &str,
        id: &str,
        stats: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUBLISH)
            .arg(1)
            .arg(key)
            .arg(id)
            .arg(stats)
            .arg(super::millis(ttl));
        self.run::<u64>(&cmd).await.map(drop)
    }

    /// The live statistics in the hash `key`.
    pub async fn published_stats(&self, key: &str) -> Result<Vec<String>, CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(LIVE).arg(1).arg(key);
        self.run(&cmd).await
    }

    /// Publishes `manifest` under `id` in the hash `key` for `ttl`; the other live
    /// manifests there.
    pub async fn exchange_manifest(
        &self,
        key: &str,
        id: &str,
        manifest: &str,
        ttl: Duration,
    ) -> Result<Vec<String>, CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(LIVE)
            .arg(1)
            .arg(key)
            .arg(id)
            .arg(manifest)
            .arg(super::millis(ttl));
        self.run(&cmd).await
    }

    /// Removes the field of `id` from the hash `key` (a cache that goes away: its
    /// manifest, its statistics).
    pub async fn leave_fleet(&self, key: &str, id: &str) -> Result<(), CacheError> {
        self.run::<u64>(redis::cmd("HDEL").arg(key).arg(id))
            .await
            .map(drop)
    }
}
