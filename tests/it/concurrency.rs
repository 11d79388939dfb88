//! The routing core under concurrency: three replicas on one NATS and
//! Redis, 50 agents with mixed skills and capacities, 2,000 conversations
//! arriving at once by SMS, WeChat and email, one replica killed in the
//! middle (its runtime dropped, nothing shut down cleanly). Checked by
//! replaying the durable event log: no conversation assigned twice, no
//! agent above capacity at any point, every message routed; then all
//! assigned conversations are resolved through the survivors and the
//! drained assignments keep each queue's order; at the end nothing waits
//! while an eligible agent has room.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use sha1::Digest;

use crate::support::{form, twilio_signature, unique_prefix, wait_until, TestApp};

const TWILIO_TOKEN: &str = "twilio-test-token";
const WECHAT_TOKEN: &str = "wechat-test-token";
const MESSAGES: usize = 2000;
const AGENTS: usize = 50;

#[derive(Clone, Debug)]
struct Agent {
    skills: BTreeMap<&'static str, u8>,
    cap: BTreeMap<&'static str, u32>,
    total: u32,
}

fn agents() -> BTreeMap<String, Agent> {
    (0..AGENTS)
        .map(|i| {
            let mut skills = BTreeMap::new();
            if i % 2 == 0 {
                skills.insert("sales", (i % 5 + 1) as u8);
            }
            if i % 3 != 0 {
                skills.insert("support", (i % 4 + 1) as u8);
            }
            let cap = BTreeMap::from([("sms", (i % 4) as u32), ("wechat", ((i + 1) % 3) as u32), ("email", (i % 5) as u32)]);
            let sum: u32 = cap.values().sum();
            (format!("a{i:02}"), Agent { skills, cap, total: sum.saturating_sub((i % 2) as u32).max(1) })
        })
        .collect()
}

fn config(agents: &BTreeMap<String, Agent>) -> String {
    let mut c = format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [nats]
        ack_wait_secs = 2
        [routing]
        workers = 16
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [channels.wechat.shop]
        app_id = "wx2c2769f8efd9abc2"
        app_secret = "app-secret"
        token = "{WECHAT_TOKEN}"
        api_base = "http://127.0.0.1:9"
        [channels.email.support]
        address = "support@shop.example"
        [queues.sales]
        skills = {{ sales = 2 }}
        [queues.support]
        skills = {{ support = 1 }}
        [[rules]]
        name = "sales"
        when = {{ text = "buy" }}
        then = {{ queue = "sales" }}
        [[rules]]
        name = "support"
        when = {{ text = "help" }}
        then = {{ queue = "support" }}
        "#
    );
    for (id, a) in agents {
        let skills: Vec<String> = a.skills.iter().map(|(s, l)| format!("{s} = {l}")).collect();
        let caps: Vec<String> = a.cap.iter().map(|(ch, n)| format!("{ch} = {n}")).collect();
        c.push_str(&format!(
            "[agents.{id}]\ntoken = \"{id}-token\"\nskills = {{ {} }}\ncapacity = {{ {}, total = {} }}\n",
            skills.join(", "),
            caps.join(", "),
            a.total
        ));
    }
    c
}

/// Sends message `i` to `app` on channel `i % 3`, with text choosing the queue.
async fn send(client: &reqwest::Client, app_url: &str, i: usize) -> u16 {
    let text = ["I want to buy shoes", "help with my order", "hello there"][(i / 3) % 3];
    let resp = match i % 3 {
        0 => {
            let url = format!("{app_url}/webhooks/sms/shop");
            let from = format!("+1415{i:07}");
            let sid = format!("SM{i:032}");
            let params = [("MessageSid", sid.as_str()), ("From", from.as_str()), ("To", "+15005550006"), ("Body", text)];
            client
                .post(&url)
                .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url, &params))
                .body(form(&params))
                .send()
                .await
        }
        1 => {
            let (ts, nonce) = (chrono::Utc::now().timestamp().to_string(), format!("n{i}"));
            let ts = ts.as_str();
            let mut parts = [WECHAT_TOKEN, ts, nonce.as_str()];
            parts.sort();
            let signature: String = sha1::Sha1::digest(parts.concat().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            let xml = format!(
                "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o{i:027}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{}</MsgId></xml>",
                7_000_000_000_000_000u64 + i as u64
            );
            client
                .post(format!("{app_url}/webhooks/wechat/shop?signature={signature}&timestamp={ts}&nonce={nonce}"))
                .body(xml)
                .send()
                .await
        }
        _ => {
            let mime = format!(
                "From: c{i}@customer.example\r\nTo: support@shop.example\r\nSubject: order\r\nMessage-ID: <m{i}@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            );
            client.post(format!("{app_url}/webhooks/email/support")).header("content-type", "message/rfc822").body(mime).send().await
        }
    };
    resp.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Every event on the instance's durable log, in log order.
async fn event_log(prefix: &str) -> Vec<Value> {
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let stream = js.get_stream(format!("{prefix}_events")).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let batch: Vec<_> = consumer.fetch().max_messages(1000).expires(Duration::from_millis(500)).messages().await.unwrap().try_collect().await.unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch.iter().map(|m| serde_json::from_slice::<Value>(&m.payload).unwrap()));
    }
}

fn kind(e: &Value) -> &str {
    e["type"].as_str().unwrap_or("").rsplit('.').next().unwrap_or("")
}

fn channel_of(e: &Value) -> String {
    e["data"]["channel"].as_str().unwrap_or("").replace("webchat", "chat")
}

/// Replays the log: no conversation held by two agents, no agent above a
/// capacity at any point. Returns each conversation's assignments in order
/// and the conversations queued (in log order).
/// Each conversation's agents in order, and the (conversation, queue) pairs queued.
type Replayed = (HashMap<String, Vec<String>>, Vec<(String, String)>);

fn replay(phase: &str, log: &[Value], agents: &BTreeMap<String, Agent>) -> Replayed {
    let mut holder: HashMap<String, String> = HashMap::new();
    let mut load: HashMap<(String, String), u32> = HashMap::new();
    let mut total: HashMap<String, u32> = HashMap::new();
    let mut assignments: HashMap<String, Vec<String>> = HashMap::new();
    let mut queued = Vec::new();
    let mut seen_ids = HashSet::new();
    for e in log {
        assert!(seen_ids.insert(e["id"].as_str().unwrap().to_owned()), "an event twice on the log: {}", e["id"]);
        let conv = e["data"]["conversation_id"].as_str().unwrap_or("").to_owned();
        match kind(e) {
            "queued" => queued.push((conv, e["data"]["queue"].as_str().unwrap().to_owned())),
            "assigned" => {
                let agent = e["data"]["agent"].as_str().unwrap().to_owned();
                let channel = channel_of(e);
                assert!(holder.insert(conv.clone(), agent.clone()).is_none(), "{conv} assigned twice");
                let a = &agents[&agent];
                let l = load.entry((agent.clone(), channel.clone())).or_default();
                *l += 1;
                assert!(*l <= a.cap[channel.as_str()], "{phase}: {agent} above its {channel} capacity at {}", e["id"]);
                let t = total.entry(agent.clone()).or_default();
                *t += 1;
                assert!(*t <= a.total, "{phase}: {agent} above its total capacity at {}", e["id"]);
                let queue = e["data"]["queue"].as_str().unwrap();
                let needed = match queue {
                    "sales" => Some(("sales", 2)),
                    "support" => Some(("support", 1)),
                    _ => None,
                };
                if let Some((skill, level)) = needed {
                    assert!(a.skills.get(skill).is_some_and(|l| *l >= level), "{agent} lacks {skill} for {conv}");
                }
                assignments.entry(conv).or_default().push(agent);
            }
            "resolved" => {
                if let Some(agent) = holder.remove(&conv) {
                    *load.get_mut(&(agent.clone(), channel_of(e))).unwrap() -= 1;
                    *total.get_mut(&agent).unwrap() -= 1;
                }
            }
            _ => {}
        }
    }
    (assignments, queued)
}

#[tokio::test]
async fn three_replicas_two_thousand_conversations_one_killed() {
    let agents = agents();
    let config = config(&agents);
    let prefix = unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let victim = crate::support::Killable::spawn(&config, prefix.clone()).await;
    let client = reqwest::Client::new();
    let urls = [a.url(""), b.url(""), victim.url.clone()];
    let killed = std::sync::atomic::AtomicBool::new(false);
    let statuses: Vec<u16> = futures::stream::iter(0..MESSAGES)
        .map(|i| {
            let (client, urls, killed) = (&client, &urls, &killed);
            async move {
                let mut target = i % 3;
                if target == 2 && killed.load(std::sync::atomic::Ordering::SeqCst) {
                    target = i % 2;
                }
                let status = send(client, &urls[target], i).await;
                // A request the victim took down with it is retried elsewhere,
                // as a provider retries a webhook that got no answer.
                if status != 200 { send(client, &urls[i % 2], i).await } else { status }
            }
        })
        .buffer_unordered(48)
        .enumerate()
        .then(|(n, status)| {
            let victim = &victim;
            let killed = &killed;
            async move {
                if n == MESSAGES / 3 {
                    killed.store(true, std::sync::atomic::Ordering::SeqCst);
                    victim.kill();
                }
                status
            }
        })
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "every webhook accepted (after retries)");

    // Everything is routed, including what the victim had pulled but not acked.
    let routed = wait_until(Duration::from_secs(90), || {
        let prefix = prefix.clone();
        async move {
            let log = event_log(&prefix).await;
            let n = log.iter().filter(|e| matches!(kind(e), "queued" | "assigned")).count();
            (n >= MESSAGES).then_some(log)
        }
    })
    .await
    .expect("all 2,000 conversations routed");
    let (assigned, queued) = replay("arrivals", &routed, &agents);
    let convs: HashSet<&String> = assigned.keys().chain(queued.iter().map(|(c, _)| c)).collect();
    assert_eq!(convs.len(), MESSAGES, "one conversation per customer");
    assert!(!assigned.is_empty() && !queued.is_empty());

    // Resolve everything assigned, through the survivors at once: the queues drain.
    let first_round: Vec<String> = assigned.keys().cloned().collect();
    let resolves: Vec<u16> = futures::stream::iter(first_round.iter().enumerate())
        .map(|(i, conv)| {
            let app = if i % 2 == 0 { &a } else { &b };
            let req = client.post(app.url(&format!("/api/v1/conversations/{conv}/resolve"))).bearer_auth("admin-secret").send();
            async move { req.await.unwrap().status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(resolves.iter().all(|s| *s == 200));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = event_log(&prefix).await;
    let (assigned, _) = replay("resolves", &log, &agents);
    assert!(assigned.values().all(|v| v.len() == 1));

    // Queue order: in each queue's line per channel, the drained
    // conversations are exactly the longest-waiting ones (every one still
    // waiting was queued after every one taken). The log's order cannot
    // tell, since replicas publish concurrently; Redis keeps the times.
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    let drained: HashSet<&str> = log
        .iter()
        .filter(|e| kind(e) == "assigned")
        .filter_map(|e| e["data"]["conversation_id"].as_str())
        .filter(|conv| queued.iter().any(|(q, _)| q == conv))
        .collect();
    assert!(!drained.is_empty(), "resolving drained some queued conversations");
    let mut lines: HashMap<(String, String), (i64, i64)> = HashMap::new();
    for (conv, queue) in &queued {
        let (at, ch, state): (i64, String, String) = redis::cmd("HMGET")
            .arg(format!("{{{prefix}}}:conv:{conv}"))
            .arg("enqueued_at")
            .arg("channel")
            .arg("state")
            .query_async(&mut c)
            .await
            .unwrap();
        let line = lines.entry((queue.clone(), ch)).or_insert((i64::MIN, i64::MAX));
        if drained.contains(conv.as_str()) {
            line.0 = line.0.max(at);
        } else {
            assert_eq!(state, "queued", "{conv}");
            line.1 = line.1.min(at);
        }
    }
    for ((queue, ch), (last_taken, first_left)) in &lines {
        assert!(last_taken <= first_left, "{queue}/{ch}: a conversation queued at {first_left} still waits, one queued at {last_taken} was taken");
    }

    // Nothing waits while an eligible agent has room on its channel.
    let mut loads: HashMap<String, HashMap<String, String>> = HashMap::new();
    for id in agents.keys() {
        let h: HashMap<String, String> = redis::AsyncCommands::hgetall(&mut c, format!("{{{prefix}}}:agent:{id}")).await.unwrap();
        loads.insert(id.clone(), h);
    }
    for (queue, need) in [("sales", Some(("sales", 2u8))), ("support", Some(("support", 1))), ("general", None)] {
        let mut waiting: Vec<String> = Vec::new();
        for ch in ["sms", "wechat", "email"] {
            let line: Vec<String> =
                redis::AsyncCommands::zrange(&mut c, format!("{{{prefix}}}:queue:{queue}:waiting:{ch}"), 0, -1).await.unwrap();
            waiting.extend(line);
        }
        for conv in waiting {
            let ch: String = redis::AsyncCommands::hget(&mut c, format!("{{{prefix}}}:conv:{conv}"), "channel").await.unwrap();
            let cap_key = ch.replace("webchat", "chat");
            for (id, agent) in &agents {
                let l = &loads[id];
                let num = |k: &str| l.get(k).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                let skilled = need.is_none_or(|(s, lv)| agent.skills.get(s).is_some_and(|x| *x >= lv));
                let room = num(&format!("load:{ch}")) < agent.cap[cap_key.as_str()] && num("load") < agent.total;
                assert!(!(skilled && room && l.get("status").map(String::as_str) == Some("available")), "{conv} waits in {queue} while {id} has room");
            }
        }
    }
    a.stop().await;
    b.stop().await;
}
