//! The binary itself: `check-config` lists every problem; `serve` exits 0
//! within the bound on SIGTERM.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn clean_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD__") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn check_config_lists_every_problem() {
    let mut file = tempfile("bad");
    file.1
        .write_all(
            br#"
[server]
listen = "nowhere"
colour = "blue"
[nats]
url = "nats://127.0.0.1:4222,http://127.0.0.1:4223"
[channels.sms.shop]
account_sid = "AC1"
from = "12"
[agents.alice]
token = "t"
capacity = { sms = "many" }
[[rules]]
name = "r"
when = { text = "(" }
then = { queue = "ghost" }
"#,
        )
        .unwrap();
    let out = clean_env(&mut Command::new(BIN)).args(["check-config", "--config"]).arg(&file.0).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "server.listen:",
        "server.colour: unknown key",
        "nats.url: `http://127.0.0.1:4223` must start with nats://",
        "channels.sms.shop.auth_token:",
        "channels.sms.shop.from:",
        "agents.alice.capacity.sms:",
        "rules[0].when.text:",
        "rules[0].then.queue:",
    ] {
        assert!(err.contains(key), "missing `{key}` in:\n{err}");
    }

    let ok = clean_env(&mut Command::new(BIN)).args(["check-config", "--config", "config/demo.toml"]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // Environment overrides apply, and a secret never shows in the output.
    let env = clean_env(&mut Command::new(BIN))
        .args(["check-config", "--config", "config/demo.toml"])
        .env("SWITCHBOARD__CHANNELS__SMS__SHOP__FROM", "bogus")
        .env("SWITCHBOARD__AGENTS__ALICE__TOKEN", "super-secret-value")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&env.stderr);
    assert!(err.contains("channels.sms.shop.from"), "{err}");
    assert!(!err.contains("super-secret-value"));
}

#[test]
fn secrets_come_from_files_and_are_never_printed() {
    let mut secret = tempfile("secret");
    secret.1.write_all(b"file-held-token\n").unwrap();
    let settings = switchboard::config::Loader::new()
        .without_env()
        .overlay(format!(
            "[agents.alice]\ntoken_file = \"{}\"\n[server]\nadmin_token = \"admin-value\"\n",
            secret.0.display()
        ))
        .load()
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(settings.agents["alice"].token.as_ref().unwrap().expose_secret(), "file-held-token");
    let debug = format!("{settings:?}");
    assert!(!debug.contains("file-held-token") && !debug.contains("admin-value"));
    let both = switchboard::config::Loader::new()
        .without_env()
        .overlay(format!("[agents.alice]\ntoken = \"x\"\ntoken_file = \"{}\"\n", secret.0.display()))
        .load()
        .unwrap_err();
    assert!(both.to_string().contains("agents.alice.token"));
}

/// The daemon with config/demo.toml as a process of its own, on `port`
/// and `prefix`; returns once it answers `/readyz` with 200.
fn serve_demo(port: u16, prefix: &str) -> std::process::Child {
    let mut child = clean_env(&mut Command::new(BIN))
        .args(["serve", "--config", "config/demo.toml"])
        .env("SWITCHBOARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__NATS__PREFIX", prefix)
        .env("SWITCHBOARD__REDIS__PREFIX", prefix)
        .env("SWITCHBOARD__SHUTDOWN__TIMEOUT_SECS", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Read;
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200") {
                return child;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("daemon did not become ready");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn sigterm_exits_zero_within_the_bound() {
    let prefix = crate::support::unique_prefix();
    let mut child = serve_demo(free_port(), &prefix);
    let term = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(term.elapsed() < Duration::from_secs(7), "did not exit within the 5 s bound");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tempfile(name: &str) -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("switchboard-{name}-{}.toml", ulid::Ulid::new()));
    let f = std::fs::File::create(&path).unwrap();
    (path, f)
}

/// A reload by SIGHUP is an operator's action like the admin API's: it is
/// on the audit trail, by `signal`.
#[tokio::test]
async fn a_reload_by_sighup_is_on_the_audit_trail() {
    let prefix = crate::support::unique_prefix();
    let mut child = serve_demo(free_port(), &prefix);
    assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let found = crate::support::wait_until(Duration::from_secs(20), || {
        let js = js.clone();
        let prefix = prefix.clone();
        async move {
            let mut stream = js.get_stream(format!("{prefix}_audit")).await.ok()?;
            let last = stream.info().await.ok()?.state.last_sequence;
            (last > 0).then_some(())?;
            let msg = stream.get_raw_message(last).await.ok()?;
            let event: serde_json::Value = serde_json::from_slice(&msg.payload).ok()?;
            (event["type"] == "switchboard.audit.config.reload").then_some(event)
        }
    })
    .await;
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let event = found.expect("a config.reload audit event");
    assert_eq!(event["data"]["actor"], serde_json::json!({"kind": "signal", "id": "SIGHUP"}), "{event}");
    assert_eq!(event["data"]["status"], 200, "{event}");
}
