//! The send claim of an outbound message, in its `{P}:outbound:<id>` hash:
//! the sender writes `state = sending` *before* it calls the provider and
//! `sent`/`failed` right after the answer, so a redelivery can tell "never
//! tried" from "maybe at the provider".
//!
//! A claim carries a random `claim` token, `claimed_at` and `lease_until`
//! (both Redis server time, ms, so replicas' clocks do not matter) and
//! bumps `claims`. The lease is longer than a live sender can take (the
//! sender also gives up on its own call before the lease ends), so a
//! `sending` whose lease ran out means its sender died between the claim
//! and the record: the crash window, where the provider may or may not
//! have the message. The claim script settles that case atomically, so of
//! two redeliveries racing on an expired claim only one acts: it either
//! takes the claim over (the caller resends where the provider recognises
//! a repeat) or marks the message `uncertain`, a final state.
//!
//! Final states (`sent`, `failed`, `uncertain`) are never claimed again.
//! The record of a provider's answer ([`Store::mark_outbound`]) overwrites
//! whatever claim state there is: the provider's word is better than a
//! guess.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use switchboard_core::OutboundMessage;

use super::{Store, StoreError};

/// What claiming the send of an outbound message found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendClaim {
    /// Claimed: nobody tried before. Call the provider, then record.
    Claimed,
    /// Claimed from a sender that claimed at `claimed_at_ms` and whose
    /// lease ran out (it crashed, or lost Redis, mid-send): the provider
    /// may have the message already.
    TakenOver {
        /// When the dead claim was made (Redis time, ms).
        claimed_at_ms: i64,
    },
    /// A final state was recorded before (`sent`, `failed`, `uncertain`):
    /// a redelivery, nothing to do.
    Done(String),
    /// Another sender holds a live claim (it is calling the provider) for
    /// this long still.
    Busy(Duration),
    /// A claim whose lease ran out was found and, as asked, marked
    /// `uncertain` instead of taken over.
    MarkedUncertain {
        /// When the dead claim was made (Redis time, ms).
        claimed_at_ms: i64,
    },
}

/// How a claim that is still ours ends without an answer to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unclaim {
    /// Nothing reached the provider: drop the claim, a redelivery claims
    /// afresh.
    Release,
    /// The call was abandoned mid-way: final state `uncertain`.
    Uncertain,
}

/// The claim. KEYS[1] outbound hash. ARGV: 1 claim token, 2 lease (ms),
/// 3 TTL (s), 4 conversation, 5 agent, 6 `1` to take over an expired
/// claim, `0` to mark it uncertain. Returns {verdict, detail}.
const CLAIM_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state')
local verdict, previous = 'claimed', ''
if state == 'sending' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '') or 0
  if lease > now then
    return {'busy', tostring(lease - now)}
  end
  previous = redis.call('HGET', KEYS[1], 'claimed_at') or ''
  if ARGV[6] ~= '1' then
    redis.call('HSET', KEYS[1], 'state', 'uncertain', 'uncertain_at', now)
    return {'uncertain', previous}
  end
  verdict = 'taken_over'
elseif state and state ~= '' then
  return {'done', state}
end
redis.call('HSET', KEYS[1], 'state', 'sending', 'claim', ARGV[1], 'claimed_at', now,
  'lease_until', now + tonumber(ARGV[2]), 'conversation', ARGV[4], 'agent', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'claims', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {verdict, previous}
";

/// Ends a claim that is still ours. KEYS[1] outbound hash. ARGV: 1 claim
/// token, 2 `release` or `uncertain`. Returns 1 if it was still ours.
const UNCLAIM_LUA: &str = r"
if redis.call('HGET', KEYS[1], 'state') ~= 'sending' or redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return 0
end
if ARGV[2] == 'uncertain' then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'state', 'uncertain', 'uncertain_at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
else
  redis.call('HDEL', KEYS[1], 'state', 'claim', 'claimed_at', 'lease_until')
end
return 1
";

static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_LUA));
static UNCLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(UNCLAIM_LUA));

impl Store {
    /// Claims the send of `out` for `lease` under `token` (unique per
    /// attempt). A claim whose lease ran out is taken over when
    /// `take_over`, else marked `uncertain`. The hash lives `ttl`.
    pub async fn claim_send(
        &self,
        out: &OutboundMessage,
        token: &str,
        lease: Duration,
        take_over: bool,
        ttl: Duration,
    ) -> Result<SendClaim, StoreError> {
        let key = self.keys.outbound(&out.id);
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut inv = CLAIM.key(&key);
        inv.arg(token)
            .arg(lease_ms)
            .arg(ttl.as_secs().max(1))
            .arg(&out.conversation_id)
            .arg(out.agent.as_deref().unwrap_or(""))
            .arg(if take_over { "1" } else { "0" });
        let mut c = self.conn().await?;
        let r: Result<(String, String), _> = inv.invoke_async(&mut c).await;
        let (verdict, detail) = self.check(r).await?;
        // A dead claim without its time (written by hand?) still settles.
        let ms = |what: &str| match detail.as_str() {
            "" => Ok(0),
            d => d.parse::<i64>().map_err(|_| StoreError::Corrupt { key: key.clone(), reason: format!("{what} is `{d}`") }),
        };
        Ok(match verdict.as_str() {
            "claimed" => SendClaim::Claimed,
            "taken_over" => SendClaim::TakenOver { claimed_at_ms: ms("claimed_at")? },
            "uncertain" => SendClaim::MarkedUncertain { claimed_at_ms: ms("claimed_at")? },
            "busy" => SendClaim::Busy(Duration::from_millis(ms("the lease left")?.max(0).unsigned_abs())),
            _ => SendClaim::Done(detail),
        })
    }

    /// Ends our claim `token` on outbound message `id` the way `how` says;
    /// `false` when it is no longer ours (recorded, or taken over after
    /// its lease ran out), which leaves it as it is.
    pub async fn unclaim_send(&self, id: &str, token: &str, how: Unclaim) -> Result<bool, StoreError> {
        let how = match how {
            Unclaim::Release => "release",
            Unclaim::Uncertain => "uncertain",
        };
        let mut inv = UNCLAIM.key(self.keys.outbound(id));
        inv.arg(token).arg(how);
        let mut c = self.conn().await?;
        let r: Result<i64, _> = inv.invoke_async(&mut c).await;
        Ok(self.check(r).await? == 1)
    }
}
