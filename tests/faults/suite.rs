//! One fault run: three replicas under signed SMS and WeChat traffic,
//! agents replying and resolving through the API, faults injected on a
//! schedule, then the checks, from outside only: the API, the event log and
//! the recording fakes (`report`).
//!
//! Two plans: the fault schedule against one nats-server, and the cluster
//! case (three nats-servers, streams replicated three times, the streams'
//! leader killed -9 during the traffic).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::peers::Peers;
use crate::procs::{Replica, Server, TempDir};
use crate::report::Report;
use crate::traffic::{self, TWILIO_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID, WECHAT_TOKEN};

const PREFIX: &str = "faults";
const ADMIN: &str = "fault-admin";
const AGENTS: usize = 4;
/// Each agent's capacity on each channel.
const CAPACITY: u64 = 3;
const CHANNELS: [&str; 2] = ["sms", "wechat"];
const REPLICAS: usize = 3;

/// What a run does to the system.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    /// One nats-server; replicas killed, stopped and paused, both servers
    /// killed, a kill storm, a Redis outage.
    Faults,
    /// Three nats-servers in one cluster, `nats.stream_replicas = 3`; the
    /// inbound stream's leader killed -9, started again later.
    LeaderKill,
}

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

    /// The cluster case's size: `FAULTS_CLUSTER_MESSAGES` (default 240).
    pub fn cluster_from_env() -> Size {
        let messages = std::env::var("FAULTS_CLUSTER_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(240);
        Size { messages, ..Size::from_env() }
    }

    /// How long the fault schedule takes, which the traffic spreads over.
    fn schedule_secs(&self, plan: Plan) -> u64 {
        match plan {
            Plan::Faults => {
                4 + (1 + 3) + (3 + 3) + (3 + 3) + (2 + 3) + (2 + 3) + (self.storm_secs + 3) + (self.redis_outage_secs + 3)
            }
            Plan::LeaderKill => 4 + LEADER_DOWN_SECS + 6,
        }
    }
}

/// How long the killed stream leader stays down.
const LEADER_DOWN_SECS: u64 = 8;

fn config(nats_url: &str, stream_replicas: usize, redis: u16, peers: &Peers) -> String {
    let mut agents = String::new();
    for a in 0..AGENTS {
        agents.push_str(&format!(
            "[agents.a{a}]\ntoken = \"agent-token-{a}\"\ncapacity = {{ sms = {CAPACITY}, wechat = {CAPACITY} }}\n\
             deliver = [ {{ kind = \"webhook\", url = \"{base}/hook\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }} ]\n",
            base = peers.base
        ));
    }
    format!(
        "admin_token = \"{ADMIN}\"\n\
         [log]\nlevel = \"warn\"\n\
         [shutdown]\ntimeout_secs = 5\n\
         [nats]\nurl = \"{nats_url}\"\nprefix = \"{PREFIX}\"\nstream_replicas = {stream_replicas}\n\
         [redis]\nurl = \"redis://127.0.0.1:{redis}\"\nprefix = \"{PREFIX}\"\n\
         [outbound]\nbase_delay_ms = 20\nmax_delay_ms = 1000\n\
         [channels.sms.shop]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"{TWILIO_TOKEN}\"\n\
         from = \"+15005550006\"\napi_base = \"{base}\"\n\
         [channels.wechat.shop]\napp_id = \"{WECHAT_APP_ID}\"\napp_secret = \"fault-app-secret\"\ntoken = \"{WECHAT_TOKEN}\"\n\
         encoding_aes_key = \"{WECHAT_AES_KEY}\"\napi_base = \"{base}\"\n{agents}",
        base = peers.base
    )
}

/// What the harness was told was done (a 2xx answer).
#[derive(Default)]
pub struct Ledger {
    /// Inbound texts answered 200.
    pub inbound: HashSet<String>,
    /// Replies answered 202: (conversation, text).
    pub replies: Vec<(String, String)>,
    /// Resolves answered 200, per conversation.
    pub resolves: HashMap<String, usize>,
    /// Every intake answer: (when answered, ok).
    pub intake: Vec<(Instant, bool)>,
    /// Sampled agent loads above capacity.
    pub overruns: Vec<String>,
}

/// A fault and when the system was whole again.
pub struct Fault {
    pub name: String,
    pub injected: Instant,
    pub recovered: Instant,
}

pub struct Fleet {
    replicas: Mutex<Vec<Replica>>,
    up: Vec<AtomicBool>,
    urls: Vec<String>,
}

impl Fleet {
    /// A replica that is up, starting from `hint`.
    pub fn pick(&self, hint: usize) -> String {
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
pub async fn run(size: Size, plan: Plan) -> Report {
    let dir = TempDir::new();
    let servers = match plan {
        Plan::Faults => vec![Server::nats(&dir.0)],
        Plan::LeaderKill => Server::nats_cluster(&dir.0, 3),
    };
    let nats_url: Vec<String> = servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.port)).collect();
    let nats_url = nats_url.join(",");
    let nats: Vec<Arc<Mutex<Server>>> = servers.into_iter().map(|s| Arc::new(Mutex::new(s))).collect();
    let redis = Arc::new(Mutex::new(Server::redis(&dir.0, &size.appendfsync)));
    let redis_port = redis.lock().unwrap().port;
    let (peers, mut events) = Peers::start().await;
    let toml = config(&nats_url, nats.len(), redis_port, &peers);
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
                    traffic::work_assignment(&fleet, &ledger, &http, &event).await;
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
                            for channel in CHANNELS {
                                let load = stats["agents"][format!("a{a}")]["load_by_channel"][channel].as_u64().unwrap_or(0);
                                if load > CAPACITY {
                                    ledger.lock().unwrap().overruns.push(format!("a{a} {channel}: {load}"));
                                }
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
            let every = Duration::from_secs(size.schedule_secs(plan)).as_secs_f64() / size.messages as f64;
            let customers = (size.messages / 4).max(1);
            let start = Instant::now();
            let mut sends = futures::stream::FuturesUnordered::new();
            for i in 0..size.messages {
                let due = start + Duration::from_secs_f64(every * i as f64);
                tokio::time::sleep_until(due.into()).await;
                let (fleet, ledger, http) = (fleet.clone(), ledger.clone(), http.clone());
                sends.push(tokio::spawn(async move { traffic::send(&fleet, &ledger, &http, i, i % customers).await }));
                while let Some(Some(_)) = futures::FutureExt::now_or_never(sends.next()) {}
            }
            while sends.next().await.is_some() {}
        })
    };

    // The faults.
    let faults = match plan {
        Plan::Faults => fault_schedule(&size, &fleet, &http, &nats[0], &redis).await,
        Plan::LeaderKill => kill_leader(&nats).await,
    };

    traffic.await.unwrap();
    // Quiet: every acknowledged message delivered, every agent done, the
    // outbox relayed, no consumer with work left (a message waiting out a
    // retry backoff, or an event waiting for its conversation's earlier
    // one, changes nothing visible for a while); then nothing changes for
    // a while.
    let mut last = (0, 0, usize::MAX);
    let mut stable_since = Instant::now();
    let quiet_by = Instant::now() + Duration::from_secs(180);
    while Instant::now() < quiet_by {
        let now = (peers.counts().0, peers.counts().1, pending_agents.load(Ordering::SeqCst));
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if now.2 == 0 && stable_since.elapsed() > Duration::from_secs(6) && backlog(&nats_url).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    let log = read_log(&nats_url).await;
    let owners = ownership(&fleet, &http).await;
    agent_task.abort();
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let report = Report::new(&size, plan, &ledger, &faults, &log, &peers, &owners);
    let mut replicas = fleet.replicas.lock().unwrap();
    for r in replicas.iter_mut() {
        r.terminate(Duration::from_secs(8));
    }
    report
}

/// The fault schedule against one nats-server.
async fn fault_schedule(size: &Size, fleet: &Arc<Fleet>, http: &reqwest::Client, nats: &Arc<Mutex<Server>>, redis: &Arc<Mutex<Server>>) -> Vec<Fault> {
    let mut faults = Vec::new();
    let pause = |s: u64| tokio::time::sleep(Duration::from_secs(s));
    pause(4).await;
    faults.push(replica_fault(fleet, http, 1, "kill -9 replica", |r| r.kill(), Duration::from_secs(1)).await);
    pause(3).await;
    faults.push(replica_fault(fleet, http, 2, "SIGTERM replica", |r| r.terminate(Duration::from_secs(10)), Duration::ZERO).await);
    pause(3).await;
    {
        let injected = Instant::now();
        fleet.with(0, |r| r.pause());
        pause(3).await;
        fleet.with(0, |r| r.resume());
        faults.push(Fault { name: "SIGSTOP replica 3 s".into(), injected, recovered: Instant::now() });
    }
    pause(3).await;
    faults.push(server_fault(nats, "kill -9 nats-server", Duration::from_secs(2)).await);
    pause(3).await;
    {
        // Stalled first: API actions taken now are answered from Redis and
        // their events wait in the outbox; then killed and restarted.
        let injected = Instant::now();
        nats.lock().unwrap().pause();
        pause(2).await;
        let fault = server_fault(nats, "", Duration::from_secs(1)).await;
        faults.push(Fault { name: "SIGSTOP 2 s, then kill -9 nats-server".into(), injected, recovered: fault.recovered });
    }
    pause(3).await;
    faults.push(server_fault(redis, "kill -9 redis-server", Duration::from_secs(2)).await);
    pause(3).await;
    {
        let injected = Instant::now();
        let mut n = 0;
        while injected.elapsed() < Duration::from_secs(size.storm_secs) {
            let victim = n % REPLICAS;
            n += 1;
            replica_fault(fleet, http, victim, "storm", |r| r.kill(), Duration::from_millis(500)).await;
            pause(2).await;
        }
        faults.push(Fault { name: format!("kill storm ({n} kills)"), injected, recovered: Instant::now() });
    }
    pause(3).await;
    faults.push(server_fault(redis, &format!("redis-server down {} s", size.redis_outage_secs), Duration::from_secs(size.redis_outage_secs)).await);

    faults
}

/// The cluster case: the inbound stream's leader killed -9 during the
/// traffic, started again after `LEADER_DOWN_SECS`. Recovered at the kill:
/// the cluster is meant to go on without it (the intake gap shows how long
/// it did not).
async fn kill_leader(nats: &[Arc<Mutex<Server>>]) -> Vec<Fault> {
    tokio::time::sleep(Duration::from_secs(4)).await;
    let urls: Vec<String> = nats.iter().map(|s| format!("nats://127.0.0.1:{}", s.lock().unwrap().port)).collect();
    let client = async_nats::connect(urls).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(format!("{PREFIX}_inbound")).await.unwrap();
    let leader = stream.info().await.unwrap().cluster.as_ref().and_then(|c| c.leader.clone()).expect("the inbound stream has a leader");
    let node = nats.iter().find(|s| s.lock().unwrap().name == leader).expect("the leader is one of ours").clone();
    let injected = Instant::now();
    node.lock().unwrap().kill();
    // How long JetStream itself took to elect another leader (what bounds
    // the intake gap: a publish has no stream to go to until then).
    let mut elected = None;
    while injected.elapsed() < Duration::from_secs(LEADER_DOWN_SECS) {
        if let Ok(Ok(info)) = tokio::time::timeout(Duration::from_millis(500), stream.info()).await {
            if let Some(new) = info.cluster.as_ref().and_then(|c| c.leader.clone()).filter(|l| *l != leader) {
                elected = Some((new, injected.elapsed()));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let name = match elected {
        Some((new, after)) => format!("kill -9 stream leader {leader} (new leader {new} after {} ms)", after.as_millis()),
        None => format!("kill -9 stream leader {leader} (no new leader within {LEADER_DOWN_SECS} s)"),
    };
    let fault = Fault { name, injected, recovered: injected };
    tokio::time::sleep(Duration::from_secs(LEADER_DOWN_SECS).saturating_sub(injected.elapsed())).await;
    tokio::task::spawn_blocking(move || node.lock().unwrap().start()).await.unwrap();
    vec![fault]
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

/// Messages the replicas' durable consumers still have to handle or to
/// acknowledge, over every stream of the run (`u64::MAX` when NATS cannot
/// tell: not quiet).
async fn backlog(nats_url: &str) -> u64 {
    let count = async {
        let seeds: Vec<async_nats::ServerAddr> = nats_url.split(',').filter_map(|u| u.parse().ok()).collect();
        let js = async_nats::jetstream::new(async_nats::connect(seeds).await.ok()?);
        let mut total = 0;
        for name in ["inbound", "outbound", "events"] {
            let stream = js.get_stream(format!("{PREFIX}_{name}")).await.ok()?;
            let mut consumers = stream.consumers();
            while let Some(info) = consumers.next().await {
                let info = info.ok()?;
                total += info.num_pending + info.num_ack_pending as u64;
            }
        }
        Some(total)
    };
    tokio::time::timeout(Duration::from_secs(5), count).await.ok().flatten().unwrap_or(u64::MAX)
}

/// Every event on the run's log, in log order.
async fn read_log(nats_url: &str) -> Vec<Value> {
    let seeds: Vec<async_nats::ServerAddr> = nats_url.split(',').map(|u| u.parse().unwrap()).collect();
    let client = async_nats::connect(seeds).await.unwrap();
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

