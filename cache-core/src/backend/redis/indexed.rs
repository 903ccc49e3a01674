//! The index of dependencies from the result ([`crate::key`]): a fill that stores its entry
//! and lists it under each value its result depends on, only if no invalidation of those
//! tags in its scope began since before its load (the fences); and the invalidation of
//! one value, which removes what its index lists. Each script works in one slot: the
//! entries, the fences and the indexes of one scope (and of its bucket) share its hash
//! tag; an invalidation in every scope runs one per bucket.

use super::{Node, RedisBackend};
use crate::backend::{FillIndexed, Notice, RemoveIndexed};
use crate::error::CacheError;

/// `KEYS`: the entry, the fences, the indexes. `ARGV`: the number of fences, the entry's
/// bytes, its TTL (ms), then each fence's expected token.
const FILL: &str = r#"
local fences = tonumber(ARGV[1])
for i = 1, fences do
  if redis.call('GET', KEYS[1 + i]) ~= ARGV[3 + i] then
    return 0
  end
end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
for i = 2 + fences, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 1
"#;

/// `KEYS`: groups of `ARGV[1]` keys: generations and a fence to remove, then an index
/// (last) whose entries go with it. `ARGV[1]`: the size of a group; then (every cache on
/// Redis) the backplane's channel, the notice to publish (a `Forget` of generation keys,
/// to which the entries removed are added) and `1` if it is published even when it names
/// no key.
const REMOVE: &str = r#"
local size = tonumber(ARGV[1])
local plain, indexes = {}, {}
for first = 1, #KEYS, size do
  for i = first, first + size - 2 do
    plain[#plain + 1] = KEYS[i]
  end
  indexes[#indexes + 1] = KEYS[first + size - 1]
end
local function unlink(keys)
  for i = 1, #keys, 1000 do
    redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys)))
  end
end
unlink(plain)
local entries = {}
for i = 1, #indexes, 1000 do
  for _, entry in ipairs(redis.call('SUNION', unpack(indexes, i, math.min(i + 999, #indexes)))) do
    entries[#entries + 1] = entry
  end
end
unlink(entries)
unlink(indexes)
if ARGV[2] then
  -- The notice names the entries removed too (as more keys of a `Forget`): the tiers
  -- drop their values, which no generation change would reach.
  local notice = {ARGV[3]}
  if string.sub(ARGV[3], 1, 1) == 'k' then
    for _, entry in ipairs(entries) do
      notice[#notice + 1] = struct.pack('>I4', #entry) .. entry
    end
  end
  local message = table.concat(notice)
  if #message > 1 or ARGV[4] == '1' then
    redis.call('PUBLISH', ARGV[2], message)
  end
end
return entries
"#;

/// The script over `groups` (each of `size` keys): it publishes `notice` (with the
/// entries it removed) when `last`, and otherwise the entries it removed, if any, on the
/// notice's channel.
fn remove(groups: &[&[&str]], size: usize, notice: Option<&Notice<'_>>, last: bool) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(REMOVE).arg(groups.len() * size);
    for group in groups {
        cmd.arg(*group);
    }
    cmd.arg(size);
    if let Some(notice) = notice {
        match last {
            true => cmd.arg(notice.channel).arg(notice.message).arg("1"),
            false => cmd.arg(notice.channel).arg(EMPTY_FORGET).arg("0"),
        };
    }
    cmd
}

/// A `Forget` of no key: the start of the notice of a script that publishes only the
/// entries it removed.
const EMPTY_FORGET: &[u8] = b"k";

impl RedisBackend {
    /// See [`FillIndexed`]; whether the entry was stored.
    pub async fn fill_indexed(&self, op: &FillIndexed<'_>) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(FILL)
            .arg(1 + op.fences.len() + op.indexes.len())
            .arg(op.entry)
            .arg(op.fences)
            .arg(op.indexes)
            .arg(op.fences.len())
            .arg(&op.value[..])
            .arg(super::millis(op.ttl));
        for expected in op.expected {
            cmd.arg(&expected[..]);
        }
        self.run::<bool>(&cmd).await
    }

    /// See [`RemoveIndexed`], with a `WAIT` on the writer connection when replicas must
    /// acknowledge. One script on a server (or for one group); on a cluster, one per
    /// group, pipelined to each group's master. Returns the entries removed.
    pub async fn remove_indexed(&self, op: &RemoveIndexed<'_>) -> Result<Vec<String>, CacheError> {
        let size = op.group;
        let groups: Vec<&[&str]> = op.keys.chunks(size).collect();
        let Some(first) = groups.first().and_then(|group| group.first()) else {
            return Ok(Vec::new());
        };
        let node_of = |key: &str| {
            use redis::cluster_routing::{Route, SlotAddr};
            Node::SpecificNode(Route::new(crate::slot::of(key), SlotAddr::Master))
        };
        let entries = |reply: redis::Value| -> Result<Vec<String>, CacheError> {
            Ok(redis::from_redis_value(reply).map_err(redis::RedisError::from)?)
        };
        if !self.is_cluster() || groups.len() == 1 {
            let cmd = remove(&groups, size, op.notice.as_ref(), true);
            let Some(writer) = &self.writer else {
                return self.run::<Vec<String>>(&cmd).await;
            };
            let node = self.is_cluster().then(|| node_of(first));
            let mut pipe = redis::pipe();
            pipe.add_command(cmd);
            return entries(self.then_wait(writer, node, pipe).await?);
        }
        let mut removed = Vec::new();
        let conn = self.writer.as_ref().unwrap_or(&self.conn);
        let mut left = groups;
        for (node, slots) in self.masters_of(conn).await? {
            let (here, elsewhere): (Vec<&[&str]>, Vec<&[&str]>) = left
                .into_iter()
                .partition(|group| slots.contains(crate::slot::of(group[0])));
            left = elsewhere;
            if here.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            // The node's last script publishes, after all its removals.
            for (i, group) in here.iter().enumerate() {
                pipe.add_command(remove(
                    &[group],
                    size,
                    op.notice.as_ref(),
                    i + 1 == here.len(),
                ));
            }
            match &self.writer {
                // With `WAIT`, the last script's reply only (its node's others are dropped:
                // they are removed all the same, and the notices name them).
                Some(writer) => {
                    removed.extend(entries(self.then_wait(writer, Some(node), pipe).await?)?)
                }
                None => {
                    for reply in self.pipeline_at(conn, Some(node), pipe).await? {
                        removed.extend(entries(reply)?);
                    }
                }
            }
        }
        // A slot no master serves now: not removed, so not done.
        match left.is_empty() {
            true => Ok(removed),
            false => Err(CacheError::Unavailable),
        }
    }
}
