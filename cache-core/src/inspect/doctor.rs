//! A cache's health as an operator checks it (`cache doctor`): the servers (version,
//! memory limit and eviction policy, evictions, latency, a cluster's coverage), the
//! backplane's subscribers, and the fleet (disagreements, key rotation).

use crate::backend::{Backend, ServerInfo, info_field};
use crate::fleet::FleetReport;
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, with a cost or a risk worth knowing.
    Warning,
    /// A promise does not hold, or a part is down: fix it.
    Problem,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was looked at (`redis`, `memory`, `fleet`...).
    pub name: String,
    /// How it came out.
    pub level: Level,
    /// What was seen, and what to do.
    pub detail: String,
}

/// Every finding of [`crate::Cache::doctor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Doctor {
    /// In the order looked at.
    pub checks: Vec<Check>,
}

impl Doctor {
    /// The worst level found.
    pub fn worst(&self) -> Level {
        self.checks
            .iter()
            .map(|check| check.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    fn add(&mut self, name: &str, level: Level, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_owned(),
            level,
            detail: detail.into(),
        });
    }
}

/// The oldest server this library works with (`SET ... GET`).
const OLDEST: (u32, u32) = (6, 2);

/// Examines `inner`'s servers and fleet.
pub(crate) async fn examine(inner: &crate::inner::Inner, fleet: Option<FleetReport>) -> Doctor {
    let mut doctor = Doctor::default();
    let Backend::Redis(redis) = &inner.backend else {
        doctor.add(
            "redis",
            Level::Warning,
            "the in-process memory store: nothing to examine (set REDIS_URL or REDIS_CLUSTER_URLS)",
        );
        return doctor;
    };
    let channel = crate::l1::message::channel(&inner.namespace);
    match redis.servers(&channel).await {
        Ok(servers) => servers_checks(&mut doctor, &servers, fleet.as_ref()),
        Err(error) => doctor.add("redis", Level::Problem, format!("unreachable: {error}")),
    }
    match redis.coverage().await {
        Ok(None) => {}
        Ok(Some((state, covered))) => {
            let level = match (state.as_str(), covered) {
                ("ok", 16384) => Level::Ok,
                _ => Level::Problem,
            };
            doctor.add(
                "cluster",
                level,
                format!(
                    "cluster_state {state}; {covered} of 16384 slots served by a master that is up"
                ),
            );
        }
        Err(error) => doctor.add(
            "cluster",
            Level::Problem,
            format!("CLUSTER INFO failed: {error}"),
        ),
    }
    match fleet {
        Some(report) => fleet_checks(&mut doctor, &report),
        None => doctor.add("fleet", Level::Warning, "no fleet report"),
    }
    doctor
}

fn servers_checks(doctor: &mut Doctor, servers: &[ServerInfo], fleet: Option<&FleetReport>) {
    let mut subscribers = 0;
    for server in servers {
        let at = &server.address;
        let info = match &server.info {
            Ok(info) => info,
            Err(error) => {
                doctor.add(
                    "redis",
                    Level::Problem,
                    format!("{at}: INFO failed: {error}"),
                );
                continue;
            }
        };
        let version = info_field(info, "redis_version").unwrap_or("unknown");
        let parsed: Vec<u32> = version
            .split('.')
            .filter_map(|part| part.parse().ok())
            .collect();
        let old = match parsed.as_slice() {
            [major, minor, ..] => (*major, *minor) < OLDEST,
            _ => true,
        };
        match old {
            false => doctor.add("redis", Level::Ok, format!("{at}: Redis {version}")),
            true => doctor.add(
                "redis",
                Level::Problem,
                format!("{at}: Redis {version}; this library needs 6.2 or later (SET ... GET)"),
            ),
        }
        let limit = info_field(info, "maxmemory")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let policy = server
            .policy
            .as_deref()
            .or_else(|| info_field(info, "maxmemory_policy"))
            .unwrap_or("unknown");
        let (level, meaning) = match (limit, policy) {
            (0, _) => (
                Level::Ok,
                String::from("nothing is evicted (entries leave at their TTL)"),
            ),
            (_, "noeviction") => (
                Level::Ok,
                String::from(
                    "when full, fills are refused (counted as `refused`, the function's result is still returned); invalidations delete, so they keep working",
                ),
            ),
            (_, _) => (
                Level::Warning,
                String::from(
                    "Redis may evict any key when full; an evicted generation only costs misses, but an evicted index of a result tag lets that tag's invalidation miss the entries it listed (stale until their TTL): give Redis room, or use noeviction",
                ),
            ),
        };
        doctor.add(
            "memory",
            level,
            format!("{at}: maxmemory {limit} bytes, policy {policy}: {meaning}"),
        );
        let evicted = info_field(info, "evicted_keys")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        match evicted {
            0 => doctor.add("evictions", Level::Ok, format!("{at}: no key evicted")),
            n => doctor.add(
                "evictions",
                Level::Warning,
                format!("{at}: {n} keys evicted since the server started: it runs out of memory"),
            ),
        }
        let mut pings = server.pings.clone();
        pings.sort();
        match pings.get(pings.len() / 2) {
            None => doctor.add("latency", Level::Problem, format!("{at}: no PING answered")),
            Some(median) => {
                let level = if *median > Duration::from_millis(10) {
                    Level::Warning
                } else {
                    Level::Ok
                };
                doctor.add(
                    "latency",
                    level,
                    format!(
                        "{at}: PING median {median:?} over {} (a hit is one round trip)",
                        pings.len()
                    ),
                );
            }
        }
        subscribers += server.subscribers.unwrap_or(0);
    }
    let tiers = fleet.map_or(0, |report| {
        std::iter::once(&report.manifest)
            .chain(&report.peers)
            .filter(|manifest| manifest.l1_bound_ms.is_some())
            .count() as u64
    });
    let level = if subscribers < tiers {
        Level::Problem
    } else {
        Level::Ok
    };
    doctor.add(
        "backplane",
        level,
        format!("{subscribers} subscriber(s) of the backplane, {tiers} live process(es) with a tier (each subscribes; fewer means a tier that hears no invalidation and serves values up to its bound δ late)"),
    );
}

fn fleet_checks(doctor: &mut Doctor, report: &FleetReport) {
    let all: Vec<_> = std::iter::once(&report.manifest)
        .chain(&report.peers)
        .collect();
    let versions: BTreeSet<_> = all
        .iter()
        .map(|m| format!("{} (format {})", m.version, m.key_format))
        .collect();
    doctor.add(
        "fleet",
        Level::Ok,
        format!(
            "{} live process(es) on the namespace, this one included; library {}",
            all.len(),
            versions.into_iter().collect::<Vec<_>>().join(", ")
        ),
    );
    for disagreement in &report.disagreements {
        doctor.add(
            "fleet",
            Level::Problem,
            format!("disagreement: {disagreement}"),
        );
    }
    if !report.refused.is_empty() {
        doctor.add(
            "fleet",
            Level::Problem,
            format!(
                "prefixes refused here (not cached, invalidated whole): {:?}",
                report.refused
            ),
        );
    }
    let namings: BTreeSet<_> = all.iter().filter_map(|m| m.naming.clone()).collect();
    let rings: BTreeSet<_> = all
        .iter()
        .filter(|m| !m.keys.is_empty())
        .map(|m| m.keys.join(","))
        .collect();
    match (namings.len(), rings.len()) {
        (0, _) => doctor.add("keys", Level::Ok, "no process holds encryption keys"),
        (1, 0 | 1) => doctor.add("keys", Level::Ok, format!("one naming key; keys [{}]", rings.into_iter().collect::<Vec<_>>().join("] ["))),
        (1, _) => doctor.add("keys", Level::Warning, format!("a rotation is under way: processes hold [{}] (one naming key: names agree; finish the rollout)", rings.into_iter().collect::<Vec<_>>().join("] and ["))),
        (n, _) => doctor.add("keys", Level::Problem, format!("{n} naming keys in the fleet: sensitive key names differ between processes (see README's rotation)")),
    }
}
