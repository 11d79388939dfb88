//! The daemon under test: started in this process on a free port with
//! the bench's configuration, waited for until ready, stopped after.

use std::time::{Duration, Instant};
use anyhow::bail;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use crate::config::{Loader, Settings};

use super::*;

/// The in-process daemon.
pub(super) struct Daemon {
    pub(super) addr: std::net::SocketAddr,
    pub(super) settings: Settings,
    pub(super) shutdown: CancellationToken,
    pub(super) handle: JoinHandle<Result<(), crate::daemon::StartError>>,
}

impl Daemon {
    pub(super) async fn start(plan: &PipelinePlan, token: &str, agents: usize, capacity: usize) -> anyhow::Result<Daemon> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut toml = format!(
            "[server]\nlisten = {listen}\npublic_url = {public}\n\
             [log]\nlevel = \"warn\"\n\
             [nats]\nurl = {nats}\nprefix = {prefix}\n\
             [redis]\nurl = {redis}\nprefix = {prefix}\n\
             [channels.sms.bench]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = {token}\n\
             from = \"+15005550006\"\napi_base = \"http://127.0.0.1:9\"\n",
            listen = q(&addr.to_string()),
            public = q(&format!("http://{addr}")),
            nats = q(&plan.nats_url),
            redis = q(&plan.redis_url),
            prefix = q(&plan.prefix),
            token = q(token),
        );
        for a in 0..agents {
            toml.push_str(&format!("[agents.a{a:05}]\ntoken = \"bench-a{a:05}\"\ncapacity = {{ sms = {capacity} }}\n"));
        }
        let settings = Loader::new()
            .without_env()
            .overlay(toml)
            .load()
            .map_err(|p| anyhow::anyhow!("generated configuration: {p}"))?;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(crate::run(settings.clone(), listener, shutdown.clone()));
        let daemon = Daemon { addr, settings, shutdown, handle };
        daemon.ready().await?;
        Ok(daemon)
    }

    pub(super) async fn ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let url = format!("http://{}/readyz", self.addr);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.handle.is_finished() {
                bail!("the daemon stopped during start-up");
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the daemon did not become ready within 30 s")
    }

    pub(super) async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let bound = self.settings.shutdown.timeout() + Duration::from_secs(5);
        match tokio::time::timeout(bound, self.handle).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.into()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => bail!("the daemon did not stop within {} s", bound.as_secs()),
        }
    }
}
