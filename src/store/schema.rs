//! The Redis key schema: every key switchboard touches, built from
//! `redis.prefix`, and the scripts that change them atomically.
//!
//! Every key starts with the hash tag `{P}` (`P` = `redis.prefix`), so all of
//! one instance's keys live in one Redis Cluster slot and a Lua script may
//! touch keys it derives itself. Instances and tests with other prefixes
//! never see each other's keys.
//!
//! | key                              | type   | holds                                              |
//! |----------------------------------|--------|----------------------------------------------------|
//! | `{P}:seen:<ch>:<acct>:<pid>`     | string | routing result of a provider message (EX dedupe)   |
//! | `{P}:wechat:push:<acct>:<ts>:<nonce>` | string | SHA-256 of a WeChat push's body, `|p` while it is being taken, `|d` once durable (EX 2 × the timestamp window): the same `(timestamp, nonce)` with another body is a forgery |
//! | `{P}:ident:<kind>:<value>`       | string | customer id of an identity (phone, email, …; `{P}:ident:visitor:<v>` a web chat visitor's, read by `lua/place.lua`) |
//! | `{P}:customer:<cid>`             | hash   | `open` conversation, `last_agent`(`_at`), `last_resolved`, `resolved_at`, attributes (`tier`, `language`, `name`, `tags`, `shop_id`) |
//! | `{P}:conv:<id>`                  | hash   | state, queue, agent, channel, account, address, times, requirements (`req_skills`, `language`, `priority`, `relax`, `mode`), `rule`, `tags`, `event_seq` (its last event's sequence number); the survey's `csat_asked` (the resolve asked for, ms), `csat_asked_at`, `csat_score`, `csat_comment`, `csat_at`, `csat_msg` (what carried the score), see `store::csat`; `pending_since` (ms: when the conversation went pending, see `{P}:agent:<id>:pending`); with a bot: `bot`, `bot_turns` (customer messages it took), `bot_misses` (FAQ misses in a row), `last_bot_at`, `handed_off_at`; `closed_replied` / `waiting_replied` (when that notice went out: once per conversation, `lua/notice.lua`) |
//! | `{P}:bot:step:<message id>`   | string | a bot took its step on that customer message (EX 7 d, `lua/bot.lua`): a redelivered message gets no second bot reply |
//! | `{P}:convs`                      | zset   | every conversation id, score 0 (listed by id: ULIDs sort by creation), added by `route.lua` as it creates one |
//! | `{P}:conv:<id>:messages`         | list   | JSON messages, oldest first (`text` and URLs sealed with `[security] data_keys`) |
//! | `{P}:agent:<id>`                 | hash   | `status`, `load`, `load:<ch>`, `last_assigned_ms`, `missed`; from configuration: `cap:<ch>`, `cap_total`, `skill:<s>`, `lang:<l>`, `langs` (`*`: any) |
//! | `{P}:agents`, `{P}:agents:<ch>`  | set    | every agent; the agents with a capacity on ch      |
//! | `{P}:avail:<ch>`                 | zset   | agents available with free capacity on ch → occupancy ‰ × 1e10 + last assignment (s) |
//! | `{P}:queues`                     | set    | queues that ever had a waiting conversation         |
//! | `{P}:offers`                     | zset   | offered conversation → offer deadline (ms)          |
//! | `{P}:wrapups`                    | zset   | resolved conversation in wrap-up → its end (ms)     |
//! | `{P}:runtime`                    | hash   | `agents.<id>` / `queues.<name>` → TOML of an entry set through the admin API, or `!deleted`; layered over the configuration file by every replica |
//! | `{P}:bullseye`                   | zset   | waiting conversation → time of its queue's next bullseye step (ms) |
//! | `{P}:config`                     | hash   | `sticky_ms`, `offer_misses`, `queue:<name>` (JSON requirements, overflow, bullseye steps): the configuration the scripts read |
//! | `{P}:customer:<cid>:identities`  | set    | the customer's identities as `kind:value` (`phone:+1…`, `email:…`, `shop:…`) |
//! | `{P}:customer:<cid>:convs`       | set    | the customer's conversation ids (added by `route.lua`), for an erase or export |
//! | `{P}:conv:<id>:stream`           | set    | `<stream>:<seq>` of the conversation's messages on the JetStream streams (`inbound`, `outbound`, `events`), deleted by sequence when it is erased |
//! | `{P}:conv:<id>:msgids`           | set    | the email Message-IDs mapped to the conversation (`email:msgid:`) |
//! | `{P}:erased:<id>`                | string | an erased conversation → the first event `seq` kept (EX 7 d): its stream messages published later are deleted at once (`lua/stream_index.lua`) |
//! | `{P}:erased:h:<hex>`             | string | the keyed hash of an id an erased customer was known by (customer id, shop id, `kind:value`) → the customer id (EX 30 d): a repeated erase answers zero counts, not 404 |
//! | `{P}:rekey:cursor`               | string | the `SCAN` cursor of a `switchboard rekey` under way (deleted when it is through); `{P}:rekey:lock` (PX): the process rekeying now |
//! | `{P}:retention:cursor`           | string | the last conversation id the retention sweep looked at (`lua/retention.lua`); `{P}:retention:lock` (PX): the replica sweeping now |
//! | `{P}:privacy:key`                | string | the key of the keyed hashes (HMAC-SHA-256) that stand for an erased customer's number in `optout:sms:` (`h:<hex>`) |
//! | `{P}:sla:<id>`                   | string | the conversation's SLA clocks, JSON (`sla::clock::Clocks`), replaced by compare-and-set (EX 90 d) |
//! | `{P}:sla:done:<firing>:<i>`      | string | the i-th escalation step of an SLA timer's firing ran (EX 24 h) |
//! | `{P}:agentmail:<inbound id>`     | string | an agent's emailed reply was taken (EX 7 d)        |
//! | `{P}:timers:sla:*`               | …      | SLA warn/breach timers (see `store::timers`)          |
//! | `{P}:conv:<id>:declined`         | set    | agents who declined or missed the conversation's offer |
//! | `{P}:agent:<id>:conversations`   | set    | the agent's open conversation ids                  |
//! | `{P}:agent:<id>:pending`         | set    | the agent's pending conversations: quiet since the agent's reply for `routing.pending_after_secs`, not counted in its `load` (`lua/idle_pending.lua`; counted again by the customer's next message, `count_again` in `lua/lib.lua`) |
//! | `{P}:queue:<name>:assigned:<minute>` | string | conversations of the queue given to an agent (assigned or offered) in that minute since the epoch (EX 1 h), counted by `lua/lib.lua` `take`: the waiting reply's estimate |
//! | `{P}:queue:<name>:waiting:<ch>`  | zset   | unassigned conversation on channel ch → score: (SLA deadline or enqueue time, ms) − priority × 1e13 |
//! | `{P}:outbound:<id>`              | hash   | `state` (`sending` while claimed, then final: sent/failed/uncertain), `claim`/`claimed_at`/`lease_until`/`claims` (the send claim, see `sending`), `provider_id`, `conversation`, `agent`, `delivery`/`delivery_rank`/`error_code` (provider status, never moves back) |
//! | `{P}:delivered:<event id>`       | set    | delivery targets an event already reached (EX)     |
//! | `{P}:conv:<id>:delivered`        | string | the highest `event_seq` of the conversation delivered to every target or dead-lettered (EX 30 d): event n waits for n − 1 |
//! | `{P}:outbox`                     | zset   | outbox entry id → when it was appended (ms), or when the relay's lease on it ends |
//! | `{P}:outbox:data`                | hash   | outbox entry id → `event:<type>` or `outbound:<channel>`, a newline, the payload as published |
//! | `{P}:outbox:seqs`                | hash   | scope (`agent:<id>`, `system`) → last sequence number of its events of no conversation |
//! | `{P}:outbox:cause:<cause>`       | string | event id appended for a cause (SLA firing, failed send) (EX 7 d): once per cause |
//! | `{P}:deadletters`                | zset   | dead letter id → time (ms): steps that gave up (deliveries, routing, outbox) |
//! | `{P}:deadletters:data`           | hash   | dead letter id → JSON (kind, target, reason, and the event, message or payload) |
//! | `{P}:disabled`                   | hash   | delivery target (`<agent>#<i>`, `queue:<name>#<i>`, `supervisor#<i>`, `notify:<list>#<i>`) → why it is disabled (410, a robot's permanent error) |
//! | `{P}:robot:<h>:sent`             | zset   | sends to one chat robot (`h` = first 16 bytes of SHA-256 of its URL, hex) → Redis time (ms), the sliding window of its rate limit (PX the longest window); see `store::ratelimit` |
//! | `{P}:slack:ts:<conversation>:<h>` | hash  | the conversation's Slack parent message for one `slack_app` target (`h` = first 8 bytes of SHA-256 of the target key and channel, hex): `ts`, `channel`, `first` (the first message's excerpt), `due` (EX 90 d) |
//! | `{P}:slack:thread:<channel>:<ts>` | string | the conversation whose Slack parent message that is (EX 90 d): a thread reply finds its conversation |
//! | `{P}:slack:pause:<channel>`      | string | set (PX the `Retry-After`) when Slack rate-limits a post to that channel: every replica's posts to it wait it out |
//! | `{P}:slack:event:<event id>`     | string | a Slack Events API event taken (EX 1 d): a retry or replay acts once |
//! | `{P}:email:msgid:<message-id>`  | string | conversation of an email we sent or received (EX 90 d) |
//! | `{P}:optout:sms:<acct>`          | set    | E.164 numbers that sent STOP to that account       |
//! | `{P}:webchat:<v>:seq`            | string | last `seq` given in visitor `v`'s chat (EX 30 d)   |
//! | `{P}:webchat:<v>:log`            | zset   | `seq` → message JSON, the last `history_limit` (EX 30 d) |
//! | `{P}:webchat:<v>:slot:<slot>`    | hash   | `id`, `seq`, `state` (pending/stored) of one message: slot = widget `client_id` or `out:<outbound id>` (EX 30 d) |
//! | `{P}:webchat:<v>:rate:<minute>`  | string | new messages of the visitor in that minute (EX 60 s) |
//! | `{P}:wechat:token:<acct>`        | string | the account's access_token (EX before it expires)  |
//! | `{P}:wechat:token:<acct>:lock`   | string | held (EX 10 s) by the one replica fetching a token |
//! | `{P}:rpt:seen:<event id>`       | string | an event the reports consumer counted (EX 35 d): a repeat counts nothing |
//! | `{P}:rpt:conv:<id>`              | hash   | the conversation's report state: `mark` (highest `seq` applied), `open`/`cycle` (ms of the opening, of the last reopening), `fr` (first response counted), `pend` (ms of a customer message waiting for a next response), `cmp` (tagged `complaint`), `as:<agent>`, `sla:<clock>:<run>` (`met`/`br`, counted) (EX 35 d) |
//! | `{P}:rpt:h:<hour>`               | hash   | the report figures of one UTC hour (`<hour>` = Unix time / 3600): `<dim>|<figure>` → count, `<dim>` = `all`, `q:<queue>`, `a:<agent>`, `c:<channel>`; figures `conv`, `res`, `reo`, `xfer`, `cmp`, `fr|<bin>`, `nr|<bin>`, `rt|<bin>` (histograms, see `reports::histogram`), `sla|<clock>|met`/`br`, `csat|n`, `csat|sum`, `csat|<score>` (until `reports.retention_days` after the hour) |
//! | `{P}:rpt:m:<minute>`             | hash   | the dashboard's figures of one minute (Unix time / 60): `in:<channel>` (customer messages), `fr|<bin>` (first responses) (until 2 h after the minute) |
//! | `{P}:atrisk`                     | zset   | `<conversation>|<clock>` of a running SLA clock past its warning → its breach due (ms): added when the warning is marked, removed when the clock stops, restarts or breaches (`supervisor`) |
//! | `{P}:alerts:since`               | string | when the first alert evaluation ran (ms): the inbound surge is judged only once its baseline has been counted since |
//! | `{P}:alerts`                     | hash   | `<alert>|<scope>` → JSON of a firing peak alert (`alert`, `scope`, `figure`, `threshold`, `since` ms), changed only by `lua/alerts.lua` |
//! | `{P}:inbound:<minute>`           | string | inbound messages routed in that minute since the epoch (EX 25 h), counted by `route.lua` past the de-duplication |
//!
//! Invariants, kept by the routing scripts (`lua/lib.lua` and the scripts
//! prefixed with it), each one atomic step: an agent's `load:<ch>` equals
//! the number of conversations it holds on that channel (assigned, offered
//! or in wrap-up) and never exceeds its capacity through an assignment;
//! `avail:<ch>` holds exactly the agents that can take one more; a
//! conversation has at most one agent; a customer has at most one open (not
//! resolved) conversation; a provider message id is routed at most once
//! while its `seen` key lives.

use switchboard_core::Channel;

/// Key names for one prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    base: String,
}

impl Keys {
    /// Keys for `prefix` (validated by the configuration).
    pub fn new(prefix: &str) -> Self {
        Keys { base: format!("{{{prefix}}}") }
    }

    /// `{P}`: the base that scripts derive further keys from.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Routing result of one provider message.
    pub fn seen(&self, channel: Channel, account: &str, provider_id: &str) -> String {
        format!("{}:seen:{channel}:{account}:{provider_id}", self.base)
    }

    /// The body hash of the WeChat push signed with `(timestamp, nonce)`.
    pub fn wechat_push(&self, account: &str, timestamp: &str, nonce: &str) -> String {
        format!("{}:wechat:push:{account}:{timestamp}:{nonce}", self.base)
    }

    /// Customer id of an identity.
    pub fn identity(&self, kind: &str, value: &str) -> String {
        format!("{}:ident:{kind}:{value}", self.base)
    }

    /// A customer profile.
    pub fn customer(&self, id: &str) -> String {
        format!("{}:customer:{id}", self.base)
    }

    /// A conversation.
    pub fn conversation(&self, id: &str) -> String {
        format!("{}:conv:{id}", self.base)
    }

    /// Every conversation id (the listing's index).
    pub fn conversation_index(&self) -> String {
        format!("{}:convs", self.base)
    }

    /// A conversation's messages.
    pub fn messages(&self, id: &str) -> String {
        format!("{}:conv:{id}:messages", self.base)
    }

    /// An agent's run-time state.
    pub fn agent(&self, id: &str) -> String {
        format!("{}:agent:{id}", self.base)
    }

    /// An agent's open conversations.
    pub fn agent_conversations(&self, id: &str) -> String {
        format!("{}:agent:{id}:conversations", self.base)
    }

    /// A queue's waiting conversations on one channel.
    pub fn waiting(&self, queue: &str, channel: Channel) -> String {
        format!("{}:queue:{queue}:waiting:{channel}", self.base)
    }

    /// Conversations of a queue given to an agent in one minute (since the epoch).
    pub fn queue_assigned(&self, queue: &str, minute: i64) -> String {
        format!("{}:queue:{queue}:assigned:{minute}", self.base)
    }

    /// Send state of an outbound message.
    pub fn outbound(&self, id: &str) -> String {
        format!("{}:outbound:{id}", self.base)
    }

    /// Targets an event has reached.
    pub fn delivered(&self, event_id: &str) -> String {
        format!("{}:delivered:{event_id}", self.base)
    }

    /// Numbers opted out of an SMS account.
    pub fn opt_out(&self, account: &str) -> String {
        format!("{}:optout:sms:{account}", self.base)
    }

    /// A WeChat account's cached access token, shared by all replicas.
    pub fn wechat_token(&self, account: &str) -> String {
        format!("{}:wechat:token:{account}", self.base)
    }

    /// The conversation an email Message-ID belongs to.
    pub fn email_message(&self, message_id: &str) -> String {
        format!("{}:email:msgid:{message_id}", self.base)
    }

    /// Held by the one replica refreshing a WeChat access token.
    pub fn wechat_token_lock(&self, account: &str) -> String {
        format!("{}:wechat:token:{account}:lock", self.base)
    }

    /// A visitor's chat seq counter.
    pub fn chat_seq(&self, visitor: &str) -> String {
        format!("{}:webchat:{visitor}:seq", self.base)
    }

    /// A visitor's chat log.
    pub fn chat_log(&self, visitor: &str) -> String {
        format!("{}:webchat:{visitor}:log", self.base)
    }

    /// The place of one message in a visitor's chat.
    pub fn chat_slot(&self, visitor: &str, slot: &str) -> String {
        format!("{}:webchat:{visitor}:slot:{slot}", self.base)
    }

    /// A visitor's message counter for one minute.
    pub fn chat_rate(&self, visitor: &str, minute: i64) -> String {
        format!("{}:webchat:{visitor}:rate:{minute}", self.base)
    }

    /// Agents and queues changed at run time.
    pub fn runtime(&self) -> String {
        format!("{}:runtime", self.base)
    }

    /// Routing settings the scripts read.
    pub fn routing_config(&self) -> String {
        format!("{}:config", self.base)
    }

    /// Agents available with free capacity on a channel.
    pub fn available(&self, channel: Channel) -> String {
        format!("{}:avail:{channel}", self.base)
    }

    /// A conversation's SLA clocks (JSON).
    pub fn sla(&self, conversation: &str) -> String {
        format!("{}:sla:{conversation}", self.base)
    }

    /// Prefix of the SLA timers (see `store::timers`).
    pub fn sla_timers(&self) -> String {
        format!("{}:timers:sla", self.base)
    }

    /// The highest sequence number of a conversation's events delivered.
    pub fn delivered_seq(&self, conversation: &str) -> String {
        format!("{}:conv:{conversation}:delivered", self.base)
    }

    /// The outbox's entries by time.
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.base)
    }

    /// The outbox's entries' contents.
    pub fn outbox_data(&self) -> String {
        format!("{}:outbox:data", self.base)
    }

    /// Delivery targets disabled by a 410.
    pub fn disabled_targets(&self) -> String {
        format!("{}:disabled", self.base)
    }

    /// Dead-lettered deliveries.
    pub fn dead_letters(&self) -> String {
        format!("{}:deadletters", self.base)
    }

    /// Dead letter id → its JSON.
    pub fn dead_letter_data(&self) -> String {
        format!("{}:deadletters:data", self.base)
    }

    /// The start of every conversation's SLA clocks key: `sla(c)` is this
    /// followed by `c`.
    pub fn sla_prefix(&self) -> String {
        format!("{}:sla:", self.base)
    }

    /// Set once the `step`-th escalation of an SLA timer's firing ran.
    pub fn escalation_done(&self, firing: &str, step: usize) -> String {
        format!("{}:sla:done:{firing}:{step}", self.base)
    }

    /// Set once an emailed agent reply (by its inbound id) was taken.
    pub fn agent_mail(&self, inbound_id: &str) -> String {
        format!("{}:agentmail:{inbound_id}", self.base)
    }

    /// The sliding window of sends to one chat robot (`hash`: of its URL,
    /// which is a credential and never a key).
    pub fn robot_sent(&self, hash: &str) -> String {
        format!("{}:robot:{hash}:sent", self.base)
    }

    /// An event the reports consumer counted.
    pub fn report_seen(&self, event_id: &str) -> String {
        format!("{}:rpt:seen:{event_id}", self.base)
    }

    /// A conversation's report state.
    pub fn report_conversation(&self, conversation: &str) -> String {
        format!("{}:rpt:conv:{conversation}", self.base)
    }

    /// The report figures of one UTC hour (Unix time / 3600).
    pub fn report_hour(&self, hour: i64) -> String {
        format!("{}:rpt:h:{hour}", self.base)
    }

    /// The dashboard's figures of one minute (Unix time / 60).
    pub fn report_minute(&self, minute: i64) -> String {
        format!("{}:rpt:m:{minute}", self.base)
    }

    /// Running SLA clocks past their warning, by breach due time.
    pub fn at_risk(&self) -> String {
        format!("{}:atrisk", self.base)
    }

    /// The firing peak alerts.
    pub fn alerts(&self) -> String {
        format!("{}:alerts", self.base)
    }

    /// A conversation's Slack parent message for one `slack_app` target.
    pub fn slack_parent(&self, conversation: &str, target_hash: &str) -> String {
        format!("{}:slack:ts:{conversation}:{target_hash}", self.base)
    }

    /// The conversation of a Slack parent message (`channel`, `ts`).
    pub fn slack_thread(&self, channel: &str, ts: &str) -> String {
        format!("{}:slack:thread:{channel}:{ts}", self.base)
    }

    /// Slack rate-limited posts to a channel until this key expires.
    pub fn slack_pause(&self, channel: &str) -> String {
        format!("{}:slack:pause:{channel}", self.base)
    }

    /// A Slack Events API event taken.
    pub fn slack_event(&self, event_id: &str) -> String {
        format!("{}:slack:event:{event_id}", self.base)
    }

    /// A customer's conversation ids.
    pub fn customer_conversations(&self, customer: &str) -> String {
        format!("{}:customer:{customer}:convs", self.base)
    }

    /// A conversation's messages on the streams, by sequence.
    pub fn conversation_streams(&self, conversation: &str) -> String {
        format!("{}:conv:{conversation}:stream", self.base)
    }

    /// The email Message-IDs mapped to a conversation.
    pub fn conversation_message_ids(&self, conversation: &str) -> String {
        format!("{}:conv:{conversation}:msgids", self.base)
    }

    /// The key of the keyed hashes of erased numbers.
    pub fn privacy_key(&self) -> String {
        format!("{}:privacy:key", self.base)
    }

    /// The `SCAN` pattern of the conversations' keys (records, histories).
    pub fn conversations_glob(&self) -> String {
        format!("{}:conv:*", self.base)
    }

    /// The cursor of a rekey under way.
    pub fn rekey_cursor(&self) -> String {
        format!("{}:rekey:cursor", self.base)
    }

    /// The lock of the process rekeying.
    pub fn rekey_lock(&self) -> String {
        format!("{}:rekey:lock", self.base)
    }

    /// Inbound messages routed in one minute (since the epoch).
    pub fn inbound_count(&self, minute: i64) -> String {
        format!("{}:inbound:{minute}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_hash_tag() {
        let k = Keys::new("t1");
        for key in [
            k.seen(Channel::Sms, "shop", "SM1"),
            k.identity("phone", "+1"),
            k.conversation("c"),
            k.messages("c"),
            k.agent("a"),
            k.agent_conversations("a"),
            k.waiting("q", Channel::Sms),
            k.outbound("o"),
            k.delivered("e"),
            k.dead_letters(),
            k.robot_sent("00ff"),
            k.report_seen("c:1"),
            k.report_conversation("c"),
            k.report_hour(1),
            k.report_minute(1),
            k.at_risk(),
            k.alerts(),
            k.inbound_count(1),
            k.queue_assigned("q", 1),
            k.slack_parent("c", "00ff"),
            k.slack_thread("C1", "1.2"),
            k.slack_event("Ev1"),
        ] {
            assert!(key.starts_with("{t1}:"), "{key}");
        }
        assert_eq!(k.seen(Channel::Sms, "shop", "SM1"), "{t1}:seen:sms:shop:SM1");
    }
}
