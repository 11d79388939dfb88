//! `switchboard simulate`: demo traffic against a running daemon.
//!
//! Customers write on all four channels through the providers' real
//! webhook formats and signatures ([`send`], [`webchat`]); the providers'
//! APIs the daemon answers through are played on the ports the
//! configuration points them at ([`fakes`], [`smtp`]), so that every reply
//! lands somewhere and is counted ([`inbox`]); agents work through the
//! agent API with their tokens ([`agents`]). The traffic is drawn from the
//! seed ([`plan`]). The simulator reads the daemon's configuration as
//! plain TOML ([`config`]) and does not depend on the daemon's crate.
//!
//! Modules depend one way: `lib` → `customer`/`agents` → `send`/`webchat`
//! → `ctx` → `config`/`inbox`/`stats`/`plan`/`content`/`sign`.

pub mod agents;
pub mod config;
pub mod content;
pub mod ctx;
pub mod customer;
pub mod error;
pub mod fakes;
pub mod inbox;
pub mod plan;
pub mod send;
pub mod sign;
pub mod smtp;
pub mod stats;
pub mod stop;
pub mod webchat;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use error::SimError;
pub use stats::Summary;

/// The flags of `switchboard simulate`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// The daemon's base URL (127.0.0.1 only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The daemon's TOML configuration: accounts, secrets, agents' tokens,
    /// where the outbound senders point.
    #[arg(long, short, default_value = "config/demo.toml")]
    pub config: PathBuf,
    /// New conversations per minute.
    #[arg(long, default_value_t = 30.0, value_parser = parse_rate)]
    pub rate: f64,
    /// How long customers keep arriving: `10s`, `5m`, `1h` or seconds;
    /// open conversations then get a short time to finish.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The same seed gives the same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print nothing until the summary.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 6000.0 => Ok(r),
        _ => Err("conversations per minute, a number above 0 and at most 6000".into()),
    }
}

/// `10s`, `5m`, `2h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|ch: char| !(ch.is_ascii_digit() || ch == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("`{s}` is not a duration such as 10s, 5m or 90"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: the unit is ms, s, m or h")),
    };
    if !(0.5..=86_400.0).contains(&secs) {
        return Err("between 0.5 s and 24 h".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Only this machine is ever a target.
fn check_url(url: &str) -> Result<String, SimError> {
    let parsed = url::Url::parse(url).map_err(|e| SimError::Flag(format!("--url {url}: {e}")))?;
    if parsed.scheme() != "http" || !matches!(parsed.host_str(), Some("127.0.0.1" | "localhost")) {
        return Err(SimError::Flag(format!("--url {url}: the simulator only drives a daemon at http://127.0.0.1")));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Runs the simulation and returns its figures.
pub async fn run(options: Options) -> Result<Summary, SimError> {
    let base = check_url(&options.url)?;
    let target = config::Target::load(&options.config)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| SimError::Flag(format!("cannot build an HTTP client: {e}")))?;
    match http.get(format!("{base}/healthz")).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => return Err(SimError::Unreachable { url: base, why: format!("/healthz answered {}", r.status()) }),
        Err(e) => {
            let why = if e.is_connect() { "connection refused".to_owned() } else { e.to_string() };
            return Err(SimError::Unreachable { url: base, why });
        }
    }
    let stats = Arc::new(stats::Stats::default());
    let inbox = Arc::new(inbox::Inbox::new(stats.clone()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    fakes::start(&target.sms, &target.wechat, inbox.clone(), stats.clone(), stop.clone()).await?;
    fakes::supervisors(&target.supervisor_ports, stats.clone(), stop.clone()).await?;
    let smtp_ports: Vec<u16> = target.email.iter().map(|a| a.smtp_port).collect();
    smtp::start(&smtp_ports, inbox.clone(), stats.clone(), stop.clone()).await?;

    let caps = plan::Capabilities {
        channels: plan::Ch::ALL
            .into_iter()
            .filter(|c| match c {
                plan::Ch::Sms => !target.sms.is_empty(),
                plan::Ch::Wechat => !target.wechat.is_empty(),
                plan::Ch::Email => !target.email.is_empty(),
                plan::Ch::Webchat => target.webchat.is_some(),
            })
            .collect(),
        admin: target.admin_token.is_some(),
        identity: matches!(target.webchat, Some(Some(_))),
    };
    let customers = plan::draw(options.seed, options.rate, options.duration, &caps);
    let pace = (options.duration.as_secs_f64() / 300.0).clamp(0.1, 1.0);
    let drain = Duration::from_secs_f64(4.0 + 16.0 * pace);
    let start = Instant::now();
    let salt = u32::try_from(chrono::Utc::now().timestamp_millis().rem_euclid(1_000_000)).unwrap_or(0);
    let agents = target.agents.clone();
    let ctx = Arc::new(ctx::Ctx::new(
        http,
        base,
        target,
        stats.clone(),
        inbox,
        salt,
        pace,
        (start, start + options.duration + drain),
        options.seed,
    ));
    if !options.quiet {
        println!(
            "simulating {} conversations over {:.0} s ({} agents, seed {}, pace {:.2})",
            customers.len(),
            options.duration.as_secs_f64(),
            agents.len(),
            options.seed,
            pace
        );
    }
    let mut agent_tasks = Vec::new();
    for (i, agent) in agents.into_iter().enumerate() {
        agent_tasks.push(tokio::spawn(agents::play(ctx.clone(), agent, i as u64, stop.clone())));
    }
    let mut customer_tasks: Vec<_> = customers.into_iter().map(|c| tokio::spawn(customer::play(ctx.clone(), c))).collect();

    let every = if options.duration <= Duration::from_secs(60) { Duration::from_secs(2) } else { Duration::from_secs(5) };
    let mut tick = tokio::time::interval_at(start + every, every);
    let all_done = async {
        for t in customer_tasks.drain(..) {
            let _ = t.await;
        }
    };
    tokio::pin!(all_done);
    loop {
        tokio::select! {
            _ = &mut all_done => break,
            _ = tick.tick() => {
                if !options.quiet {
                    println!("{}", stats.snapshot(start.elapsed()).progress_line());
                }
            }
        }
    }
    // Let the agents wrap up what the last answers left waiting.
    let wrap = ctx.paced(Duration::from_secs(16)).min(ctx.end.saturating_duration_since(Instant::now()));
    tokio::time::sleep(wrap + Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    for t in agent_tasks {
        let _ = t.await;
    }
    Ok(stats.snapshot(start.elapsed()))
}
