//! Token scoping over the whole API, route by route from the router's own
//! table: without a token every `/api/v1` route answers 401; with another
//! agent's token every route about alice or her conversation, and every
//! admin route, answers 403 (the watchers' routes 401: an agent's token is
//! not a watcher's); with alice's own token her routes answer
//! something other than 401/403, and a malformed body is a 4xx with the
//! error shape, never a 5xx.

use serde_json::Value;

use crate::support::{sms, TestApp};

#[tokio::test]
async fn every_api_route_checks_whose_token_it_is() {
    let app = TestApp::spawn_ready(
        r#"
        [server]
        admin_token = "admin-secret"
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
        "#,
    )
    .await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let client = reqwest::Client::new();
    let conv = crate::support::wait_until(std::time::Duration::from_secs(15), || {
        let req = client.get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            v["conversations"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("alice has the conversation");
    let api: Vec<(&str, String)> = switchboard::http::ROUTES
        .iter()
        .filter(|(_, path)| path.starts_with("/api/v1/"))
        .map(|(method, path)| {
            let path = path
                .replace("{agent}", "alice")
                .replace("{id}", if path.contains("customers") || path.contains("dead-letters") { "c-1" } else { &conv })
                .replace("{kind}", "agents")
                .replace("{name}", "alice");
            // The listing is alice's through its `agent` filter (bob's own,
            // unfiltered listing is checked below).
            let path = if path == "/api/v1/conversations" { format!("{path}?agent=alice") } else { path };
            (*method, path)
        })
        .collect();
    assert!(api.len() >= 20, "{api:?}");
    let send = |method: &str, path: &str, token: Option<&str>, body: &str| {
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut req = client.request(method, app.url(path)).header("content-type", "application/json").body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (method, path) in &api {
        let (status, body) = send(method, path, None, "{}").await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
        let (status, body) = send(method, path, Some("not-a-token"), "{}").await;
        assert_eq!(status, 401, "{method} {path} with an unknown token: {body}");
        // The watchers' routes (the supervisor's view, the reports) take
        // the admin or supervisor token only: an agent's is 401, as unknown.
        let watchers = path.starts_with("/api/v1/supervisor/") || path.starts_with("/api/v1/reports/");
        let (status, body) = send(method, path, Some("bob-token"), "{}").await;
        assert_eq!(status, if watchers { 401 } else { 403 }, "{method} {path} with bob's token: {body}");
        if watchers {
            let (status, body) = send(method, path, Some("alice-token"), "{}").await;
            assert_eq!(status, 401, "{method} {path} with alice's token: {body}");
            continue;
        }
        let admin_only = path.contains("/admin/") || path.contains("/customers/");
        let (status, body) = send(method, path, Some("alice-token"), "{\"text\": ").await;
        if admin_only {
            assert_eq!(status, 403, "{method} {path} with alice's token: {body}");
        } else {
            assert!(![401, 403].contains(&status), "{method} {path} refused alice: {status} {body}");
            assert!(status < 500, "{method} {path} with a malformed body: {status} {body}");
        }
    }
    // Unfiltered, bob's token lists only bob's conversations: none of alice's.
    let (status, body) = send("get", "/api/v1/conversations", Some("bob-token"), "").await;
    assert_eq!((status, body["conversations"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
    app.stop().await;
}
