//! Secrets and tokens given at run time (issue 15, defects 5 and 6): admin
//! API entries take inline secrets only, secret files come from the
//! configuration as bounded regular files, and every bearer token belongs
//! to one principal.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::config::Loader;

use crate::support::TestApp;

const CONFIG: &str = r#"
[server]
admin_token = "admin-secret"
[agents.alice]
token = "alice-token"
capacity = { sms = 1 }
"#;

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().put(app.url(path)).bearer_auth("admin-secret").json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admin_api_entries_cannot_name_files_or_reuse_tokens() {
    let app = TestApp::spawn_ready(CONFIG).await;
    // `/etc/hostname` became a working token before.
    for (body, field) in [
        (json!({"token_file": "/etc/hostname", "capacity": {"sms": 1}}), "agents.bob.token_file"),
        (json!({"token_file": "/no/such/file"}), "agents.bob.token_file"),
        (
            json!({"token": "bob-token", "deliver": [{"kind": "webhook", "url": "http://127.0.0.1:9/h", "secret_file": "/dev/zero"}]}),
            "agents.bob.deliver[0].secret_file",
        ),
    ] {
        let started = Instant::now();
        let (status, answer) = put(&app, "/api/v1/admin/agents/bob", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(started.elapsed() < Duration::from_secs(2), "the file was read");
        let text = answer.to_string();
        assert!(text.contains(field), "{text}");
        // Whether the path exists is not told.
        assert!(!text.contains("No such file") && !text.contains("cannot read"), "{text}");
    }
    let (status, _) =
        put(&app, "/api/v1/admin/queues/q1", json!({"priority": 1, "x_file": "/etc/hostname"})).await;
    assert_eq!(status, 422);

    // alice's token or the admin token given to another agent: 422 naming
    // both owners, never the token.
    for (token, owner) in [("alice-token", "agents.alice.token"), ("admin-secret", "server.admin_token")] {
        let (status, answer) = put(&app, "/api/v1/admin/agents/aaa", json!({"token": token, "capacity": {"sms": 1}})).await;
        assert_eq!(status, 422, "{answer}");
        let problems = answer["error"]["problems"].to_string();
        assert!(problems.contains("agents.aaa.token") && problems.contains(owner), "{problems}");
        assert!(!problems.contains(token), "the token leaked: {problems}");
    }
    // alice still acts as herself.
    let r = reqwest::Client::new().get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, answer) = put(&app, "/api/v1/admin/agents/aaa", json!({"token": "aaa-token", "capacity": {"sms": 1}})).await;
    assert_eq!(status, 201, "{answer}");

    // An entry stored with a file key before this check is refused at
    // reload, not read.
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{}}}:runtime", app.prefix))
        .arg("agents.old")
        .arg("[agents.old]\ntoken_file = \"/etc/hostname\"\n")
        .query_async(&mut c)
        .await
        .unwrap();
    let r = reqwest::Client::new().post(app.url("/api/v1/admin/reload")).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(r.status(), 422);
    let answer: Value = r.json().await.unwrap();
    assert!(answer.to_string().contains("agents.old.token_file"), "{answer}");
    app.stop().await;
}

fn load(toml: &str) -> Result<switchboard::config::Settings, String> {
    Loader::new().without_env().overlay(toml.to_owned()).load().map_err(|p| p.to_string())
}

#[tokio::test]
async fn secret_files_are_bounded_regular_files() {
    let dir = std::env::temp_dir().join(crate::support::unique_prefix());
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let big = dir.join("big");
    std::fs::write(&big, vec![b'a'; 65 * 1024]).unwrap();
    let good = dir.join("good");
    std::fs::write(&good, "file-token\n").unwrap();
    let agent = |path: &std::path::Path| format!("[agents.a]\ntoken_file = \"{}\"\n", path.display());

    // A FIFO hung the request before; /dev/zero was read until OOM.
    let started = Instant::now();
    let fifo_err = tokio::task::spawn_blocking({
        let toml = agent(&fifo);
        move || load(&toml)
    });
    let fifo_err = tokio::time::timeout(Duration::from_secs(5), fifo_err).await.expect("a FIFO must not hang").unwrap().unwrap_err();
    assert!(fifo_err.contains("agents.a.token_file") && fifo_err.contains("not a regular file"), "{fifo_err}");
    for (path, why) in [
        (std::path::PathBuf::from("/dev/zero"), "not a regular file"),
        (dir.clone(), "not a regular file"),
        (big.clone(), "larger than 65536"),
    ] {
        let err = load(&agent(&path)).unwrap_err();
        assert!(err.contains(why), "{path:?}: {err}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let settings = load(&agent(&good)).unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(settings.agents["a"].token.as_ref().unwrap().expose_secret(), "file-token");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_config_refuses_duplicate_tokens_naming_both_owners() {
    let err = load(
        "[server]\nadmin_token = \"shared-token\"\n[agents.a]\ntoken = \"shared-token\"\n[agents.b]\ntoken = \"bee\"\n[agents.c]\ntoken = \"bee \"\n",
    )
    .unwrap_err();
    assert!(err.contains("agents.a.token: is the same token as `server.admin_token`"), "{err}");
    assert!(err.contains("agents.c.token: is the same token as `agents.b.token`"), "{err}");
    assert!(!err.contains("shared-token") && !err.contains("bee"), "{err}");
}
