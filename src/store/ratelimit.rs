//! The rate limit of the chat robots (WeCom, DingTalk, Feishu), shared by
//! every replica: a sliding window per robot in `{P}:robot:<h>:sent`, a
//! sorted set of the sends of the last window scored by Redis server time
//! (ms; replicas' clocks do not matter). `h` is a hash of the robot's URL,
//! which is a credential and never written to Redis.
//!
//! One script takes a slot atomically: it counts the sends inside each of
//! the robot's windows (a robot may have several: Feishu allows 100 a
//! minute and 5 a second) and either records this send (a slot was free in
//! every window) or answers how long until one frees, adding nothing. So of
//! replicas racing for the last slot exactly one gets it, and no send is
//! ever dropped: the caller waits and asks again.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use sha2::{Digest, Sha256};

use super::{Store, StoreError};

/// KEYS[1] the window; ARGV[1] a unique member for this send, then pairs of
/// (limit, window ms). Returns 0 when the send may go (and is recorded), or
/// the milliseconds until the earliest slot frees in every window.
const TAKE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local longest, wait = 0, 0
for i = 2, #ARGV, 2 do
  local limit, window = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if window > longest then longest = window end
  local inside = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf')
  if inside >= limit then
    -- The slot frees when the send (inside - limit) of the window, counting
    -- from its oldest, leaves it.
    local leaving = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf', 'WITHSCORES', 'LIMIT', inside - limit, 1)
    local frees = tonumber(leaving[2]) + window - now
    if frees > wait then wait = frees end
  end
end
if wait > 0 then return wait end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], longest)
return 0
";

static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_LUA));

/// The hash of a robot's URL its window is kept under.
pub fn robot_hash(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Takes a send slot of the robot at `url` under `limits` (messages per
    /// window): `None` when the send may go now (it is counted), or how
    /// long until a slot frees (nothing counted; ask again then).
    pub async fn take_robot_slot(&self, url: &str, limits: &[(u32, Duration)]) -> Result<Option<Duration>, StoreError> {
        let mut c = self.conn().await?;
        let mut invocation = TAKE.key(self.keys.robot_sent(&robot_hash(url)));
        invocation.arg(ulid::Ulid::new().to_string());
        for (limit, window) in limits {
            invocation.arg(*limit).arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        let r: Result<u64, _> = invocation.invoke_async(&mut c).await;
        let wait_ms = self.check(r).await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::robot_hash;

    #[test]
    fn the_window_is_keyed_by_a_hash_never_the_url() {
        // hashlib.sha256(b'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc').hexdigest()[:32]
        let h = robot_hash("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc");
        assert_eq!(h, "1b82a1ca3df05f04ca18f02ad3842eaf");
        assert!(!h.contains("abc"));
    }
}
