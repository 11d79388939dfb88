//! The Prometheus registry of one daemon instance (not global: tests run
//! several instances in one process).

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::live::LiveGauges;
pub use super::live::LiveFigures;

/// How a step ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Done.
    ok,
    /// Refused as bad input (4xx).
    rejected,
    /// Absorbed as a duplicate.
    duplicate,
    /// Failed; will be retried.
    retry,
    /// Failed for good.
    failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
    account: String,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelOnlyLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NoticeLabels {
    channel: String,
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlaLabels {
    queue: String,
    channel: String,
    priority: String,
    clock: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlaEventLabels {
    queue: String,
    clock: String,
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    queue: String,
    channel: String,
}

/// Every metric of one instance.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    ingress: Family<ChannelLabels, Counter>,
    egress: Family<ChannelLabels, Counter>,
    outbound_uncertain: Family<ChannelOnlyLabels, Counter>,
    routed: Family<QueueLabels, Counter>,
    deliveries: Family<KindLabels, Counter>,
    poison: Family<StageLabels, Counter>,
    http: Family<RouteLabels, Histogram>,
    routing_seconds: Histogram,
    ready: Gauge,
    sla_clocks: Family<SlaLabels, Counter>,
    sla_events: Family<SlaEventLabels, Counter>,
    first_response: Family<ResponseLabels, Histogram>,
    outbox_published: Family<StageLabels, Counter>,
    outbox_pending: Gauge,
    held: Family<StageLabels, Counter>,
    connections: Gauge,
    connections_closed: Family<StageLabels, Counter>,
    robot_rate_waits: Family<StageLabels, Counter>,
    report_events: Family<ReportLabels, Counter>,
    notices: Family<NoticeLabels, Counter>,
    slack_events: Family<ReportLabels, Counter>,
    /// The survey's and the idle handling's counters.
    pub care: super::CareMetrics,
    /// Held while a scrape replaces and encodes them, so two scrapes do
    /// not interleave.
    live: Arc<std::sync::Mutex<LiveGauges>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let ingress = Family::<ChannelLabels, Counter>::default();
        registry.register("ingress_messages", "Inbound provider requests by outcome", ingress.clone());
        let egress = Family::<ChannelLabels, Counter>::default();
        registry.register("egress_messages", "Outbound messages handed to providers by outcome", egress.clone());
        let outbound_uncertain = Family::<ChannelOnlyLabels, Counter>::default();
        registry.register(
            "outbound_uncertain",
            "Outbound messages found claimed by a sender that never recorded the provider's answer (the crash window), by channel",
            outbound_uncertain.clone(),
        );
        let routed = Family::<QueueLabels, Counter>::default();
        registry.register("routed_messages", "Inbound messages routed, by queue and result", routed.clone());
        let deliveries = Family::<KindLabels, Counter>::default();
        registry.register("deliveries", "Event deliveries to agent targets by kind and outcome", deliveries.clone());
        let robot_rate_waits = Family::<StageLabels, Counter>::default();
        registry.register(
            "robot_rate_waits",
            "Sends to a chat robot that waited for a slot of its rate limit, by target kind (stage)",
            robot_rate_waits.clone(),
        );
        let poison = Family::<StageLabels, Counter>::default();
        registry.register("poison_messages", "Bus messages that could not be decoded and were terminated", poison.clone());
        let http = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register("http_request_duration_seconds", "HTTP request latency by matched route", http.clone());
        let routing_seconds = Histogram::new(exponential_buckets(0.0002, 2.0, 16));
        registry.register(
            "routing_duration_seconds",
            "Time to route one inbound message (Redis step and event publish)",
            routing_seconds.clone(),
        );
        let ready = Gauge::default();
        registry.register("ready", "1 when NATS and Redis answer and the streams exist", ready.clone());
        let sla_clocks = Family::<SlaLabels, Counter>::default();
        registry.register(
            "sla_clocks",
            "SLA clocks stopped, by queue, channel, priority, clock and outcome (met, breached): attainment = met / all",
            sla_clocks.clone(),
        );
        let sla_events = Family::<SlaEventLabels, Counter>::default();
        registry.register("sla_events", "SLA warnings and breaches fired, by queue, clock and stage", sla_events.clone());
        let first_response = Family::<ResponseLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 18))
        });
        registry.register(
            "first_response_seconds",
            "Business time from the first customer message to the first agent reply",
            first_response.clone(),
        );
        let outbox_published = Family::<StageLabels, Counter>::default();
        registry.register(
            "outbox_published",
            "Outbox entries published, by path: `fast` right after their step, `relay` after a delay (NATS away, a crash)",
            outbox_published.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register("outbox_pending", "Outbox entries not yet acknowledged by JetStream, at the relay's last look", outbox_pending.clone());
        let held = Family::<StageLabels, Counter>::default();
        registry.register(
            "transient_holds",
            "Bus messages kept in progress while NATS or Redis was unavailable (never counted against max_deliver), by worker",
            held.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "http_connections",
            "Open connections of the HTTP listener, upgraded web chat sockets included",
            connections.clone(),
        );
        let connections_closed = Family::<StageLabels, Counter>::default();
        registry.register(
            "http_connections_closed",
            "Connections the HTTP listener closed on its own, by stage: `header_timeout`, `idle_timeout`, `evicted` (an idle one closed to make room at the cap), `refused` (over the cap, closed at accept)",
            connections_closed.clone(),
        );
        let report_events = Family::<ReportLabels, Counter>::default();
        registry.register(
            "report_events",
            "Events of the log handled by the reports consumer, by outcome: `counted`, `duplicate` (a redelivery, counted before), `ignored` (nothing to count)",
            report_events.clone(),
        );
        let notices = Family::<NoticeLabels, Counter>::default();
        registry.register(
            "notices",
            "Providers' notices applied by the router, by channel, kind (`delivery`, `profile`) and outcome: `applied`, `unchanged` (a delivery state older than the one known), `unknown` (not one of our messages)",
            notices.clone(),
        );
        let slack_events = Family::<ReportLabels, Counter>::default();
        registry.register(
            "slack_events",
            "Requests to the Slack app's events and interactivity endpoints, by outcome: `reply`, `note`, `action` (a button acted), `duplicate`, `ignored`, `refused` (an agent's command refused), `challenge`, `rejected` (bad or stale signature, malformed), `unavailable`",
            slack_events.clone(),
        );
        let (live, care) = (LiveGauges::register(&mut registry), super::CareMetrics::register(&mut registry));
        Metrics {
            notices, slack_events, care,
            live: Arc::new(std::sync::Mutex::new(live)),
            registry: Arc::new(registry),
            report_events,
            connections,
            connections_closed,
            outbox_published,
            outbox_pending,
            held,
            ingress,
            egress,
            outbound_uncertain,
            routed,
            deliveries,
            robot_rate_waits,
            poison,
            http,
            routing_seconds,
            ready,
            sla_clocks,
            sla_events,
            first_response,
        }
    }

    /// The Prometheus text exposition with the live gauges set to `live`
    /// (`None`: the read failed; they are left out and
    /// `switchboard_live_figures_up` is 0).
    pub fn encode_with_live(&self, live: Option<&LiveFigures>) -> String {
        // A poisoned lock only means a scrape panicked: the gauges are
        // replaced as a whole anyway.
        let gauges = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        gauges.replace(live);
        let out = self.encode();
        drop(gauges);
        out
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// One inbound provider request ended.
    pub fn ingress(&self, channel: &str, account: &str, outcome: Outcome) {
        let l = ChannelLabels { channel: channel.into(), account: account.into(), outcome };
        self.ingress.get_or_create(&l).inc();
    }

    /// One outbound send ended.
    pub fn egress(&self, channel: &str, account: &str, outcome: Outcome) {
        let l = ChannelLabels { channel: channel.into(), account: account.into(), outcome };
        self.egress.get_or_create(&l).inc();
    }

    /// An outbound message may or may not be at the provider: its sender
    /// claimed it and never recorded an answer.
    pub fn outbound_uncertain(&self, channel: &str) {
        self.outbound_uncertain.get_or_create(&ChannelOnlyLabels { channel: channel.into() }).inc();
    }

    /// One inbound message was routed (`outcome`: assigned, queued, continued, bot, duplicate).
    pub fn routed(&self, queue: &str, outcome: &str, seconds: f64) {
        self.routed.get_or_create(&QueueLabels { queue: queue.into(), outcome: outcome.into() }).inc();
        self.routing_seconds.observe(seconds);
    }

    /// One delivery to an agent target ended.
    pub fn delivery(&self, kind: &str, outcome: Outcome) {
        self.deliveries.get_or_create(&KindLabels { kind: kind.into(), outcome }).inc();
    }

    /// A send to a chat robot (`kind`: `wecom`, `dingtalk`, `feishu`) waited
    /// for its rate limit.
    pub fn robot_rate_wait(&self, kind: &'static str) {
        self.robot_rate_waits.get_or_create(&StageLabels { stage: kind.into() }).inc();
    }

    /// The router applied a provider's notice.
    pub fn notice(&self, channel: &str, kind: &str, outcome: &str) {
        self.notices.get_or_create(&NoticeLabels { channel: channel.into(), kind: kind.into(), outcome: outcome.into() }).inc();
    }

    /// The reports consumer handled an event (`outcome`: counted,
    /// duplicate, ignored).
    pub fn report_event(&self, outcome: &str) {
        self.report_events.get_or_create(&ReportLabels { outcome: outcome.into() }).inc();
    }

    /// A request to the Slack app's events endpoint ended (`outcome`: one
    /// of the fixed words of `http::slack`).
    pub fn slack_event(&self, outcome: &'static str) {
        self.slack_events.get_or_create(&ReportLabels { outcome: outcome.into() }).inc();
    }

    /// A bus message at `stage` could not be decoded.
    pub fn poison(&self, stage: &str) {
        self.poison.get_or_create(&StageLabels { stage: stage.into() }).inc();
    }

    /// One HTTP request ended.
    pub fn http(&self, route: &str, status: u16, seconds: f64) {
        self.http.get_or_create(&RouteLabels { route: route.into(), status }).observe(seconds);
    }

    /// An SLA clock stopped with `outcome` (met, breached).
    pub fn sla_clock(&self, queue: &str, channel: &str, priority: &str, clock: &str, outcome: &str) {
        let l = SlaLabels {
            queue: queue.into(),
            channel: channel.into(),
            priority: priority.into(),
            clock: clock.into(),
            outcome: outcome.into(),
        };
        self.sla_clocks.get_or_create(&l).inc();
    }

    /// An SLA warning or breach fired.
    pub fn sla_event(&self, queue: &str, clock: &str, stage: &str) {
        let l = SlaEventLabels { queue: queue.into(), clock: clock.into(), stage: stage.into() };
        self.sla_events.get_or_create(&l).inc();
    }

    /// A first response happened after `seconds` of business time.
    pub fn first_response(&self, queue: &str, channel: &str, seconds: f64) {
        self.first_response.get_or_create(&ResponseLabels { queue: queue.into(), channel: channel.into() }).observe(seconds);
    }

    /// `n` outbox entries were published by `path` (`fast`, `relay`).
    pub fn outbox_published(&self, path: &str, n: usize) {
        self.outbox_published.get_or_create(&StageLabels { stage: path.into() }).inc_by(n as u64);
    }

    /// The outbox holds `n` entries.
    pub fn set_outbox_pending(&self, n: u64) {
        self.outbox_pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A bus message of `worker` waits for NATS or Redis to come back.
    pub fn held(&self, worker: &str) {
        self.held.get_or_create(&StageLabels { stage: worker.into() }).inc();
    }

    /// A connection of the HTTP listener opened (`+1`) or closed (`-1`).
    pub fn connections(&self, delta: i64) {
        self.connections.inc_by(delta);
    }

    /// The HTTP listener closed a connection on its own, for `stage`.
    pub fn connection_closed(&self, stage: &str) {
        self.connections_closed.get_or_create(&StageLabels { stage: stage.into() }).inc();
    }

    /// Readiness changed.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }
}
