//! The backplane that keeps the in-process tier's view current ([`crate::l1`]): one
//! Redis pub/sub channel per namespace, on which every invalidation's removal publishes
//! the generation keys it removed (atomically with the removal, by the node that runs
//! it), and each process publishes heartbeats.
//!
//! A process subscribes at every node that publishes (the server; each master of a
//! cluster) and publishes a heartbeat at each, every δ/4, with its send time. Each
//! subscription applies what it receives in order, and a heartbeat of this process sent
//! at `s` and received back on the node it was sent to says: everything that node
//! published before it has been applied. The view is fresh until δ after the oldest of
//! those times over all nodes. A lost subscription (a dropped connection, a restarted
//! server, a change of the cluster's masters) empties the view before it is made again.

use crate::backend::BackplaneNode;
use crate::inner::Inner;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::task::JoinSet;

use super::message::Message;
/// Starts the backplane of `inner` (a Redis cache with a tier) on the current runtime.
pub(crate) fn start(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("cache: no tokio runtime to run the l1 tier's backplane; l1 stays off");
        return;
    };
    runtime.spawn(run(Arc::downgrade(inner)));
}

/// Subscribes, serves until the subscription is lost, empties the view, and again, with
/// backoff, until the cache is gone.
async fn run(cache: Weak<Inner>) {
    let mut delay = Duration::from_millis(100);
    let mut round = 0;
    loop {
        let Some(inner) = cache.upgrade() else { return };
        round += 1;
        match subscribe(&inner).await {
            Ok(links) => {
                delay = Duration::from_millis(100);
                drop(inner);
                serve(&cache, links, round).await;
                tracing::info!("cache: l1 backplane subscription lost; l1 off until it is back");
            }
            Err(error) => {
                if let Some(suppressed) = inner.warnings.allow() {
                    tracing::warn!(%error, suppressed, "cache: cannot subscribe to the l1 backplane; l1 off, reads go to Redis");
                }
            }
        }
        let Some(inner) = cache.upgrade() else { return };
        if let Some(tier) = &inner.tier {
            tier.view.lost();
        }
        drop(inner);
        // A real delay between attempts, not synchronisation.
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// The subscriptions of one round: the nodes and their message streams.
struct Links {
    nodes: Vec<BackplaneNode>,
    streams: Vec<redis::aio::PubSubStream>,
}

/// Subscribes at every node; then empties the view: a read that began before may have
/// missed a notice nobody was listening for.
async fn subscribe(inner: &Inner) -> Result<Links, crate::CacheError> {
    let (Some(tier), crate::backend::Backend::Redis(redis)) = (&inner.tier, &inner.backend) else {
        return Err(crate::CacheError::Unavailable);
    };
    let nodes = redis.backplane_nodes().await?;
    let mut streams = Vec::with_capacity(nodes.len());
    for node in &nodes {
        streams.push(
            redis
                .subscribe(node, &inner.channel, tier.connect_timeout)
                .await?,
        );
    }
    tier.view.lost();
    Ok(Links { nodes, streams })
}

/// Applies what the subscriptions receive and publishes heartbeats, until a subscription
/// ends, the cluster's masters change, or the cache is gone.
async fn serve(cache: &Weak<Inner>, links: Links, round: u64) {
    let Links { nodes, streams } = links;
    let heard: Arc<Vec<AtomicU64>> = Arc::new(nodes.iter().map(|_| AtomicU64::new(0)).collect());
    let mut readers = JoinSet::new();
    for (node, stream) in streams.into_iter().enumerate() {
        readers.spawn(read(cache.clone(), stream, node, round, heard.clone()));
    }
    let Some(period) = cache
        .upgrade()
        .and_then(|inner| inner.tier.as_ref().map(|tier| tier.view.bound() / 4))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats = 0u64;
    // A subscription that hears nothing back for this long (a connection gone silent
    // without closing) is made again.
    let silent =
        u64::try_from((period * 32).max(Duration::from_secs(3)).as_nanos()).unwrap_or(u64::MAX);
    let mut since = None;
    loop {
        tokio::select! {
            _ = readers.join_next() => return,
            _ = ticks.tick() => {
                let Some(inner) = cache.upgrade() else { return };
                let Some(tier) = &inner.tier else { return };
                let now = tier.view.now();
                let oldest = heard.iter().map(|h| h.load(Ordering::Acquire)).min().unwrap_or(0);
                let since = *since.get_or_insert(now);
                if now.saturating_sub(oldest.max(since)) > silent {
                    return;
                }
                beats += 1;
                if !heartbeat(&inner, &nodes, round, beats).await {
                    return;
                }
            }
        }
    }
}

/// Publishes this process's heartbeat at every node; every 4th time on a cluster, checks
/// that its masters are still those subscribed to (false: subscribe again).
async fn heartbeat(inner: &Inner, nodes: &[BackplaneNode], round: u64, beats: u64) -> bool {
    let (Some(tier), crate::backend::Backend::Redis(redis)) = (&inner.tier, &inner.backend) else {
        return false;
    };
    for (index, node) in nodes.iter().enumerate() {
        let message = Message::Heartbeat {
            from: &tier.uid,
            round,
            node: index,
            sent: tier.view.now(),
        };
        // A failed heartbeat is simply not heard: the view goes stale after δ.
        let _ = redis
            .publish_at(node, &inner.channel, &message.encode())
            .await;
    }
    if redis.is_cluster() && beats.is_multiple_of(4) {
        return match redis.backplane_nodes().await {
            Ok(now) => now == nodes,
            Err(_) => true,
        };
    }
    true
}

/// Applies the messages of the subscription at node `node`, in order, until it ends.
async fn read(
    cache: Weak<Inner>,
    mut stream: redis::aio::PubSubStream,
    node: usize,
    round: u64,
    heard: Arc<Vec<AtomicU64>>,
) {
    use futures_util::StreamExt;
    while let Some(message) = stream.next().await {
        let Some(inner) = cache.upgrade() else { return };
        let Some(tier) = &inner.tier else { return };
        let payload = message.get_payload_bytes();
        match Message::decode(payload) {
            Some(Message::Forget(keys)) => {
                // Generation keys, and the entries a removal by result tag deleted (their
                // values are dropped before the view moves on).
                tier.local.forget(keys.iter().copied());
                tier.view.forget(keys);
                tier.view.notices.fetch_add(1, Ordering::Relaxed);
            }
            Some(Message::ForgetAll) => {
                tier.view.forget_all();
                tier.view.notices.fetch_add(1, Ordering::Relaxed);
            }
            Some(Message::Heartbeat {
                from,
                round: sent_round,
                node: sent_node,
                sent,
            }) => {
                // Only this process's heartbeats, of this round, back from where they were
                // published, say what this subscription has applied.
                if from == tier.uid && sent_round == round && sent_node == node {
                    heard[node].store(sent, Ordering::Release);
                    let oldest = heard.iter().map(|h| h.load(Ordering::Acquire)).min();
                    if let Some(oldest) = oldest.filter(|&oldest| oldest > 0) {
                        tier.view.fresh_since(oldest);
                    }
                }
            }
            None => {
                // Not ours (another version?): it may have announced a removal.
                tracing::warn!("cache: unreadable message on the l1 backplane; emptying the view");
                tier.view.forget_all();
            }
        }
    }
}
