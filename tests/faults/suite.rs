//! One fault run: three replicas under signed SMS traffic, agents replying
//! and resolving through the API, faults injected on a schedule, then the
//! checks, from outside only: the API, the event log and the recording
//! fakes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::peers::Peers;
use crate::procs::{Replica, Server, TempDir};

const PREFIX: &str = "faults";
const TOKEN: &str = "twilio-fault-token";
const ADMIN: &str = "fault-admin";
const AGENTS: usize = 4;
const CAPACITY: u64 = 3;
const REPLICAS: usize = 3;

/// How big a run is.
#[derive(Clone, Debug)]
pub struct Size {
    pub messages: usize,
    pub storm_secs: u64,
    pub redis_outage_secs: u64,
    /// redis-server's `appendfsync`.
    pub appendfsync: String,
}

impl Size {
    /// The suite's size: small by default; `FAULTS_MESSAGES`,
    /// `FAULTS_STORM_SECS`, `FAULTS_REDIS_OUTAGE_SECS`,
    /// `FAULTS_APPENDFSYNC` change it (tests/faults/large.sh sets the
    /// large run).
    pub fn from_env() -> Size {
        let num = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        Size {
            messages: num("FAULTS_MESSAGES", 360) as usize,
            storm_secs: num("FAULTS_STORM_SECS", 8),
            redis_outage_secs: num("FAULTS_REDIS_OUTAGE_SECS", 8),
            appendfsync: std::env::var("FAULTS_APPENDFSYNC").unwrap_or_else(|_| "always".into()),
        }
    }

    /// How long the fault schedule takes, which the traffic spreads over.
    fn schedule_secs(&self) -> u64 {
        4 + (1 + 3) + (3 + 3) + (3 + 3) + (2 + 3) + (2 + 3) + (self.storm_secs + 3) + (self.redis_outage_secs + 3)
    }
}

fn config(nats: u16, redis: u16, peers: &Peers) -> String {
    let mut agents = String::new();
    for a in 0..AGENTS {
        agents.push_str(&format!(
            "[agents.a{a}]\ntoken = \"agent-token-{a}\"\ncapacity = {{ sms = {CAPACITY} }}\n\
             deliver = [ {{ kind = \"webhook\", url = \"{base}/hook\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }} ]\n",
            base = peers.base
        ));
    }
    format!(
        "admin_token = \"{ADMIN}\"\n\
         [log]\nlevel = \"warn\"\n\
         [shutdown]\ntimeout_secs = 5\n\
         [nats]\nurl = \"nats://127.0.0.1:{nats}\"\nprefix = \"{PREFIX}\"\n\
         [redis]\nurl = \"redis://127.0.0.1:{redis}\"\nprefix = \"{PREFIX}\"\n\
         [outbound]\nbase_delay_ms = 20\nmax_delay_ms = 1000\n\
         [channels.sms.shop]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"{TOKEN}\"\n\
         from = \"+15005550006\"\napi_base = \"{base}\"\n{agents}",
        base = peers.base
    )
}

/// What the harness was told was done (a 2xx answer).
#[derive(Default)]
struct Ledger {
    /// Inbound texts answered 200.
    inbound: HashSet<String>,
    /// Replies answered 202: (conversation, text).
    replies: Vec<(String, String)>,
    /// Resolves answered 200, per conversation.
    resolves: HashMap<String, usize>,
    /// Every intake answer: (when answered, ok).
    intake: Vec<(Instant, bool)>,
    /// Sampled agent loads above capacity.
    overruns: Vec<String>,
}

/// A fault and when the system was whole again.
struct Fault {
    name: String,
    injected: Instant,
    recovered: Instant,
}

struct Fleet {
    replicas: Mutex<Vec<Replica>>,
    up: Vec<AtomicBool>,
    urls: Vec<String>,
}

impl Fleet {
    /// A replica that is up, starting from `hint`.
    fn pick(&self, hint: usize) -> String {
        for i in 0..REPLICAS {
            let r = (hint + i) % REPLICAS;
            if self.up[r].load(Ordering::Relaxed) {
                return self.urls[r].clone();
            }
        }
        self.urls[hint % REPLICAS].clone()
    }

    fn with<T>(&self, i: usize, f: impl FnOnce(&mut Replica) -> T) -> T {
        f(&mut self.replicas.lock().unwrap()[i])
    }
}

/// Runs one fault run and returns its report (a table and the counts).
pub async fn run(size: Size) -> Report {
    let dir = TempDir::new();
    let nats = Arc::new(Mutex::new(Server::nats(&dir.0)));
    let redis = Arc::new(Mutex::new(Server::redis(&dir.0, &size.appendfsync)));
    let (nats_port, redis_port) = (nats.lock().unwrap().port, redis.lock().unwrap().port);
    let (peers, mut events) = Peers::start().await;
    let toml = config(nats_port, redis_port, &peers);
    let mut replicas: Vec<Replica> = (0..REPLICAS).map(|i| Replica::new(i, &dir.0, &toml)).collect();
    for r in &mut replicas {
        r.start();
    }
    let urls: Vec<String> = replicas.iter().map(Replica::url).collect();
    let fleet = Arc::new(Fleet { replicas: Mutex::new(replicas), up: (0..REPLICAS).map(|_| AtomicBool::new(true)).collect(), urls });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for i in 0..REPLICAS {
        let ready = wait_ready(&http, &fleet.urls[i], Duration::from_secs(60)).await;
        assert!(ready, "replica {i} did not become ready:\n{}", fleet.with(i, |r| r.log_tail()));
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let done = Arc::new(AtomicBool::new(false));
    let pending_agents = Arc::new(AtomicUsize::new(0));

    // Agents: each assignment is answered once and then resolved.
    let agent_task = {
        let (fleet, ledger, http, pending) = (fleet.clone(), ledger.clone(), http.clone(), pending_agents.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if event["type"] != "switchboard.conversation.assigned" {
                    continue;
                }
                let (fleet, ledger, http, pending) = (fleet.clone(), ledger.clone(), http.clone(), pending.clone());
                pending.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    work_assignment(&fleet, &ledger, &http, &event).await;
                    pending.fetch_sub(1, Ordering::SeqCst);
                });
            }
        })
    };

    // Capacity sampling.
    let sampler = {
        let (fleet, ledger, http, done) = (fleet.clone(), ledger.clone(), http.clone(), done.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let url = format!("{}/api/v1/admin/stats", fleet.pick(n));
                if let Ok(r) = http.get(url).bearer_auth(ADMIN).send().await {
                    if let Ok(stats) = r.json::<Value>().await {
                        for a in 0..AGENTS {
                            let load = stats["agents"][format!("a{a}")]["load_by_channel"]["sms"].as_u64().unwrap_or(0);
                            if load > CAPACITY {
                                ledger.lock().unwrap().overruns.push(format!("a{a}: {load}"));
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // Traffic, spread over the fault schedule.
    let traffic = {
        let (fleet, ledger, http) = (fleet.clone(), ledger.clone(), http.clone());
        let size = size.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(size.schedule_secs()).as_secs_f64() / size.messages as f64;
            let customers = (size.messages / 4).max(1);
            let start = Instant::now();
            let mut sends = futures::stream::FuturesUnordered::new();
            for i in 0..size.messages {
                let due = start + Duration::from_secs_f64(every * i as f64);
                tokio::time::sleep_until(due.into()).await;
                let (fleet, ledger, http) = (fleet.clone(), ledger.clone(), http.clone());
                sends.push(tokio::spawn(async move { send_sms(&fleet, &ledger, &http, i, i % customers).await }));
                while let Some(Some(_)) = futures::FutureExt::now_or_never(sends.next()) {}
            }
            while sends.next().await.is_some() {}
        })
    };

    // The faults.
    let mut faults = Vec::new();
    let pause = |s: u64| tokio::time::sleep(Duration::from_secs(s));
    pause(4).await;
    faults.push(replica_fault(&fleet, &http, 1, "kill -9 replica", |r| r.kill(), Duration::from_secs(1)).await);
    pause(3).await;
    faults.push(replica_fault(&fleet, &http, 2, "SIGTERM replica", |r| r.terminate(Duration::from_secs(10)), Duration::ZERO).await);
    pause(3).await;
    {
        let injected = Instant::now();
        fleet.with(0, |r| r.pause());
        pause(3).await;
        fleet.with(0, |r| r.resume());
        faults.push(Fault { name: "SIGSTOP replica 3 s".into(), injected, recovered: Instant::now() });
    }
    pause(3).await;
    faults.push(server_fault(&nats, "kill -9 nats-server", Duration::from_secs(2)).await);
    pause(3).await;
    faults.push(server_fault(&redis, "kill -9 redis-server", Duration::from_secs(2)).await);
    pause(3).await;
    {
        let injected = Instant::now();
        let mut n = 0;
        while injected.elapsed() < Duration::from_secs(size.storm_secs) {
            let victim = n % REPLICAS;
            n += 1;
            replica_fault(&fleet, &http, victim, "storm", |r| r.kill(), Duration::from_millis(500)).await;
            pause(2).await;
        }
        faults.push(Fault { name: format!("kill storm ({n} kills)"), injected, recovered: Instant::now() });
    }
    pause(3).await;
    faults.push(server_fault(&redis, &format!("redis-server down {} s", size.redis_outage_secs), Duration::from_secs(size.redis_outage_secs)).await);

    traffic.await.unwrap();
    // Quiet: every acknowledged message delivered, every agent done, the
    // outbox relayed; then nothing changes for a while.
    let mut last = (0, 0, usize::MAX);
    let mut stable_since = Instant::now();
    let quiet_by = Instant::now() + Duration::from_secs(120);
    while Instant::now() < quiet_by {
        let now = (peers.counts().0, peers.counts().1, pending_agents.load(Ordering::SeqCst));
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if now.2 == 0 && stable_since.elapsed() > Duration::from_secs(6) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    let log = read_log(nats_port).await;
    let owners = ownership(&fleet, &http).await;
    agent_task.abort();
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let report = Report::new(&size, &ledger, &faults, &log, &peers, &owners);
    let mut replicas = fleet.replicas.lock().unwrap();
    for r in replicas.iter_mut() {
        r.terminate(Duration::from_secs(8));
    }
    report
}

async fn wait_ready(http: &reqwest::Client, url: &str, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A replica fault: `act` on replica `i`, then after `down` it is started
/// again; recovered once it is ready.
async fn replica_fault(
    fleet: &Arc<Fleet>,
    http: &reqwest::Client,
    i: usize,
    name: &str,
    act: impl FnOnce(&mut Replica) + Send + 'static,
    down: Duration,
) -> Fault {
    let injected = Instant::now();
    fleet.up[i].store(false, Ordering::Relaxed);
    let f = fleet.clone();
    tokio::task::spawn_blocking(move || f.with(i, act)).await.unwrap();
    tokio::time::sleep(down).await;
    fleet.with(i, |r| r.start());
    let ready = wait_ready(http, &fleet.urls[i], Duration::from_secs(60)).await;
    assert!(ready, "replica {i} did not come back after {name}:\n{}", fleet.with(i, |r| r.log_tail()));
    fleet.up[i].store(true, Ordering::Relaxed);
    Fault { name: format!("{name} {i}"), injected, recovered: Instant::now() }
}

/// kill -9 of a server, started again after `down`.
async fn server_fault(server: &Arc<Mutex<Server>>, name: &str, down: Duration) -> Fault {
    let injected = Instant::now();
    server.lock().unwrap().kill();
    tokio::time::sleep(down).await;
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.lock().unwrap().start()).await.unwrap();
    Fault { name: name.into(), injected, recovered: Instant::now() }
}

/// Posts inbound SMS `i` (Twilio-signed) until a replica answers 200, as
/// Twilio retries.
async fn send_sms(fleet: &Fleet, ledger: &Mutex<Ledger>, http: &reqwest::Client, i: usize, customer: usize) {
    let sid = format!("SM{i:032x}");
    let from = format!("+1415{customer:07}");
    let text = format!("m{i} where is my parcel");
    let params = [("MessageSid", sid.as_str()), ("From", from.as_str()), ("To", "+15005550006"), ("Body", text.as_str())];
    let until = Instant::now() + Duration::from_secs(240);
    let mut attempt = 0;
    while Instant::now() < until {
        let url = format!("{}/webhooks/sms/shop", fleet.pick(i + attempt));
        attempt += 1;
        let answer = http
            .post(&url)
            .header("x-twilio-signature", signature(&url, &params))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&params))
            .send()
            .await;
        let ok = matches!(&answer, Ok(r) if r.status() == 200);
        {
            let mut l = ledger.lock().unwrap();
            l.intake.push((Instant::now(), ok));
            if ok {
                l.inbound.insert(text);
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The agent's side of one assignment: a reply (with an Idempotency-Key,
/// retried until answered), then a resolve.
async fn work_assignment(fleet: &Fleet, ledger: &Mutex<Ledger>, http: &reqwest::Client, event: &Value) {
    let conv = event["data"]["conversation_id"].as_str().unwrap_or_default().to_owned();
    let agent = event["data"]["agent"].as_str().unwrap_or_default().to_owned();
    let Some(n) = agent.strip_prefix('a') else { return };
    let token = format!("agent-token-{n}");
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let text = format!("reply to {id}");
    let key = format!("k-{id}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let until = Instant::now() + Duration::from_secs(200);
    let mut attempt = 0;
    let mut replied = false;
    while Instant::now() < until {
        attempt += 1;
        let url = format!("{}/api/v1/conversations/{conv}/reply", fleet.pick(attempt));
        let r = http.post(url).bearer_auth(&token).header("idempotency-key", &key).json(&serde_json::json!({ "text": text })).send().await;
        match r.map(|r| r.status().as_u16()) {
            Ok(200..=299) => {
                ledger.lock().unwrap().replies.push((conv.clone(), text.clone()));
                replied = true;
                break;
            }
            // Not (or no longer) this agent's: nothing was queued.
            Ok(403 | 404 | 409 | 422) => break,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    if !replied {
        return;
    }
    while Instant::now() < until {
        attempt += 1;
        let url = format!("{}/api/v1/conversations/{conv}/resolve", fleet.pick(attempt));
        match http.post(url).bearer_auth(&token).json(&serde_json::json!({})).send().await.map(|r| r.status().as_u16()) {
            Ok(200..=299) => {
                *ledger.lock().unwrap().resolves.entry(conv.clone()).or_default() += 1;
                return;
            }
            Ok(403 | 404 | 409 | 422) => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Every event on the run's log, in log order.
async fn read_log(nats_port: u16) -> Vec<Value> {
    let client = async_nats::connect(format!("127.0.0.1:{nats_port}")).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(format!("{PREFIX}_events")).await.unwrap();
    let total = stream.cached_info().state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut out = Vec::new();
    while (out.len() as u64) < total {
        match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
            Ok(Some(Ok(m))) => out.push(serde_json::from_slice(&m.payload).unwrap_or(Value::Null)),
            _ => break,
        }
    }
    out
}

/// Each agent's open conversations at the end, as the API lists them.
async fn ownership(fleet: &Fleet, http: &reqwest::Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in 0..AGENTS {
        let url = format!("{}/api/v1/agents/a{a}/conversations", fleet.pick(a));
        if let Ok(r) = http.get(url).bearer_auth(ADMIN).send().await {
            if let Ok(body) = r.json::<Value>().await {
                for c in body["conversations"].as_array().into_iter().flatten() {
                    let id = c["id"].as_str().or(c["conversation"].as_str()).unwrap_or_default();
                    out.push((format!("a{a}"), id.to_owned()));
                }
            }
        }
    }
    out
}

fn signature(url: &str, params: &[(&str, &str)]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The figures of a run: each must be zero except the counts and times.
#[derive(Debug, Default)]
pub struct Report {
    pub acknowledged: usize,
    pub lost: usize,
    pub stored_twice: usize,
    pub actions_without_event: usize,
    pub assigned_untold: usize,
    pub ordering_violations: usize,
    pub overruns: usize,
    pub double_owners: usize,
    pub replies_missing: usize,
    pub replies_sent_twice: usize,
    pub table: String,
}

impl Report {
    fn new(size: &Size, l: &Ledger, faults: &[Fault], log: &[Value], peers: &Peers, owners: &[(String, String)]) -> Report {
        let kind = |e: &Value| e["type"].as_str().unwrap_or_default().to_owned();
        let text = |e: &Value| e["data"]["message"]["text"].as_str().unwrap_or_default().to_owned();
        // Inbound messages on the log (the reopened event repeats the
        // message that reopened: not counted).
        let mut inbound: HashMap<String, usize> = HashMap::new();
        for e in log {
            if e["data"]["message"]["direction"] == "inbound" && kind(e) != "switchboard.conversation.reopened" {
                *inbound.entry(text(e)).or_default() += 1;
            }
        }
        let lost = l.inbound.iter().filter(|t| !inbound.contains_key(*t)).count();
        let stored_twice = inbound.values().filter(|n| **n > 1).count();
        // Acknowledged actions and their events.
        let replied: HashSet<String> =
            log.iter().filter(|e| kind(e) == "switchboard.conversation.replied").map(text).collect();
        let mut resolved: HashMap<String, usize> = HashMap::new();
        for e in log.iter().filter(|e| kind(e) == "switchboard.conversation.resolved") {
            *resolved.entry(e["data"]["conversation_id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
        let actions_without_event = l.replies.iter().filter(|(_, t)| !replied.contains(t)).count()
            + l.resolves.iter().map(|(c, n)| n.saturating_sub(*resolved.get(c).unwrap_or(&0))).sum::<usize>();
        // Deliveries: every event naming an agent reached the webhook, each
        // conversation's in rising seq.
        let delivered = peers.delivered();
        let ids: HashSet<&str> = delivered.iter().filter_map(|d| d.event["id"].as_str()).collect();
        let assigned_untold = log
            .iter()
            .filter(|e| e["data"]["agent"].as_str().is_some_and(|a| !a.is_empty()) && kind(e).starts_with("switchboard.conversation."))
            .filter(|e| !ids.contains(e["id"].as_str().unwrap_or_default()))
            .count();
        let mut highest: HashMap<String, u64> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let (mut ordering_violations, mut repeated_deliveries) = (0, 0);
        for d in &delivered {
            let id = d.event["id"].as_str().unwrap_or_default().to_owned();
            if !seen.insert(id) {
                repeated_deliveries += 1;
                continue;
            }
            let (Some(conv), Some(seq)) = (d.event["data"]["conversation_id"].as_str(), d.event["seq"].as_u64()) else { continue };
            let top = highest.entry(conv.to_owned()).or_default();
            if seq < *top {
                ordering_violations += 1;
            }
            *top = (*top).max(seq);
        }
        // Open conversations with two owners.
        let mut owner_of: HashMap<&str, usize> = HashMap::new();
        for (_, c) in owners {
            *owner_of.entry(c).or_default() += 1;
        }
        let double_owners = owner_of.values().filter(|n| **n > 1).count();
        // Replies at the provider.
        let mut sent: HashMap<String, usize> = HashMap::new();
        for t in peers.sent() {
            *sent.entry(t).or_default() += 1;
        }
        let replies_missing = l.replies.iter().filter(|(_, t)| !sent.contains_key(t)).count();
        let replies_sent_twice = sent.values().filter(|n| **n > 1).count();

        let mut table = String::new();
        let line = |t: &mut String, k: &str, v: String| t.push_str(&format!("| {k:<44} | {v:>12} |\n"));
        table.push_str(&format!(
            "fault run: {} messages, 3 replicas, appendfsync {}, storm {} s, Redis outage {} s\n\n",
            size.messages, size.appendfsync, size.storm_secs, size.redis_outage_secs
        ));
        table.push_str("| fault | lasted | intake 200 after | webhook after |\n| --- | --- | --- | --- |\n");
        for f in faults {
            let ok_after = l.intake.iter().filter(|(at, ok)| *ok && *at >= f.recovered).map(|(at, _)| *at - f.recovered).min();
            let hook_after = delivered.iter().filter(|d| d.at >= f.recovered).map(|d| d.at - f.recovered).min();
            let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{} ms", d.as_millis()));
            table.push_str(&format!(
                "| {} | {:.1} s | {} | {} |\n",
                f.name,
                (f.recovered - f.injected).as_secs_f64(),
                ms(ok_after),
                ms(hook_after)
            ));
        }
        table.push('\n');
        let failed_answers = l.intake.iter().filter(|(_, ok)| !ok).count();
        line(&mut table, "inbound acknowledged (200)", l.inbound.len().to_string());
        line(&mut table, "intake answers other than 200 (retried)", failed_answers.to_string());
        line(&mut table, "events on the log", log.len().to_string());
        line(&mut table, "events delivered to the webhook", delivered.len().to_string());
        line(&mut table, "replies acknowledged / resolves acknowledged", format!("{} / {}", l.replies.len(), l.resolves.values().sum::<usize>()));
        let report = Report {
            acknowledged: l.inbound.len(),
            lost,
            stored_twice,
            actions_without_event,
            assigned_untold,
            ordering_violations,
            overruns: l.overruns.len(),
            double_owners,
            replies_missing,
            replies_sent_twice,
            table: String::new(),
        };
        line(&mut table, "lost inbound messages", lost.to_string());
        line(&mut table, "inbound messages stored twice", stored_twice.to_string());
        line(&mut table, "acknowledged actions without their event", actions_without_event.to_string());
        line(&mut table, "agent events never delivered", assigned_untold.to_string());
        line(&mut table, "ordering violations", ordering_violations.to_string());
        line(&mut table, "repeated deliveries (absorbed by id)", repeated_deliveries.to_string());
        line(&mut table, "sampled capacity overruns", l.overruns.len().to_string());
        line(&mut table, "conversations with two owners", double_owners.to_string());
        line(&mut table, "acknowledged replies never sent", replies_missing.to_string());
        line(&mut table, "replies sent twice", replies_sent_twice.to_string());
        Report { table, ..report }
    }

    /// The checks that must be zero.
    pub fn failures(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (n, what) in [
            (self.lost, "lost inbound messages"),
            (self.stored_twice, "inbound messages stored twice"),
            (self.actions_without_event, "acknowledged actions without their event"),
            (self.assigned_untold, "agent events never delivered"),
            (self.ordering_violations, "ordering violations"),
            (self.overruns, "capacity overruns"),
            (self.double_owners, "conversations with two owners"),
            (self.replies_missing, "acknowledged replies never sent"),
            (self.replies_sent_twice, "replies sent twice"),
        ] {
            if n > 0 {
                out.push(what);
            }
        }
        if self.acknowledged == 0 {
            out.push("no message was acknowledged at all");
        }
        out
    }
}
