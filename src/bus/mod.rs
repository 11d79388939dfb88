//! NATS JetStream: every subject, stream and consumer name, and the one
//! publish path that waits for the ack.
//!
//! With `P` = `nats.prefix`:
//!
//! | stream          | subjects            | holds                                   |
//! |-----------------|---------------------|-----------------------------------------|
//! | `P_inbound`     | `P.inbound.<ch>`    | normalized customer messages            |
//! |                 | `P.inbound.notice.<ch>` | providers' notices: delivery statuses, profile events |
//! | `P_outbound`    | `P.outbound.<ch>`   | replies waiting for the channel sender  |
//! | `P_events`      | `P.events.<type>`   | the replayable CloudEvents log          |
//!
//! Durable pull consumers shared by all replicas: `router` (inbound),
//! `sender` (outbound), `delivery` and `reports` (events). `P.agent.<id>` and
//! `P.queue.<name>` are plain subjects fanned out from the event log for
//! agents' own tools. Every publish carries a `Nats-Msg-Id` derived from the
//! provider's or our own id, so a re-publish after a crash or a provider
//! retry is dropped by JetStream's duplicate window.
//!
//! Size: NATS closes the whole connection (every in-flight request on it
//! fails) when one message is over the server's `max_payload`, and the
//! client only checks core publishes without headers. So every publish
//! here is checked first against the `max_payload` the server announced
//! (headers included) and refused with [`BusError::TooLarge`], never sent.

pub mod consume;

/// A stream message's payload opened (see `Bus::seal_payload`); a payload
/// that is not sealed is answered as it is.
pub fn open_payload(payload: &Bytes) -> Result<Bytes, crate::sealing::SealError> {
    match std::str::from_utf8(payload) {
        Ok(text) if crate::sealing::key_id(text).is_some() => crate::sealing::open(text).map(Bytes::from),
        _ => Ok(payload.clone()),
    }
}
mod subjects;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
pub use subjects::Subjects;

use crate::config::NatsSettings;

/// What went wrong talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The connection could not be set up (bad URL or options).
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    /// A stream or consumer could not be created or updated.
    #[error("cannot set up JetStream {what}: {reason}")]
    Setup {
        /// The stream or consumer.
        what: String,
        /// The server's answer.
        reason: String,
    },
    /// The message is larger than the server's `max_payload`: it was not
    /// sent (sending it would make the server drop the connection). Not
    /// transient: the same message will never fit.
    #[error("message of {size} bytes to {subject} is over the NATS server's max_payload ({max} bytes with headers); not sent")]
    TooLarge {
        /// Where it was meant to go.
        subject: String,
        /// Its size, headers included.
        size: usize,
        /// The server's limit.
        max: usize,
    },
    /// A publish was not acknowledged (in time).
    #[error("publish to {subject} not acknowledged: {reason}")]
    Publish {
        /// Where it was published.
        subject: String,
        /// Why.
        reason: String,
    },
}

impl BusError {
    /// Whether this is [`BusError::TooLarge`]: the message can never be
    /// published as it is (refuse it, truncate it or dead-letter it; a retry
    /// does not help).
    pub fn is_too_large(&self) -> bool {
        matches!(self, BusError::TooLarge { .. })
    }
}

/// The header of a message an operator replayed from the dead letters
/// (`POST /api/v1/admin/dead-letters/{id}/replay`).
pub const REPLAY_HEADER: &str = "Switchboard-Replay";

/// NATS's default `max_payload`, assumed until the server has said its own
/// (the client assumes it too).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// Bytes of a header block holding one `Nats-Msg-Id` of `id_len` bytes:
/// `NATS/1.0\r\n`, `Nats-Msg-Id: <id>\r\n` and the closing `\r\n`,
/// with slack for whatever the client adds.
fn header_bytes(id_len: usize) -> usize {
    64 + id_len
}

/// A connected JetStream context with the configured names.
#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    subjects: Subjects,
    settings: NatsSettings,
}

impl Bus {
    /// Connects in the background: the daemon starts (and reports not
    /// ready) while NATS is down, and reconnects forever, at most about
    /// 600 ms apart, so that intake works again within a second of the
    /// server's return (the client's own backoff grows to 4 s).
    pub async fn connect(settings: &NatsSettings) -> Result<Bus, BusError> {
        const RECONNECT_BASE: Duration = Duration::from_millis(50);
        const RECONNECT_CAP: Duration = Duration::from_millis(500);
        let mut options = async_nats::ConnectOptions::new();
        if let Some(ca) = &settings.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        let client = options
            .name(format!("switchboard/{}", settings.prefix))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(|attempt| {
                switchboard_core::retry::reconnect_delay(attempt, RECONNECT_BASE, RECONNECT_CAP)
            })
            .connect(settings.servers().map_err(BusError::Connect)?)
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(settings.publish_timeout());
        Ok(Bus { client, js, subjects: Subjects::new(&settings.prefix), settings: settings.clone() })
    }

    /// The configured names.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The plain NATS client (for core publishes to agent subjects).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The largest message (headers and payload) the server takes: its
    /// announced `max_payload`, [`DEFAULT_MAX_PAYLOAD`] before it announced
    /// one.
    pub fn max_payload(&self) -> usize {
        match self.client.server_info().max_payload {
            0 => DEFAULT_MAX_PAYLOAD,
            n => n,
        }
    }

    /// The largest payload [`publish`](Self::publish) sends with a
    /// `Nats-Msg-Id` of `id_len` bytes.
    pub fn payload_limit(&self, id_len: usize) -> usize {
        self.max_payload().saturating_sub(header_bytes(id_len))
    }

    fn check_size(&self, subject: &str, size: usize) -> Result<(), BusError> {
        let max = self.max_payload();
        if size > max {
            return Err(BusError::TooLarge { subject: subject.to_owned(), size, max });
        }
        Ok(())
    }

    /// Whether the client holds a live connection.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates or updates the three streams. Idempotent: every replica runs
    /// it at start, and a changed retention setting is applied in place.
    /// `cap` (`retention.stream_max_age_days`) shortens their age limits.
    pub async fn ensure_streams(&self, cap: Option<Duration>) -> Result<(), BusError> {
        let s = &self.subjects;
        let capped = |d: Duration| cap.map_or(d, |c| c.min(d));
        let age = capped(Duration::from_secs(self.settings.stream_max_age_secs));
        let defs = [
            (s.inbound_stream(), s.inbound_all(), age),
            (s.outbound_stream(), s.outbound_all(), age),
            (s.events_stream(), s.events_all(), capped(Duration::from_secs(self.settings.events_max_age_secs))),
        ];
        for (name, subject, max_age) in defs {
            self.ensure_stream(name, subject, max_age).await?;
        }
        Ok(())
    }

    /// Creates or updates one stream of ours: file storage, limits
    /// retention, the configured replicas and duplicate window.
    async fn ensure_stream(&self, name: String, subject: String, max_age: Duration) -> Result<(), BusError> {
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![subject],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: self.settings.stream_replicas,
            max_age,
            duplicate_window: Duration::from_secs(self.settings.duplicate_window_secs),
            ..Default::default()
        };
        self.js
            .create_or_update_stream(config)
            .await
            .map(|_| ())
            .map_err(|e| BusError::Setup { what: format!("stream {name}"), reason: e.to_string() })
    }

    /// Creates or updates the audit trail's stream (`P_audit`, subjects
    /// `P.audit.>`, kept `max_age`: `retention.audit_days`).
    pub async fn ensure_audit_stream(&self, max_age: Duration) -> Result<(), BusError> {
        self.ensure_stream(self.subjects.audit_stream(), self.subjects.audit(">"), max_age).await
    }

    /// Whether all three streams exist on the server.
    pub async fn streams_exist(&self) -> bool {
        for name in [self.subjects.inbound_stream(), self.subjects.outbound_stream(), self.subjects.events_stream()] {
            if self.js.get_stream_no_info(&name).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The durable pull consumer `durable` on `stream`, created or updated.
    pub async fn consumer(
        &self,
        stream: &str,
        durable: &str,
        filter: String,
    ) -> Result<consumer::PullConsumer, BusError> {
        let setup = |e: String| BusError::Setup { what: format!("consumer {stream}/{durable}"), reason: e };
        let stream = self.js.get_stream_no_info(stream).await.map_err(|e| setup(e.to_string()))?;
        let config = consumer::pull::Config {
            durable_name: Some(durable.to_owned()),
            filter_subject: filter,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(self.settings.ack_wait_secs),
            // Unlimited on the server: JetStream would drop a message after
            // its last delivery without a word. The workers bound real
            // failures by `nats.max_deliver` themselves and dead-letter them;
            // waits for NATS or Redis are not failures and count nothing.
            max_deliver: -1,
            max_ack_pending: 10_000,
            ..Default::default()
        };
        stream.create_consumer(config).await.map_err(|e| setup(e.to_string()))
    }

    /// Publishes to JetStream and waits (bounded by
    /// `nats.publish_timeout_ms`) for the ack: only then is the message
    /// durable. `msg_id` makes a re-publish a no-op within the duplicate
    /// window. Returns the message's stream sequence, `None` for such a
    /// duplicate.
    pub async fn publish(&self, subject: String, msg_id: &str, payload: Bytes) -> Result<Option<u64>, BusError> {
        self.publish_headers(subject, msg_id, None, payload).await
    }

    /// The payload as the stream stores it: with `[security] data_keys`,
    /// sealed whole (`enc:v1:…`, see `crate::sealing`), except on the audit
    /// trail (which holds no message text) and when already sealed (a
    /// replay). Consumers open it with [`open_payload`].
    fn seal_payload(&self, subject: &str, payload: Bytes) -> Bytes {
        let audit = subject.starts_with(&self.subjects.audit(""));
        match (crate::sealing::keyring(), std::str::from_utf8(&payload)) {
            (Some(keys), Ok(text)) if !audit && crate::sealing::key_id(text).is_none() => Bytes::from(keys.seal(text)),
            _ => payload,
        }
    }

    /// [`publish`](Self::publish) with the [`REPLAY_HEADER`]: an operator's
    /// replay of a dead letter, which the consumers handle even where they
    /// would skip a plain re-publish (delivery's "delivered before").
    pub async fn publish_replay(&self, subject: String, msg_id: &str, payload: Bytes) -> Result<Option<u64>, BusError> {
        self.publish_headers(subject, msg_id, Some((REPLAY_HEADER, "1")), payload).await
    }

    async fn publish_headers(
        &self,
        subject: String,
        msg_id: &str,
        extra: Option<(&'static str, &str)>,
        payload: Bytes,
    ) -> Result<Option<u64>, BusError> {
        let fail = |subject: &str, e: String| BusError::Publish { subject: subject.to_owned(), reason: e };
        let payload = self.seal_payload(&subject, payload);
        let extra_len = extra.map_or(0, |(name, value)| header_bytes(name.len() + value.len()));
        self.check_size(&subject, payload.len() + header_bytes(msg_id.len()) + extra_len)?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        if let Some((name, value)) = extra {
            headers.insert(name, value);
        }
        let bound = self.settings.publish_timeout();
        let ack = tokio::time::timeout(bound, async {
            self.js
                .publish_with_headers(subject.clone(), headers, payload)
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        match ack {
            Ok(Ok(ack)) => Ok((!ack.duplicate).then_some(ack.sequence)),
            Ok(Err(e)) => Err(fail(&subject, e)),
            Err(_) => Err(fail(&subject, format!("no ack within {} ms", bound.as_millis()))),
        }
    }

    /// Deletes messages by stream sequence (`refs`: `inbound`, `outbound`
    /// or `events`, and the sequence); the server overwrites what it
    /// deletes. One already gone (aged out, deleted before) counts as
    /// deleted. How many of `refs` are gone now.
    pub async fn delete_messages(&self, refs: &[(String, u64)]) -> Result<u64, BusError> {
        use async_nats::jetstream::stream::DeleteMessageErrorKind;
        let fail = |name: &str, e: String| BusError::Setup { what: format!("stream {name}"), reason: e };
        let mut gone = 0;
        for (kind, seq) in refs {
            let name = match kind.as_str() {
                "inbound" => self.subjects.inbound_stream(),
                "outbound" => self.subjects.outbound_stream(),
                "events" => self.subjects.events_stream(),
                _ => continue,
            };
            let stream = self.js.get_stream_no_info(&name).await.map_err(|e| fail(&name, e.to_string()))?;
            match stream.delete_message(*seq).await {
                Ok(_) => gone += 1,
                Err(e) => match e.kind() {
                    DeleteMessageErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND => gone += 1,
                    _ => return Err(fail(&name, e.to_string())),
                },
            }
        }
        Ok(gone)
    }

    /// A core NATS publish (no persistence), for the agent and queue
    /// fan-out subjects. Checked against `max_payload` like
    /// [`publish`](Self::publish).
    pub async fn publish_core(&self, subject: String, payload: Bytes) -> Result<(), BusError> {
        self.check_size(&subject, payload.len())?;
        self.client
            .publish(subject.clone(), payload)
            .await
            .map_err(|e| BusError::Publish { subject, reason: e.to_string() })
    }

    /// A core NATS publish with one header (no persistence), checked
    /// against `max_payload` with its header (which the client does not
    /// check).
    pub async fn publish_core_with_header(&self, subject: String, name: &'static str, value: &str, payload: Bytes) -> Result<(), BusError> {
        self.check_size(&subject, payload.len() + header_bytes(name.len() + value.len()))?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        self.client
            .publish_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|e| BusError::Publish { subject, reason: e.to_string() })
    }
}
