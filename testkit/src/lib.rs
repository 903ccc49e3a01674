//! Test support: the shared Redis of the test run, a namespace per test that is cleaned
//! up even when the test fails, private `redis-server` processes for tests that stop,
//! freeze or restart Redis (never the shared one), and a fault-injecting proxy. One file
//! per kind of thing.

mod cluster;
mod commands;
mod ports;
mod proxy;
mod rng;
mod scoped;
mod server;
mod target;
mod tls;

pub use cluster::{RedisCluster, redis_cli};
pub use commands::{calls_in, command_calls, raw_connection};
pub use ports::{free_port, ping};
pub use proxy::{Fault, Proxy};
pub use rng::{Rng, seeded_run};
pub use scoped::{
    ScopedCache, redis_cache, redis_cache_with, redis_url, test_builder, unique_namespace,
    until_no_pending,
};
pub use server::RedisServer;
pub use target::Target;
pub use tls::TlsFiles;
