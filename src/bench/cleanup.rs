//! Removing what a run created: its Redis keys and its JetStream streams.
//! Everything a run creates is named from its unique prefix, so nothing
//! else on the shared servers is touched.

use async_nats::jetstream;
use futures::StreamExt;
use redis::aio::MultiplexedConnection;

/// Unlinks every key that starts with `{head` (the Redis key schema puts
/// the prefix in a `{…}` hash tag, and sub-prefixes of a run only extend
/// it), walking the keyspace with `SCAN` (never `KEYS`). Returns how many
/// keys were unlinked.
pub async fn redis_keys(conn: &mut MultiplexedConnection, head: &str) -> anyhow::Result<u64> {
    let pattern = format!("{{{head}*");
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(5000).query_async(conn).await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK").arg(&keys).query_async(conn).await?;
            removed += n;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(removed);
        }
    }
}

/// Deletes every JetStream stream whose name starts with `head` (with
/// their consumers). Returns the names deleted.
pub async fn streams(js: &jetstream::Context, head: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut listing = js.stream_names();
    while let Some(name) = listing.next().await {
        let name = name?;
        if name.starts_with(head) {
            names.push(name);
        }
    }
    for name in &names {
        js.delete_stream(name).await?;
    }
    Ok(names)
}
