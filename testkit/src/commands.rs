//! What a test asks a server directly: a plain connection, and how many times it ran a
//! command (`INFO commandstats`), to count the round trips the library made.

/// A plain connection to `url`, for what a test does to the server itself.
pub async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// How many `command`s (lower case: `mget`) the server behind `conn` has run; 0 if none
/// yet, or if the server did not answer.
pub async fn command_calls<C: redis::aio::ConnectionLike>(conn: &mut C, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap_or_default();
    calls_in(&info, command)
}

/// The calls of `command` in an `INFO commandstats` reply.
pub fn calls_in(info: &str, command: &str) -> u64 {
    let needle = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&needle))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}
