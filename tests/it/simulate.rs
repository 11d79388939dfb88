//! `switchboard simulate` against the in-process daemon with the demo
//! configuration (its provider ports chosen free): conversations on all
//! four channels are assigned and answered, replies reach the fake
//! providers and the visitors' sockets, agents resolve, nothing fails.
//! And the command's one-line errors with exit 2.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// config/demo.toml with the providers on free ports, without the
/// listener, public URL and prefixes (TestApp sets those).
fn demo() -> String {
    let mut text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    for port in ["8089", "8090", "8091", "2525"] {
        let from = format!("127.0.0.1:{port}");
        assert!(text.contains(&from), "demo.toml names {from}");
        text = text.replace(&from, &format!("127.0.0.1:{}", free_port()));
    }
    text.lines()
        .filter(|l| !(l.starts_with("listen =") || l.starts_with("public_url =") || l.starts_with("prefix =")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn write(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("switchboard-{name}-{}.toml", ulid::Ulid::new()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_drives_all_four_channels_to_replies_and_resolves() {
    let toml = demo();
    let app = TestApp::spawn_ready(&toml).await;
    // The simulator reads the daemon's file; signatures cover its public URL.
    let file = toml.replacen(
        "admin_token = \"demo-admin-token\"",
        &format!("admin_token = \"demo-admin-token\"\npublic_url = \"{}\"", app.url("")),
        1,
    );
    let path = write("simulate", &file);
    let options = switchboard_simulate::Options {
        url: app.url(""),
        config: path.clone(),
        rate: 120.0,
        duration: Duration::from_secs(10),
        seed: 17,
        quiet: false,
    };
    let summary = tokio::time::timeout(Duration::from_secs(60), switchboard_simulate::run(options))
        .await
        .expect("the run ends within its bound")
        .expect("the run starts");
    print!("{summary}");
    for channel in ["sms", "wechat", "email", "webchat"] {
        assert!(summary.sent[channel] > 0, "nothing sent on {channel}:\n{summary}");
        assert!(summary.replies[channel] > 0, "no reply received on {channel}:\n{summary}");
    }
    assert!(summary.conversations >= 10, "{summary}");
    assert!(summary.agent_replies > 0 && summary.resolved > 0, "{summary}");
    assert!(summary.errors.is_empty(), "errors: {:?}\n{summary}", summary.errors);
    // Every reply an agent posted reached the customer's side.
    let received: u64 = summary.replies.values().sum();
    assert!(received >= summary.agent_replies.saturating_sub(2), "{summary}");
    let _ = std::fs::remove_file(path);
    app.stop().await;
}

fn one_line_exit_2(args: &[&str]) -> String {
    let out = Command::new(BIN).arg("simulate").args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line expected, got:\n{err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    err
}

#[test]
fn simulate_cli_bad_flags_and_an_unreachable_daemon_exit_2_with_one_line() {
    assert!(one_line_exit_2(&["--bogus"]).contains("--bogus"));
    assert!(one_line_exit_2(&["--rate", "0"]).contains("--rate"));
    assert!(one_line_exit_2(&["--duration", "ten"]).contains("--duration"));
    assert!(one_line_exit_2(&["--url", "http://example.com"]).contains("127.0.0.1"));
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml");
    assert!(one_line_exit_2(&["--config", "/nonexistent/switchboard.toml"]).contains("cannot read"));
    let err = one_line_exit_2(&["--url", &format!("http://127.0.0.1:{}", free_port()), "--config", demo]);
    assert!(err.contains("unreachable"), "{err}");
}
