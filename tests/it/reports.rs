//! The reports: a scripted sequence of events, published on the event log
//! of a test prefix with known times, consumed by two replicas sharing the
//! `reports` consumer, gives known figures (rates exact, percentiles
//! within the histogram's error), a redelivered event counts once, the
//! summary route refuses what it must (400 naming the field, 401), its CSV
//! has the documented shape, and `today` / `last_hour` read the same
//! buckets.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Value};
use switchboard::reports::histogram::RELATIVE_ERROR;
use switchboard::reports::query;
use switchboard::store::Store;

use crate::support::{wait_until, TestApp};

const ADMIN: &str = "admin-secret";
const SUPERVISOR: &str = "supervisor-secret";
const WAIT: Duration = Duration::from_secs(30);

fn config() -> String {
    format!(
        r#"
        [server]
        admin_token = "{ADMIN}"
        supervisor_token = "{SUPERVISOR}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 5 }}
        "#
    )
}

/// A CloudEvent of the log as the outbox writes it.
struct Ev {
    conv: &'static str,
    seq: u64,
    kind: &'static str,
    at: DateTime<Utc>,
    queue: &'static str,
    channel: &'static str,
    agent: Option<&'static str>,
    extra: Value,
}

impl Ev {
    fn id(&self) -> String {
        format!("{}:{}", self.conv, self.seq)
    }

    fn json(&self) -> Value {
        let mut data = json!({
            "conversation_id": self.conv,
            "channel": self.channel,
            "account": "shop",
            "customer": {"id": "cust", "address": "addr"},
            "queue": self.queue,
        });
        if let Some(agent) = self.agent {
            data["agent"] = json!(agent);
        }
        for (k, v) in self.extra.as_object().cloned().unwrap_or_default() {
            data[k] = v;
        }
        json!({
            "specversion": "1.0",
            "id": self.id(),
            "source": "/switchboard/test",
            "type": format!("switchboard.{}", self.kind),
            "subject": self.conv,
            "time": self.at.to_rfc3339(),
            "datacontenttype": "application/json",
            "seq": self.seq,
            "data": data,
        })
    }
}

fn inbound() -> Value {
    json!({"message": {"id": "m", "direction": "inbound", "text": "hello"}})
}

fn outbound() -> Value {
    json!({"message": {"id": "o", "direction": "outbound", "text": "hi"}})
}

/// Publishes `ev` on the log of `prefix` under JetStream id `msg_id`.
async fn publish(js: &async_nats::jetstream::Context, prefix: &str, ev: &Ev, msg_id: &str) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    let subject = format!("{prefix}.events.{}", ev.kind);
    let body = serde_json::to_vec(&ev.json()).unwrap();
    js.publish_with_headers(subject, headers, body.into()).await.unwrap().await.unwrap();
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open("redis://127.0.0.1:6379").unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// The sum of `switchboard_report_events_total{outcome}` over `apps`.
async fn handled(apps: &[&TestApp], outcome: &str) -> u64 {
    let mut n = 0;
    for app in apps {
        let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
        n += metrics
            .lines()
            .filter(|l| l.starts_with("switchboard_report_events_total{") && l.contains(&format!("outcome=\"{outcome}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    n
}

async fn summary(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url(&format!("/api/v1/reports/summary?{query}")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

fn close(actual: f64, expected: f64) -> bool {
    (actual / expected - 1.0).abs() <= RELATIVE_ERROR + 1e-9
}

fn row<'a>(rows: &'a Value, group: &str) -> &'a Value {
    rows["rows"].as_array().unwrap().iter().find(|r| r["group"] == group).unwrap_or_else(|| panic!("no row {group} in {rows}"))
}

/// The scripted conversations, from `t0` (see the figures asserted below).
fn script(t0: DateTime<Utc>) -> Vec<Ev> {
    let s = |secs: i64| t0 + chrono::Duration::seconds(secs);
    let ev = |conv, seq, kind, at, queue, channel, agent, extra| Ev { conv, seq, kind, at, queue, channel, agent, extra };
    let mut out = vec![
        // A (a complaint): first response 10 s, next response 30 s,
        // resolution 300 s; its first-response clock stopped in time.
        ev("A", 1, "conversation.queued", s(0), "general", "sms", None, inbound()),
        ev("A", 2, "conversation.assigned", s(5), "general", "sms", Some("alice"), json!({})),
        ev("A", 3, "conversation.replied", s(10), "general", "sms", Some("alice"), outbound()),
        ev("A", 4, "conversation.message", s(60), "general", "sms", Some("alice"), inbound()),
        ev("A", 5, "conversation.replied", s(90), "general", "sms", Some("alice"), outbound()),
        ev("A", 6, "conversation.resolved", s(300), "general", "sms", Some("alice"), json!({})),
        // B: first response 40 s (bob), transferred by bob to alice,
        // resolved at 600 s, reopened, next response 60 s.
        ev("B", 1, "conversation.queued", s(0), "general", "sms", None, inbound()),
        ev("B", 2, "conversation.assigned", s(20), "general", "sms", Some("bob"), json!({})),
        ev("B", 3, "conversation.replied", s(40), "general", "sms", Some("bob"), outbound()),
        ev("B", 4, "conversation.transferred", s(50), "general", "sms", Some("alice"), json!({"from_agent": "bob"})),
        ev("B", 5, "conversation.resolved", s(600), "general", "sms", Some("alice"), json!({})),
        ev("B", 6, "conversation.reopened", s(700), "general", "sms", Some("alice"), inbound()),
        ev("B", 7, "conversation.message", s(700), "general", "sms", Some("alice"), inbound()),
        ev("B", 8, "conversation.replied", s(760), "general", "sms", Some("alice"), outbound()),
        // C (returns, email): its first-response clock breached; rated 4 and 2.
        ev("C", 1, "conversation.queued", s(0), "returns", "email", None, inbound()),
        ev("C", 2, "sla.breached", s(120), "returns", "email", None, json!({"sla": {"clock": "first_response", "run": 1}})),
        ev("C", 3, "conversation.rated", s(130), "returns", "email", None, json!({"score": 4})),
        ev("C", 4, "conversation.rated", s(140), "returns", "email", None, json!({"score": 2})),
    ];
    // H: from general to the returns queue, where it is resolved; the
    // customer goes on by email. One conversation in each queue and on
    // each channel; the transfer counts for general, the resolve for returns.
    out.push(ev("H", 1, "conversation.queued", s(0), "general", "sms", None, inbound()));
    out.push(ev("H", 2, "conversation.transferred", s(30), "returns", "sms", None, json!({})));
    out.push(ev("H", 3, "conversation.message", s(60), "returns", "email", None, inbound()));
    out.push(ev("H", 4, "conversation.resolved", s(400), "returns", "email", None, json!({})));
    // D, E, F: first responses of 20, 30 and 200 s (carol).
    for (conv, secs) in [("D", 20), ("E", 30), ("F", 200)] {
        out.push(ev(conv, 1, "conversation.queued", s(0), "general", "sms", None, inbound()));
        out.push(ev(conv, 2, "conversation.replied", s(secs), "general", "sms", Some("carol"), outbound()));
    }
    out
}

#[tokio::test]
async fn scripted_events_give_known_figures_across_two_replicas() {
    let prefix = crate::support::unique_prefix();
    let one = TestApp::ready(TestApp::spawn_with_prefix(&config(), prefix.clone()).await).await;
    let two = TestApp::ready(TestApp::spawn_with_prefix(&config(), prefix.clone()).await).await;
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let mut r = redis().await;
    // A is tagged `complaint` by the rules; its first-response clock
    // stopped within its target before its reply was counted.
    let _: () = redis::cmd("HSET").arg(format!("{{{prefix}}}:conv:A")).arg("tags").arg(r#"["complaint"]"#).query_async(&mut r).await.unwrap();
    let clocks = json!({"version": 1, "clocks": [{"kind": "first_response", "run": 1, "state": "stopped", "breached": false}]});
    let _: () = redis::cmd("SET").arg(format!("{{{prefix}}}:sla:A")).arg(clocks.to_string()).query_async(&mut r).await.unwrap();

    let hour = Utc::now().with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap() - chrono::Duration::hours(3);
    let t0 = hour + chrono::Duration::minutes(5);
    let events = script(t0);
    for ev in &events {
        publish(&js, &prefix, ev, &ev.id()).await;
    }
    let total = events.len() as u64;
    let counted = wait_until(WAIT, || async { (handled(&[&one, &two], "counted").await == total).then_some(()) }).await;
    assert!(counted.is_some(), "every event counted once by the two replicas: {} of {total}", handled(&[&one, &two], "counted").await);

    // A redelivery (the same event under another JetStream id, so the log
    // takes it again): counted once.
    publish(&js, &prefix, &events[2], "redelivered-A-3").await;
    let seen = wait_until(WAIT, || async { (handled(&[&one, &two], "duplicate").await >= 1).then_some(()) }).await;
    assert!(seen.is_some(), "the redelivery reached a replica");
    assert_eq!(handled(&[&one, &two], "counted").await, total);

    let from = hour.to_rfc3339();
    let to = (hour + chrono::Duration::hours(1)).to_rfc3339();
    let q = |group_by: &str| format!("from={}&to={}&group_by={group_by}", urlencode(&from), urlencode(&to));
    let resp = summary(&two, &q("queue"), Some(SUPERVISOR)).await;
    assert_eq!(resp.status(), 200);
    let by_queue: Value = resp.json().await.unwrap();
    assert_eq!(by_queue["group_by"], "queue");
    let general = row(&by_queue, "general");
    assert_eq!(general["conversations"], 6, "{general}");
    assert_eq!((general["resolved"].as_u64(), general["reopened"].as_u64(), general["transferred"].as_u64(), general["complaints"].as_u64()), (Some(2), Some(1), Some(2), Some(1)));
    assert_eq!(general["resolution_rate"], json!(2.0 / 6.0));
    assert_eq!(general["reopen_rate"], json!(1.0 / 6.0));
    assert_eq!(general["transfer_rate"], json!(2.0 / 6.0));
    assert_eq!(general["complaint_rate"], json!(1.0 / 6.0));
    // First responses 10, 20, 30, 40, 200 s: p50 30 s, p90 200 s.
    let fr = &general["first_response_secs"];
    assert!(close(fr["p50"].as_f64().unwrap(), 30.0) && close(fr["p90"].as_f64().unwrap(), 200.0), "{fr}");
    // Next responses 30 and 60 s; resolutions 300 and 600 s.
    let nr = &general["next_response_secs"];
    assert!(close(nr["p50"].as_f64().unwrap(), 30.0) && close(nr["p90"].as_f64().unwrap(), 60.0), "{nr}");
    let rt = &general["resolution_secs"];
    assert!(close(rt["p50"].as_f64().unwrap(), 300.0) && close(rt["p90"].as_f64().unwrap(), 600.0), "{rt}");
    assert_eq!(general["sla_attainment"]["first_response"], json!({"met": 1, "breached": 0, "attainment": 1.0}));
    let returns = row(&by_queue, "returns");
    // C, and H transferred in and resolved here: rates of what it handled.
    assert_eq!((returns["conversations"].as_u64(), returns["resolved"].as_u64(), returns["transferred"].as_u64()), (Some(2), Some(1), Some(0)));
    assert_eq!(returns["resolution_rate"], 0.5);
    assert_eq!(returns["first_response_secs"], Value::Null);
    assert_eq!(returns["sla_attainment"]["first_response"], json!({"met": 0, "breached": 1, "attainment": 0.0}));
    assert_eq!(returns["csat"]["responses"], 2);
    assert_eq!(returns["csat"]["average"], 3.0);

    let by_agent: Value = summary(&one, &q("agent"), Some(ADMIN)).await.json().await.unwrap();
    let alice = row(&by_agent, "alice");
    // Assigned A, transferred B: two conversations, both resolved.
    assert_eq!((alice["conversations"].as_u64(), alice["resolved"].as_u64(), alice["transferred"].as_u64()), (Some(2), Some(2), Some(0)));
    assert_eq!(alice["complaints"], 1);
    assert!(close(alice["first_response_secs"]["p50"].as_f64().unwrap(), 10.0));
    let bob = row(&by_agent, "bob");
    assert_eq!((bob["conversations"].as_u64(), bob["transferred"].as_u64(), bob["transfer_rate"].as_f64()), (Some(1), Some(1), Some(1.0)));

    let by_channel: Value = summary(&one, &q("channel"), Some(ADMIN)).await.json().await.unwrap();
    assert_eq!(row(&by_channel, "sms")["conversations"], 6);
    // C, and H once its customer went on by email.
    assert_eq!(row(&by_channel, "email")["conversations"], 2);

    // By hour: every hour of the range, the empty one included.
    let from_earlier = (hour - chrono::Duration::hours(1)).to_rfc3339();
    let hourly: Value = summary(&one, &format!("from={}&to={}&group_by=hour", urlencode(&from_earlier), urlencode(&to)), Some(ADMIN)).await.json().await.unwrap();
    let conversations: Vec<u64> = hourly["rows"].as_array().unwrap().iter().map(|r| r["conversations"].as_u64().unwrap()).collect();
    assert_eq!(conversations, vec![0, 7], "H counts once in all");
    assert_eq!(hourly["rows"][1]["group"], hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let daily: Value = summary(&one, &q("day"), Some(ADMIN)).await.json().await.unwrap();
    assert_eq!(row(&daily, &hour.format("%Y-%m-%d").to_string())["conversations"], 7);
    assert_eq!(daily["rows"][0]["sla_attainment"]["first_response"]["attainment"], 0.5);

    // CSV: the header and one line per queue, by `format` or by `Accept`.
    let resp = summary(&one, &format!("{}&format=csv", q("queue")), Some(ADMIN)).await;
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..8], ["group", "conversations", "resolved", "reopened", "transferred", "complaints", "first_response_p50", "first_response_p90"]);
    assert!(header.contains(&"sla_first_response_attainment") && header.contains(&"csat_average"));
    let general_line: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(general_line.len(), header.len());
    assert_eq!(&general_line[..6], ["general", "6", "2", "1", "2", "1"]);
    let returns_line: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(returns_line[header.iter().position(|h| *h == "first_response_p50").unwrap()], "", "null is an empty cell");
    assert_eq!(returns_line[header.iter().position(|h| *h == "csat_average").unwrap()], "3");
    let by_accept = reqwest::Client::new()
        .get(one.url(&format!("/api/v1/reports/summary?{}", q("queue"))))
        .bearer_auth(SUPERVISOR)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(by_accept.text().await.unwrap(), text);

    // `today` and `last_hour`, for the dashboard: a conversation of now.
    let now = Utc::now();
    let g = [
        Ev { conv: "G", seq: 1, kind: "conversation.queued", at: now - chrono::Duration::seconds(40), queue: "vip", channel: "webchat", agent: None, extra: inbound() },
        Ev { conv: "G", seq: 2, kind: "conversation.replied", at: now - chrono::Duration::seconds(25), queue: "vip", channel: "webchat", agent: Some("dora"), extra: outbound() },
    ];
    for ev in &g {
        publish(&js, &prefix, ev, &ev.id()).await;
    }
    let store = Store::new(&one.settings.redis).unwrap();
    let today = wait_until(WAIT, || async {
        let t = query::today_from(&store, &one.settings.reports, Utc::now()).await.unwrap();
        t.agents.iter().any(|a| a.group == "dora").then_some(t)
    })
    .await
    .expect("today's rows show the new conversation");
    let vip = today.queues.iter().find(|q| q.group == "vip").unwrap();
    assert_eq!(vip.conversations, 1);
    assert!(close(vip.first_response_secs.unwrap().p50, 15.0));
    let minutes = query::last_hour_from(&store, Utc::now()).await.unwrap();
    assert_eq!(minutes.len(), 60);
    assert!(minutes.windows(2).all(|w| w[1].minute - w[0].minute == chrono::Duration::minutes(1)), "oldest first, one a minute");
    let inbound: u64 = minutes.iter().map(|m| m.inbound["webchat"]).sum();
    assert_eq!(inbound, 1, "G's first message");
    assert!(minutes.iter().all(|m| m.inbound.len() == 4), "every channel, zeros included");
    let answered: Vec<_> = minutes.iter().filter_map(|m| m.first_response_secs).collect();
    assert_eq!(answered.len(), 1);
    assert!(close(answered[0].p90, 15.0));

    one.stop().await;
    two.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_summary_refuses_bad_queries_and_strangers() {
    let app = TestApp::spawn_ready(&config()).await;
    for (token, status) in [(None, 401), (Some("alice-token"), 401), (Some("wrong"), 401), (Some(SUPERVISOR), 200), (Some(ADMIN), 200)] {
        assert_eq!(summary(&app, "", token).await.status(), status, "{token:?}");
    }
    let old = (Utc::now() - chrono::Duration::days(500)).to_rfc3339();
    let month_ago = (Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    for (query, field) in [
        ("from=yesterday".to_owned(), "from"),
        ("to=2026-02-30T00:00:00Z".to_owned(), "to"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(), "from"),
        (format!("from={}", urlencode(&old)), "from"),
        (format!("from={}&group_by=hour", urlencode(&month_ago)), "to"),
        ("group_by=week".to_owned(), "group_by"),
        ("format=xml".to_owned(), "format"),
    ] {
        let resp = summary(&app, &query, Some(ADMIN)).await;
        assert_eq!(resp.status(), 400, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{field}`")), "{query}: {message}");
    }
    // The defaults: the last day by day, as JSON; nothing counted yet.
    let body: Value = summary(&app, "", Some(ADMIN)).await.json().await.unwrap();
    assert_eq!(body["group_by"], "day");
    let (from, to) = (DateTime::parse_from_rfc3339(body["from"].as_str().unwrap()).unwrap(), DateTime::parse_from_rfc3339(body["to"].as_str().unwrap()).unwrap());
    assert_eq!(to - from, chrono::Duration::hours(24));
    assert!(body["rows"].as_array().unwrap().iter().all(|r| r["conversations"] == 0));
    app.stop().await;
}

/// A conversation's reply reaching the log before its opening is counted
/// after it (the first response is measured, not lost); an undecodable
/// event is terminated and counted as poison.
#[tokio::test]
async fn out_of_order_events_wait_for_their_predecessor_and_poison_is_terminated() {
    let app = TestApp::spawn_ready(&config()).await;
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let t0 = Utc::now() - chrono::Duration::minutes(30);
    let open = Ev { conv: "H", seq: 1, kind: "conversation.queued", at: t0, queue: "late", channel: "sms", agent: None, extra: inbound() };
    let reply = Ev { conv: "H", seq: 2, kind: "conversation.replied", at: t0 + chrono::Duration::seconds(45), queue: "late", channel: "sms", agent: Some("alice"), extra: outbound() };
    publish(&js, &app.prefix, &reply, &reply.id()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handled(&[&app], "counted").await, 0, "the reply waits for the opening");
    publish(&js, &app.prefix, &open, &open.id()).await;
    let counted = wait_until(WAIT, || async { (handled(&[&app], "counted").await == 2).then_some(()) }).await;
    assert!(counted.is_some(), "both counted");
    let body: Value = summary(&app, "group_by=queue", Some(ADMIN)).await.json().await.unwrap();
    let late = row(&body, "late");
    assert_eq!(late["conversations"], 1);
    assert!(close(late["first_response_secs"]["p50"].as_f64().unwrap(), 45.0), "{late}");

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "poison-1");
    let subject = format!("{}.events.conversation.message", app.prefix);
    js.publish_with_headers(subject, headers, "{not json".into()).await.unwrap().await.unwrap();
    let poisoned = wait_until(WAIT, || async {
        let metrics = reqwest::get(app.url("/metrics")).await.ok()?.text().await.ok()?;
        metrics.lines().any(|l| l.starts_with("switchboard_poison_messages_total{stage=\"reports\"} 1")).then_some(())
    })
    .await;
    assert!(poisoned.is_some(), "the undecodable event is counted as poison by the reports");
    app.stop().await;
}

/// The real flow: an SMS the rules tag `complaint`, answered and resolved
/// through the API, is counted from the daemon's own events — with its
/// SLA clocks met as the stored clocks say.
#[tokio::test]
async fn a_conversation_through_the_daemon_is_counted_with_its_sla_clocks() {
    let toml = format!(
        r#"{}
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [sla.policies.calm]
        first_response_secs = 3600
        resolution_secs = 7200
        [queues.complaints]
        sla = "calm"
        [[rules]]
        name = "complaint"
        when = {{ text = "complain" }}
        then = {{ queue = "complaints", tags = ["complaint"] }}
        "#,
        config(),
        crate::support::TWILIO_TOKEN
    );
    let app = TestApp::spawn_ready(&toml).await;
    crate::support::sms(&app, "SMrpt0001", "+14155550077", "I want to complain").await;
    let client = reqwest::Client::new();
    let conv = wait_until(WAIT, || {
        let req = client.get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            v["conversations"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("alice has the conversation");
    let reply = client.post(app.url(&format!("/api/v1/conversations/{conv}/reply"))).bearer_auth("alice-token").json(&json!({"text": "sorry"})).send().await.unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());
    let resolve = client.post(app.url(&format!("/api/v1/conversations/{conv}/resolve"))).bearer_auth("alice-token").send().await.unwrap();
    assert!(resolve.status().is_success(), "{}", resolve.status());
    let rows = wait_until(WAIT, || async {
        let body: Value = summary(&app, "group_by=queue", Some(SUPERVISOR)).await.json().await.ok()?;
        let done = body["rows"].as_array()?.iter().any(|r| r["group"] == "complaints" && r["resolved"] == 1);
        done.then_some(body)
    })
    .await
    .expect("the resolve is counted");
    let row = row(&rows, "complaints");
    assert_eq!((row["conversations"].as_u64(), row["complaints"].as_u64(), row["complaint_rate"].as_f64()), (Some(1), Some(1), Some(1.0)), "{row}");
    assert!(row["first_response_secs"]["p50"].as_f64().is_some(), "{row}");
    assert_eq!(row["sla_attainment"]["first_response"], json!({"met": 1, "breached": 0, "attainment": 1.0}), "{row}");
    assert_eq!(row["sla_attainment"]["resolution"], json!({"met": 1, "breached": 0, "attainment": 1.0}), "{row}");
    let by_agent: Value = summary(&app, "group_by=agent", Some(ADMIN)).await.json().await.unwrap();
    assert_eq!(self::row(&by_agent, "alice")["conversations"], 1);
    app.stop().await;
}

/// A conversation a bot answered first: the team's first response is
/// counted from the hand-off, and the bot's answers are not a response.
#[tokio::test]
async fn a_bot_conversation_counts_its_first_response_from_the_hand_off() {
    let prefix = crate::support::unique_prefix();
    let app = TestApp::ready(TestApp::spawn_with_prefix(&config(), prefix.clone()).await).await;
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let hour = Utc::now().with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap() - chrono::Duration::hours(2);
    let s = |secs: i64| hour + chrono::Duration::minutes(5) + chrono::Duration::seconds(secs);
    let ev = |seq, kind, at, agent, extra| Ev { conv: "Z", seq, kind, at, queue: "faq", channel: "sms", agent, extra };
    let events = [
        ev(1, "conversation.message", s(0), None, inbound()),
        ev(2, "conversation.bot_replied", s(1), None, outbound()),
        ev(3, "conversation.message", s(200), None, inbound()),
        ev(4, "conversation.handed_off", s(200), None, json!({"reason": "keyword"})),
        ev(5, "conversation.assigned", s(205), Some("alice"), json!({})),
        ev(6, "conversation.replied", s(230), Some("alice"), outbound()),
    ];
    for e in &events {
        publish(&js, &prefix, e, &e.id()).await;
    }
    let total = events.len() as u64;
    let counted = wait_until(WAIT, || async { (handled(&[&app], "counted").await + handled(&[&app], "ignored").await >= total).then_some(()) }).await;
    assert!(counted.is_some(), "the events reached the reports");
    let from = hour.to_rfc3339();
    let to = (hour + chrono::Duration::hours(1)).to_rfc3339();
    let q = format!("from={}&to={}&group_by=queue", urlencode(&from), urlencode(&to));
    let by_queue: Value = summary(&app, &q, Some(SUPERVISOR)).await.json().await.unwrap();
    let faq = row(&by_queue, "faq");
    let p50 = faq["first_response_secs"]["p50"].as_f64().unwrap_or_else(|| panic!("{faq}"));
    assert!(close(p50, 30.0), "30 s from the hand-off, not 230 s from the first message nor 1 s to the bot: {faq}");
    app.stop().await;
}
