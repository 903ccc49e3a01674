//! The distributed stampede lease's two scripts ([`crate::lease`]): taking a lease (or
//! learning who holds it and for how long), and handing it back marked done with its
//! notice, both in the lease key's slot.

use super::RedisBackend;
use crate::error::CacheError;
use std::time::Duration;

/// `KEYS[1]`: the lease. `ARGV`: this caller's token, the lease time in ms. Returns
/// `{}` when taken, else `{value, pttl}`: the holder's token (or `done`) and how long the
/// lease has left.
const TAKE: &str = r#"
local held = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2], 'GET')
if not held then return {} end
return {held, redis.call('PTTL', KEYS[1])}
"#;

/// `KEYS[1]`: the lease. `ARGV`: the holder's token, how long the `done` mark stays (ms),
/// the channel. Marks a lease still held by this token done and publishes its key.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[3], KEYS[1])
end
return 1
"#;

/// Who holds a lease, when it was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// This caller took it.
    Taken,
    /// Another caller holds it, for this long at most.
    Loading(Duration),
    /// Its holder has stored (or given up): look again.
    Done,
}

impl RedisBackend {
    /// Takes `lease` for `ttl` with `token`, or says who has it.
    pub async fn take_lease(
        &self,
        lease: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<Held, CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(TAKE)
            .arg(1)
            .arg(lease)
            .arg(token)
            .arg(super::millis(ttl));
        use redis::Value;
        let Value::Array(reply) = self.run::<Value>(&cmd).await? else {
            return Err(CacheError::Unavailable);
        };
        Ok(match (reply.first(), reply.get(1)) {
            (None, _) => Held::Taken,
            (Some(Value::BulkString(value)), _) if value == b"done" => Held::Done,
            (_, Some(Value::Int(left))) if *left > 0 => {
                Held::Loading(Duration::from_millis(left.unsigned_abs()))
            }
            // Expired between the two commands of the script: nobody is loading.
            _ => Held::Done,
        })
    }

    /// Hands `lease` back (if `token` still holds it): marked done for `done_for`, its
    /// key published on `channel` to wake the callers waiting for it.
    pub async fn release_lease(
        &self,
        lease: &str,
        token: &str,
        done_for: Duration,
        channel: &str,
    ) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE)
            .arg(1)
            .arg(lease)
            .arg(token)
            .arg(super::millis(done_for))
            .arg(channel);
        self.run::<i64>(&cmd).await.map(drop)
    }
}
