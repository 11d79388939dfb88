//! Every error answer of the listener is the JSON error shape, framework
//! rejections included: query, path, JSON, multipart and upgrade
//! rejections, oversize bodies (413), 405 (with `Allow`), unknown routes and
//! the request timeout's 503.

use reqwest::{Method, Response};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{form, twilio_signature, TestApp, TWILIO_TOKEN};

const ADMIN: &str = "admin-secret";
const ALICE: &str = "alice-token";

fn config(extra: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "{ADMIN}"
        max_body_bytes = 4096
        [channels.webchat]
        session_secret = "a-session-secret-of-32-bytes!!!!"
        [channels.email.support]
        address = "support@shop.example"
        mailgun_signing_key = "mailgun-key"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        [agents.alice]
        token = "{ALICE}"
        capacity = {{ sms = 2 }}
        {extra}
        "#
    )
}

/// The status and the `error` object, which must be there.
async fn json_error(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{status} with content-type {ct:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    let error = body["error"].clone();
    assert!(error["code"].is_string() && error["message"].is_string(), "{status}: not the error shape: {text}");
    (status, error)
}

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<(&str, Vec<u8>)>) -> Response {
    let mut req = reqwest::Client::new().request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((ct, b)) = body {
        req = req.header("content-type", ct).body(b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn framework_rejections_are_json_errors() {
    let app = TestApp::spawn(&config("")).await;
    let get = |path: &'static str, token| call(&app, Method::GET, path, token, None);

    // Query: a bad value, an unknown field and an out-of-bounds limit, each naming the field.
    for (path, field) in [
        ("/api/v1/admin/dead-letters?limit=many", "limit"),
        ("/api/v1/admin/dead-letters?colour=blue", "colour"),
        ("/api/v1/admin/dead-letters?limit=1001", "limit"),
        ("/api/v1/admin/dead-letters?limit=0", "limit"),
    ] {
        let (status, e) = json_error(get(path, Some(ADMIN)).await).await;
        assert_eq!((status, e["code"].as_str()), (400, Some("invalid_request")), "{path}");
        assert!(e["message"].as_str().unwrap().contains(field), "{path}: {e}");
    }
    let (status, _) = json_error(call(&app, Method::POST, "/webhooks/sms/shop/status?outbound=%FF%FE", None, None).await).await;
    assert!(status == 400 || status == 403, "{status}");
    // Path: a segment that is not UTF-8.
    let (status, e) = json_error(get("/api/v1/conversations/%FF%FE", Some(ALICE)).await).await;
    assert_eq!((status, e["code"].as_str()), (400, Some("invalid_request")));
    assert!(e["message"].as_str().unwrap().contains("`id`"), "{e}");
    // Bad JSON (syntax, then a bad value), and JSON without its content type.
    let bad = call(&app, Method::PUT, "/api/v1/agents/alice/status", Some(ALICE), Some(("application/json", b"{".to_vec())));
    let (status, e) = json_error(bad.await).await;
    assert_eq!(status, 400);
    assert!(e["message"].as_str().unwrap().contains("`body`"), "{e}");
    let bad = call(&app, Method::PUT, "/api/v1/agents/alice/status", Some(ALICE), Some(("application/json", br#"{"status": "asleep"}"#.to_vec())));
    let (status, e) = json_error(bad.await).await;
    assert_eq!(status, 400);
    assert!(e["message"].as_str().unwrap().contains("status"), "{e}");
    let untyped = call(&app, Method::PUT, "/api/v1/agents/alice/status", Some(ALICE), Some(("text/plain", b"{}".to_vec())));
    assert_eq!(json_error(untyped.await).await.0, 415);
    // Oversize bodies: 413 on the API, a webhook and web chat.
    let big = vec![b'a'; 5000];
    for (method, path) in [
        (Method::PUT, "/api/v1/agents/alice/status"),
        (Method::POST, "/api/v1/conversations/01JZ0000000000000000000000/reply"),
        (Method::POST, "/webhooks/sms/shop"),
        (Method::POST, "/webchat/sessions"),
    ] {
        let resp = call(&app, method, path, Some(ALICE), Some(("application/json", big.clone()))).await;
        let (status, e) = json_error(resp).await;
        assert_eq!((status, e["code"].as_str()), (413, Some("too_large")), "{path}");
    }
    // ... also without a Content-Length (chunked).
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 3000, "b".repeat(3000));
    let head = "POST /webchat/sessions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    s.write_all(format!("{head}{chunk}{chunk}0\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = s.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("\"too_large\""), "{answer}");
    // Multipart without a boundary.
    let resp = call(&app, Method::POST, "/webhooks/email/support", None, Some(("multipart/form-data", b"x".to_vec()))).await;
    assert_eq!(json_error(resp).await.0, 400);
    // 405 with Allow, and unknown routes.
    let resp = call(&app, Method::DELETE, "/healthz", None, None).await;
    let allow = resp.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(allow.contains("GET"), "Allow: {allow:?}");
    let (status, e) = json_error(resp).await;
    assert_eq!((status, e["code"].as_str()), (405, Some("method_not_allowed")));
    let resp = call(&app, Method::POST, "/api/v1/conversations/01JZ0000000000000000000000", Some(ALICE), None).await;
    assert!(resp.headers().contains_key("allow"));
    assert_eq!(json_error(resp).await.0, 405);
    let (status, e) = json_error(get("/no/such/route", None).await).await;
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
    // The web chat socket without the upgrade headers.
    let session: Value = call(&app, Method::POST, "/webchat/sessions", None, Some(("application/json", b"{}".to_vec())))
        .await
        .json()
        .await
        .unwrap();
    let token = session["session_token"].as_str().unwrap();
    let resp = reqwest::Client::new().get(app.url(&format!("/webchat/ws?token={token}"))).send().await.unwrap();
    let (status, _) = json_error(resp).await;
    assert!((400..500).contains(&status), "{status}");
    // Webhooks still answer what their providers expect.
    let url = app.url("/webhooks/sms/shop");
    let params = [("MessageSid", "SMjson0001"), ("From", "+15551230001"), ("To", "+15005550006"), ("Body", "hi")];
    let resp = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url, &params))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<Response/>"));
    app.stop().await;
}

/// The request timeout's 503: an SMS whose publish waits on a NATS server
/// that never answers.
#[tokio::test]
async fn the_request_timeout_is_a_json_503() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nats = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let toml = config(&format!("[nats]\nurl = \"nats://{nats}\"\npublish_timeout_ms = 4000\n"))
        .replace("max_body_bytes = 4096", "max_body_bytes = 4096\nrequest_timeout_secs = 1\nbody_read_timeout_secs = 1");
    let app = TestApp::spawn(&toml).await;
    let url = app.url("/webhooks/sms/shop");
    let params = [("MessageSid", "SMtimeout01"), ("From", "+15551230002"), ("To", "+15005550006"), ("Body", "hi")];
    let resp = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url, &params))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&params))
        .send()
        .await
        .unwrap();
    let (status, e) = json_error(resp).await;
    assert_eq!((status, e["code"].as_str()), (503, Some("unavailable")));
    app.stop().await;
}
