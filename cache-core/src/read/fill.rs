//! The fill stage: on a miss, the function runs once per key per process; the leader
//! stores what should be kept (sealed with the generations it read before the load) and
//! hands the payload to its followers.

use super::load;
use crate::entry::Generations;
use crate::error::CacheError;
use crate::inner::Inner;
use crate::key::CallKeys;
use crate::outcome::Mode;
use crate::payload::Payload;
use crate::site::CallSite;
use crate::stats::Counters;
use std::future::Future;

impl Inner {
    /// Runs (or joins) the load of a missed call and stores its result.
    pub(super) async fn fill<M, F>(
        &self,
        site: &impl CallSite,
        keys: &CallKeys,
        generations: Generations,
        counters: &Counters,
        fut: F,
    ) -> M::Output
    where
        M: Mode,
        F: Future<Output = M::Output>,
    {
        // A flight is keyed by the entry and the generations read: a call that starts
        // after an invalidation never joins a load that began before it.
        let all = [&generations.prefix, &generations.scope]
            .into_iter()
            .chain(&generations.tags);
        let mut flight_key = Vec::with_capacity(keys.entry().len() + 64);
        flight_key.extend_from_slice(keys.entry().as_bytes());
        for generation in all {
            flight_key.push(0);
            flight_key.extend_from_slice(generation);
        }
        let payload = Payload::for_keys(keys, self.codec);
        let role = self.flights.join(flight_key);
        // Counted once the call has joined the flight: a miss counted is a caller that
        // will share the load under way (what the single-flight test waits for).
        counters.miss();
        let leader = match role {
            crate::flight::Role::Leader(leader) => leader,
            crate::flight::Role::Follower(follower) => {
                if let Some(bytes) = follower.wait().await
                    && let Ok(value) = payload.decode::<M::Stored>(&bytes)
                {
                    counters.coalesced();
                    return M::restore(value);
                }
                return load(counters, fut).await;
            }
        };
        let out = load(counters, fut).await;
        let encoded = match M::stored(&out).map(|value| payload.encode(value)) {
            Some(Ok(bytes)) => bytes,
            Some(Err(error)) => {
                self.count_failure(counters, "encode", &CacheError::from(error));
                leader.publish(None);
                return out;
            }
            None => {
                leader.publish(None);
                return out;
            }
        };
        let (stored, payload_at) = payload.seal(&generations, encoded);
        leader.publish(Some(stored.slice(payload_at..)));
        if let Err(error) = self
            .guarded(
                keys.entry(),
                self.backend.set(keys.entry(), stored, site.ttl()),
            )
            .await
        {
            self.count_failure(counters, "fill", &error);
        }
        out
    }
}
