//! Every route's real answers validated against the served `/openapi.json`
//! by an independent validator: the answers are recorded here and handed
//! to `tests/peers/openapi_check.py` (jsonschema and openapi-spec-validator
//! from PyPI), which fails on any status or body the document does not
//! describe.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{sms, wait_until, TestApp};

const CONFIG: &str = r#"
    [server]
    admin_token = "admin-secret"
    [channels.webchat]
    session_secret = "a-session-secret-of-32-bytes!!!!"
    [channels.email.support]
    address = "support@shop.example"
    mailgun_signing_key = "mailgun-key"
    [channels.sms.shop]
    account_sid = "AC0123456789abcdef0123456789abcdef"
    auth_token = "twilio-test-token"
    from = "+15005550006"
    api_base = "http://127.0.0.1:9"
    [agents.alice]
    token = "alice-token"
    capacity = { sms = 2 }
    [agents.bob]
    token = "bob-token"
    capacity = { sms = 0 }
    [queues.returns]
    skills = { returns = 1 }
"#;

/// Runs the independent validator on `dir/openapi.json` and `dir/records`:
/// whether every answer conforms, and its report.
fn validate(dir: &std::path::Path, records: &str) -> (bool, String) {
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/openapi_check.sh"))
        .arg(dir.join("openapi.json"))
        .arg(dir.join(records))
        .output()
        .expect("run the OpenAPI validator (python3)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

/// One answer: the operation it came from and what it was.
struct Record {
    method: Method,
    route: &'static str,
    status: u16,
    content_type: String,
    body: Value,
}

struct Exerciser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    records: Vec<Record>,
}

impl Exerciser<'_> {
    /// Sends `method path` for the operation `route` and records the answer.
    async fn call(&mut self, method: Method, route: &'static str, path: &str, token: Option<&str>, body: Option<(&str, String)>) -> Value {
        let mut req = self.client.request(method.clone(), self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((ct, b)) = body {
            req = req.header("content-type", ct).body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = resp.text().await.unwrap();
        let body = if content_type.starts_with("application/json") {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"))
        } else {
            Value::Null
        };
        self.records.push(Record { method, route, status, content_type, body: body.clone() });
        body
    }

    /// Opens an event stream and records its answer's head (the body never ends).
    async fn stream(&mut self, route: &'static str, path: &str, token: &str) {
        let resp = self.client.get(self.app.url(path)).bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        self.records.push(Record { method: Method::GET, route, status, content_type, body: Value::Null });
    }

    async fn json(&mut self, method: Method, route: &'static str, path: &str, token: &str, body: Value) -> Value {
        self.call(method, route, path, Some(token), Some(("application/json", body.to_string()))).await
    }
}

#[tokio::test]
async fn every_route_answers_what_the_document_describes() {
    let app = TestApp::spawn_ready(CONFIG).await;
    sms(&app, "SMconf0001", "+14155550001", "hello").await;
    let client = reqwest::Client::new();
    let conv = wait_until(std::time::Duration::from_secs(15), || {
        let req = client.get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            v["conversations"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("alice has the conversation");
    let mut x = Exerciser { app: &app, client, records: Vec::new() };
    let (admin, alice) = ("admin-secret", "alice-token");
    let c = |suffix: &str| format!("/api/v1/conversations/{conv}{suffix}");

    // Probes, the document, the web chat's static routes and sessions.
    let statics = ["/healthz", "/readyz", "/readyz/intake", "/metrics", "/openapi.json"];
    for route in statics.into_iter().chain(["/webchat/widget.js", "/webchat/", "/dashboard", "/dashboard/app.js"]) {
        x.call(Method::GET, route, route, None, None).await;
    }
    x.call(Method::GET, "/csat/{token}", "/csat/not-a-token", None, None).await;
    x.call(Method::POST, "/webchat/sessions", "/webchat/sessions", None, Some(("application/json", "{}".into()))).await;
    x.call(Method::OPTIONS, "/webchat/sessions", "/webchat/sessions", None, None).await;
    x.call(Method::GET, "/webchat/ws", "/webchat/ws?token=nope", None, None).await;
    // Webhooks without their providers' signatures (refused, in the documented shape).
    x.call(Method::POST, "/webhooks/sms/{account}", "/webhooks/sms/shop", None, Some(("application/x-www-form-urlencoded", "From=%2B1".into()))).await;
    x.call(Method::POST, "/webhooks/sms/{account}/status", "/webhooks/sms/shop/status", None, Some(("application/x-www-form-urlencoded", "MessageSid=SM1".into()))).await;
    x.call(Method::POST, "/webhooks/email/{account}", "/webhooks/email/support", None, Some(("application/x-www-form-urlencoded", "token=x".into()))).await;
    x.call(Method::GET, "/webhooks/wechat/{account}", "/webhooks/wechat/none?signature=x&timestamp=1&nonce=n&echostr=e", None, None).await;
    x.call(Method::POST, "/webhooks/wechat/{account}", "/webhooks/wechat/none?signature=x&timestamp=1&nonce=n", None, Some(("text/xml", "<xml/>".into()))).await;
    x.call(Method::POST, "/integrations/slack/interactivity", "/integrations/slack/interactivity", None, Some(("application/x-www-form-urlencoded", "payload=%7B%7D".into()))).await;
    x.call(Method::POST, "/integrations/slack/commands", "/integrations/slack/commands", None, Some(("application/x-www-form-urlencoded", "command=%2Fswitchboard&text=away&user_id=U0".into()))).await;
    x.call(Method::POST, "/integrations/slack/events", "/integrations/slack/events", None, Some(("application/json", "{\"type\":\"url_verification\",\"challenge\":\"c\"}".into()))).await;

    // The agent API, on alice's conversation.
    let page = x.call(Method::GET, "/api/v1/conversations", "/api/v1/conversations?state=assigned&channel=sms&limit=10", Some(admin), None).await;
    assert_eq!(page["conversations"][0]["id"], json!(conv), "{page}");
    x.call(Method::GET, "/api/v1/conversations", "/api/v1/conversations", Some(alice), None).await;
    x.call(Method::GET, "/api/v1/conversations", "/api/v1/conversations?agent=alice", Some("bob-token"), None).await;
    for bad in ["cursor=zz", "limit=0", "limit=201", "state=lost", "colour=blue"] {
        let field = bad.split('=').next().unwrap();
        let e = x.call(Method::GET, "/api/v1/conversations", &format!("/api/v1/conversations?{bad}"), Some(admin), None).await;
        assert!(e["error"]["message"].as_str().unwrap_or("").contains(field), "{bad}: {e}");
    }
    x.call(Method::GET, "/api/v1/agents/{agent}/conversations", "/api/v1/agents/alice/conversations", Some(alice), None).await;
    x.call(Method::GET, "/api/v1/agents/{agent}/conversations", "/api/v1/agents/nobody/conversations", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/conversations/{id}", &c(""), Some(alice), None).await;
    x.call(Method::GET, "/api/v1/conversations/{id}", &c(""), Some("bob-token"), None).await;
    x.call(Method::GET, "/api/v1/conversations/{id}", "/api/v1/conversations/nope", None, None).await;
    x.json(Method::POST, "/api/v1/conversations/{id}/notes", &c("/notes"), alice, json!({"text": "a note"})).await;
    x.json(Method::POST, "/api/v1/conversations/{id}/notes", &c("/notes"), alice, json!({"text": ""})).await;
    x.json(Method::POST, "/api/v1/conversations/{id}/typing", &c("/typing"), alice, json!({"on": true})).await;
    x.json(Method::POST, "/api/v1/conversations/{id}/reply", &c("/reply"), alice, json!({"text": "hi there"})).await;
    x.json(Method::POST, "/api/v1/conversations/{id}/transfer", &c("/transfer"), alice, json!({"agent": "bob"})).await;
    x.json(Method::POST, "/api/v1/conversations/{id}/transfer", &c("/transfer"), alice, json!({})).await;
    x.call(Method::POST, "/api/v1/conversations/{id}/accept", &c("/accept"), Some(alice), None).await;
    x.call(Method::POST, "/api/v1/conversations/{id}/decline", &c("/decline"), Some("bob-token"), None).await;
    let detail = x.call(Method::GET, "/api/v1/conversations/{id}", &c(""), Some(admin), None).await;
    assert_eq!(detail["messages"].as_array().map(Vec::len), Some(3), "message, note, reply: {detail}");
    x.call(Method::POST, "/api/v1/conversations/{id}/resolve", &c("/resolve"), Some(alice), None).await;
    x.call(Method::POST, "/api/v1/conversations/{id}/resolve", &c("/resolve"), Some(alice), None).await;
    x.json(Method::PUT, "/api/v1/agents/{agent}/status", "/api/v1/agents/alice/status", alice, json!({"status": "away"})).await;
    x.json(Method::PUT, "/api/v1/agents/{agent}/status", "/api/v1/agents/alice/status", alice, json!({"status": "asleep"})).await;

    // Admin routes.
    let customer = json!({"identities": [{"kind": "phone", "value": "+14155550001"}], "attributes": {"tier": "vip", "tags": ["a"]}});
    x.json(Method::PUT, "/api/v1/customers/{id}", "/api/v1/customers/c-1", admin, customer.clone()).await;
    x.json(Method::PUT, "/api/v1/customers/{id}", "/api/v1/customers/c-1", admin, customer).await;
    let profile = x.call(Method::GET, "/api/v1/customers/{id}", "/api/v1/customers/c-1", Some(admin), None).await;
    assert_eq!(profile["identities"][0], json!({"kind": "phone", "value": "+14155550001"}), "{profile}");
    x.call(Method::GET, "/api/v1/customers/{id}", "/api/v1/customers/c-2", Some(admin), None).await;
    x.call(Method::POST, "/api/v1/admin/reload", "/api/v1/admin/reload", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/admin/dead-letters", "/api/v1/admin/dead-letters", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/admin/dead-letters", "/api/v1/admin/dead-letters?limit=5000", Some(admin), None).await;
    x.call(Method::DELETE, "/api/v1/admin/dead-letters/{id}", "/api/v1/admin/dead-letters/none", Some(admin), None).await;
    x.call(Method::POST, "/api/v1/admin/dead-letters/{id}/replay", "/api/v1/admin/dead-letters/none/replay", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/admin/stats", "/api/v1/admin/stats", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/admin/stats", "/api/v1/admin/stats", Some(alice), None).await;
    x.call(Method::GET, "/api/v1/admin/agents", "/api/v1/admin/agents", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/admin/queues", "/api/v1/admin/queues", Some(admin), None).await;
    x.json(Method::PUT, "/api/v1/admin/{kind}/{name}", "/api/v1/admin/queues/extra", admin, json!({"priority": 1})).await;
    x.call(Method::DELETE, "/api/v1/admin/{kind}/{name}", "/api/v1/admin/queues/extra", Some(admin), None).await;

    // The reports (the admin token here; the supervisor token is tested
    // in tests/it/reports.rs), once the conversation's events are counted.
    let counted = wait_until(std::time::Duration::from_secs(15), || {
        let req = x.client.get(app.url("/api/v1/reports/summary?group_by=queue")).bearer_auth(admin).send();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            (v["rows"][0]["resolved"] == json!(1)).then_some(())
        }
    })
    .await;
    assert!(counted.is_some(), "the reports count the resolve");
    let report = x.call(Method::GET, "/api/v1/reports/summary", "/api/v1/reports/summary?group_by=queue", Some(admin), None).await;
    assert_eq!(report["rows"][0]["conversations"], json!(1), "{report}");
    x.call(Method::GET, "/api/v1/reports/summary", "/api/v1/reports/summary?group_by=hour&format=csv", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/reports/summary", "/api/v1/reports/summary?group_by=week", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/reports/summary", "/api/v1/reports/summary", Some(alice), None).await;
    // The supervisor's view (the admin token watches; an agent's does not).
    x.call(Method::GET, "/api/v1/supervisor/snapshot", "/api/v1/supervisor/snapshot", Some(admin), None).await;
    x.call(Method::GET, "/api/v1/supervisor/snapshot", "/api/v1/supervisor/snapshot", Some(alice), None).await;
    x.call(Method::GET, "/api/v1/supervisor/stream", "/api/v1/supervisor/stream", Some(alice), None).await;
    x.stream("/api/v1/supervisor/stream", "/api/v1/supervisor/stream", admin).await;

    // The data-protection routes: the export of customer c-1 (who wrote the
    // SMS), then its erase, twice (the second removes nothing).
    let export = x.call(Method::GET, "/api/v1/customers/{id}/export", "/api/v1/customers/c-1/export", Some(admin), None).await;
    assert_eq!(export["conversations"].as_array().map(Vec::len), Some(1), "{export}");
    x.call(Method::GET, "/api/v1/customers/{id}/export", "/api/v1/customers/c-2/export", Some(admin), None).await;
    let receipt = x.call(Method::DELETE, "/api/v1/customers/{id}", "/api/v1/customers/c-1", Some(admin), None).await;
    assert_eq!(receipt["removed"]["conversations"], json!(1), "{receipt}");
    x.call(Method::DELETE, "/api/v1/customers/{id}", "/api/v1/customers/c-1", Some(admin), None).await;

    // Every route was exercised.
    let exercised: BTreeSet<(String, String)> =
        x.records.iter().map(|r| (r.method.as_str().to_ascii_lowercase(), r.route.to_owned())).collect();
    let missing: Vec<_> = switchboard::http::ROUTES
        .iter()
        .filter(|(m, p)| !exercised.contains(&((*m).to_owned(), (*p).to_owned())))
        .collect();
    assert!(missing.is_empty(), "routes not exercised: {missing:?}");

    let dir = std::env::temp_dir().join(format!("switchboard-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = x.call(Method::GET, "/openapi.json", "/openapi.json", None, None).await;
    std::fs::write(dir.join("openapi.json"), doc.to_string()).unwrap();
    // Kept for generating a client without a running daemon (README).
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/target/openapi.json"), doc.to_string()).unwrap();
    let lines: Vec<String> = x
        .records
        .iter()
        .map(|r| json!({"method": r.method.as_str(), "route": r.route, "status": r.status, "content_type": r.content_type, "body": r.body}).to_string())
        .collect();
    std::fs::write(dir.join("records.jsonl"), lines.join("\n")).unwrap();
    app.stop().await;
    let (ok, report) = validate(&dir, "records.jsonl");
    assert!(ok, "answers deviate from /openapi.json:\n{report}");
    assert!(report.contains(" 0 deviations"), "{report}");

    // The validator is not lenient: a conversation in an undocumented state
    // and a priority as a string (the old raw shape) are caught.
    let mut wrong = detail.clone();
    wrong["conversation"]["state"] = json!("lost");
    wrong["conversation"]["priority"] = json!("0");
    let record = json!({"method": "GET", "route": "/api/v1/conversations/{id}", "status": 200, "content_type": "application/json", "body": wrong});
    std::fs::write(dir.join("wrong.jsonl"), record.to_string()).unwrap();
    let (ok, report) = validate(&dir, "wrong.jsonl");
    assert!(!ok && report.contains("state") && report.contains("priority"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /api/v1/conversations` pages through every conversation once, in
/// id order, with an opaque cursor; an agent sees only its own.
#[tokio::test]
async fn the_conversation_list_pages_without_repeats_or_gaps() {
    let app = TestApp::spawn_ready(CONFIG).await;
    for i in 1..=5 {
        sms(&app, &format!("SMpage000{i}"), &format!("+1415555010{i}"), "hello").await;
    }
    let client = reqwest::Client::new();
    let list = |query: String, token: &'static str| {
        let req = client.get(app.url(&format!("/api/v1/conversations?{query}"))).bearer_auth(token).send();
        async move { req.await.unwrap().json::<Value>().await.unwrap() }
    };
    let all = wait_until(std::time::Duration::from_secs(15), || async {
        let v = list("limit=200".into(), "admin-secret").await;
        (v["conversations"].as_array()?.len() == 5).then_some(v)
    })
    .await
    .expect("five conversations");
    let expected: Vec<String> = all["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(expected, sorted, "id order");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".into(),
        };
        let page = list(query, "admin-secret").await;
        seen.extend(page["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every conversation once, in order");
    // Alice (capacity 2) has two; her token lists exactly those.
    let mine = list("limit=200".into(), "alice-token").await;
    let mine = mine["conversations"].as_array().unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.iter().all(|c| c["agent"] == "alice"));
    let queued = list("state=queued".into(), "admin-secret").await;
    assert_eq!(queued["conversations"].as_array().unwrap().len(), 3);
    app.stop().await;
}
