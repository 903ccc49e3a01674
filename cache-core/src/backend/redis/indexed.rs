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
/// Redis) the backplane's channel and the notice to publish.
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
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return #entries
"#;

/// The script over `groups` (each of `size` keys), publishing `notice` if any.
fn remove(groups: &[&[&str]], size: usize, notice: Option<&Notice<'_>>) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(REMOVE).arg(groups.len() * size);
    for group in groups {
        cmd.arg(*group);
    }
    cmd.arg(size);
    if let Some(notice) = notice {
        cmd.arg(notice.channel).arg(notice.message);
    }
    cmd
}

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
    /// group, pipelined to each group's master.
    pub async fn remove_indexed(&self, op: &RemoveIndexed<'_>) -> Result<(), CacheError> {
        let size = op.group;
        let groups: Vec<&[&str]> = op.keys.chunks(size).collect();
        let Some(first) = groups.first().and_then(|group| group.first()) else {
            return Ok(());
        };
        let node_of = |key: &str| {
            use redis::cluster_routing::{Route, SlotAddr};
            Node::SpecificNode(Route::new(crate::slot::of(key), SlotAddr::Master))
        };
        if !self.is_cluster() || groups.len() == 1 {
            let cmd = remove(&groups, size, op.notice.as_ref());
            let Some(writer) = &self.writer else {
                return self.run::<u64>(&cmd).await.map(drop);
            };
            let node = self.is_cluster().then(|| node_of(first));
            let mut pipe = redis::pipe();
            pipe.add_command(cmd);
            return self.then_wait(writer, node, pipe).await.map(drop);
        }
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
                let notice = op.notice.as_ref().filter(|_| i + 1 == here.len());
                pipe.add_command(remove(&[group], size, notice));
            }
            match &self.writer {
                Some(writer) => drop(self.then_wait(writer, Some(node), pipe).await?),
                None => drop(self.pipeline_at(conn, Some(node), pipe).await?),
            }
        }
        // A slot no master serves now: not removed, so not done.
        match left.is_empty() {
            true => Ok(()),
            false => Err(CacheError::Unavailable),
        }
    }
}
