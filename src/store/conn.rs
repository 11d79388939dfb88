//! The Redis connection every store call goes through ([`Shared`]): one
//! reconnecting multiplexed connection, counting its round trips (one per command sent
//! on its own, one per pipeline), so that the benchmark can say how many
//! each routed message costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::Mutex;

/// Round trips made by every [`Counted`] connection of this process.
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// Round trips to Redis made by this process's stores so far.
pub fn round_trips() -> u64 {
    ROUND_TRIPS.load(Ordering::Relaxed)
}

/// A multiplexed connection that counts its round trips.
#[derive(Clone)]
pub struct Counted(pub(crate) MultiplexedConnection);

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counted(MultiplexedConnection)")
    }
}

impl ConnectionLike for Counted {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(&'a mut self, cmd: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        self.0.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

/// The one reconnecting Redis connection of a store handle: it connects
/// on first use, is shared by every clone, and is dropped after an error
/// that may mean it is dead, so the next call connects again. The store
/// and the timer sets both go through it.
#[derive(Debug)]
pub struct Shared {
    client: redis::Client,
    timeout: Duration,
    slot: Mutex<Option<MultiplexedConnection>>,
}

impl Shared {
    /// A connection to `client`'s server with `timeout` for connecting and
    /// for each answer; does not connect yet.
    pub fn new(client: redis::Client, timeout: Duration) -> Shared {
        Shared { client, timeout, slot: Mutex::new(None) }
    }

    /// The connection, connecting if there is none.
    pub async fn get(&self) -> RedisResult<Counted> {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(Counted(c.clone()));
        }
        let config = AsyncConnectionConfig::new().set_connection_timeout(self.timeout).set_response_timeout(self.timeout);
        let c = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *slot = Some(c.clone());
        Ok(Counted(c))
    }

    /// Passes `r` on, dropping the connection first when the error may
    /// mean it is dead.
    pub async fn check<T>(&self, r: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &r {
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
                *self.slot.lock().await = None;
            }
        }
        r
    }
}
