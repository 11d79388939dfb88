//! The Redis connection every store call goes through: the shared
//! multiplexed connection, counting its round trips (one per command sent
//! on its own, one per pipeline), so that the benchmark can say how many
//! each routed message costs.

use std::sync::atomic::{AtomicU64, Ordering};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, Value};

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
