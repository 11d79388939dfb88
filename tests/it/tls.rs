//! TLS to NATS and Redis: an instance connected by `tls://` and
//! `rediss://` URLs, with a private CA named by `nats.ca_file` and
//! `redis.ca_file`, routes a message end to end. Its own nats-server and
//! redis-server (never the shared ones) serve TLS only, with a certificate
//! made here by openssl.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{sms, wait_until, TestApp};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ])
        .args(["-keyout", &p("ca-key.pem"), "-out", &p("ca.pem")]));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-keyout", &p("server-key.pem"), "-out", &p("server.csr")]));
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .args([
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca-key.pem"),
            "-CAcreateserial",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("server.pem"),
        ]));
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test]
async fn an_instance_talks_tls_to_nats_and_redis_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("switchboard-tls-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(dir.join("js")).unwrap();
    certificates(&dir);
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (nats_port, redis_port) = (free_port(), free_port());
    std::fs::write(
        dir.join("nats.conf"),
        format!(
            "port: {nats_port}\nhost: 127.0.0.1\njetstream {{ store_dir: \"{}\" }}\ntls {{ cert_file: \"{}\"\n key_file: \"{}\" }}\n",
            p("js"),
            p("server.pem"),
            p("server-key.pem")
        ),
    )
    .unwrap();
    let nats = Command::new("nats-server")
        .args(["-c", &p("nats.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let redis = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &redis_port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            &p("server.pem"),
            "--tls-key-file",
            &p("server-key.pem"),
            "--tls-ca-cert-file",
            &p("ca.pem"),
        ])
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &p(""),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _servers = Killed(vec![nats, redis]);
    for port in [nats_port, redis_port] {
        let up = wait_until(Duration::from_secs(10), || async move {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(up.is_some(), "a test server listens on {port}");
    }
    let toml = format!(
        r#"
        [nats]
        url = "tls://127.0.0.1:{nats_port}"
        ca_file = "{}"
        [redis]
        url = "rediss://127.0.0.1:{redis_port}"
        ca_file = "{}"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 1 }}
        "#,
        p("ca.pem"),
        p("ca.pem")
    );
    let app = TestApp::spawn_ready(&toml).await;
    sms(&app, "SMtls1", "+14155550301", "over TLS").await;
    let client = reqwest::Client::new();
    let routed = wait_until(Duration::from_secs(15), || {
        let req = client
            .get(app.url("/api/v1/agents/alice/conversations"))
            .bearer_auth("alice-token")
            .send();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            (v["conversations"].as_array()?.len() == 1).then_some(())
        }
    })
    .await;
    assert!(
        routed.is_some(),
        "the message is routed through NATS and Redis over TLS"
    );
    app.stop().await;

    // A CA file that does not exist is refused by the configuration check.
    let bad =
        "[nats]\nca_file = \"/nonexistent/ca.pem\"\n[redis]\nca_file = \"/nonexistent/ca.pem\"\n";
    let problems = switchboard::config::Loader::new()
        .without_env()
        .overlay(bad)
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        problems.contains("nats.ca_file") && problems.contains("redis.ca_file"),
        "{problems}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
