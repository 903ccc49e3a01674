//! Single-flight: concurrent misses on one key in one process run the function once.
//!
//! A flight is keyed by the entry key *and* the generations the caller read, so a call
//! that starts after an invalidation never joins a load that began before it.
//! The leader publishes the serialized value it stored; followers decode their own copy
//! (the function's output need not be `Clone`). When the leader has nothing to share (an
//! `Err`, a `None`) or is cancelled, followers run the function themselves.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// What a leader leaves for its followers: the payload it stored, or nothing.
type Outcome = Option<Option<Bytes>>;

/// The flights under way in one cache.
#[derive(Debug, Default)]
pub struct Flights {
    running: Mutex<HashMap<Vec<u8>, watch::Receiver<Outcome>>>,
}

/// The part a caller plays in a flight.
pub enum Role<'a> {
    /// Run the function, then [`Leader::publish`].
    Leader(Leader<'a>),
    /// Wait for the leader with [`Follower::wait`].
    Follower(Follower),
}

/// The caller that runs the function. Dropping it ends the flight.
pub struct Leader<'a> {
    flights: &'a Flights,
    key: Vec<u8>,
    sender: watch::Sender<Outcome>,
}

/// A caller waiting for a leader.
pub struct Follower {
    receiver: watch::Receiver<Outcome>,
}

impl Flights {
    /// Joins the flight for `key`, leading it if there is none.
    pub fn join(&self, key: Vec<u8>) -> Role<'_> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(receiver) = running.get(&key) {
            return Role::Follower(Follower {
                receiver: receiver.clone(),
            });
        }
        let (sender, receiver) = watch::channel(None);
        running.insert(key.clone(), receiver);
        Role::Leader(Leader {
            flights: self,
            key,
            sender,
        })
    }

    /// How many flights are under way (for tests of leaks).
    pub fn count(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Leader<'_> {
    /// Hands the stored payload (or nothing) to the followers. Callers joining until the
    /// leader is dropped get it at once.
    pub fn publish(&self, payload: Option<Bytes>) {
        self.sender.send_replace(Some(payload));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut running = self
            .flights
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.remove(&self.key);
    }
}

impl Follower {
    /// The leader's payload; `None` when the follower must run the function itself.
    pub async fn wait(mut self) -> Option<Bytes> {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().flatten(),
            Err(_) => None, // the leader was dropped (cancelled, or panicked) without a value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_value() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join(b"k".to_vec()) else {
            panic!("first caller leads")
        };
        let Role::Follower(follower) = flights.join(b"k".to_vec()) else {
            panic!("second caller follows")
        };
        leader.publish(Some(Bytes::from_static(b"42")));
        assert_eq!(follower.wait().await.as_deref(), Some(&b"42"[..]));
        drop(leader);
        assert_eq!(flights.count(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_leader_releases_its_followers() {
        let flights = Flights::default();
        let leader = flights.join(b"k".to_vec());
        let Role::Follower(follower) = flights.join(b"k".to_vec()) else {
            panic!("second caller follows")
        };
        drop(leader);
        assert_eq!(follower.wait().await, None);
        assert!(matches!(flights.join(b"k".to_vec()), Role::Leader(_)));
    }
}
