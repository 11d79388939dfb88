//! Ids out of their format never reach the store: on every `/api/v1` route
//! with an id or a name in its path, `<a real conversation id>:messages`
//! (a Redis key of another type), `../x`, a 300-character id and the like
//! answer 400 or 404 in the error shape, never a 5xx; so do the SMS status
//! callback's `outbound` and the bodies that name agents and queues.

use serde_json::Value;

use crate::support::{sms, twilio_signature, TestApp, TWILIO_TOKEN};

#[tokio::test]
async fn malformed_ids_are_4xx_on_every_route() {
    let app = TestApp::spawn_ready(&format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 2 }}
        "#
    ))
    .await;
    sms(&app, "SMids1", "+14155550001", "hello").await;
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
    let long = "A".repeat(300);
    let bad: Vec<String> = vec![
        format!("{conv}:messages"),
        format!("{conv}:delivered"),
        conv.to_lowercase(),
        "..%2Fx".into(),
        "%2E%2E%2F%2E%2E%2Fx".into(),
        "a%7Cb".into(),
        "%7Bt%7D".into(),
        "%0A".into(),
        long,
    ];
    let mut tried = 0;
    for (method, path) in switchboard::http::ROUTES.iter().filter(|(_, p)| p.starts_with("/api/v1/") && p.contains('{')) {
        let placeholders: Vec<&str> = ["{agent}", "{id}", "{name}"].into_iter().filter(|p| path.contains(p)).collect();
        for placeholder in placeholders {
            for id in &bad {
                let path = path.replace(placeholder, id).replace("{agent}", "alice").replace("{id}", &conv).replace("{kind}", "agents").replace("{name}", "alice");
                for token in ["admin-secret", "alice-token"] {
                    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                    let body = r#"{"text": "hi", "status": "available", "on": true, "queue": "general"}"#;
                    let resp = client
                        .request(method.clone(), app.url(&path))
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap();
                    assert!((400..500).contains(&status), "{method} {path} ({token}): {status} {text}");
                    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: {text}"));
                    assert!(v["error"]["code"].is_string(), "{method} {path}: {text}");
                    tried += 1;
                }
            }
        }
    }
    assert!(tried > 200, "{tried}");
    // The conversation itself is still there, and the reported case is 404.
    for token in ["admin-secret", "alice-token"] {
        let ok = client.get(app.url(&format!("/api/v1/conversations/{conv}"))).bearer_auth(token).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let path = format!("/api/v1/conversations/{conv}:messages");
        let r = client.get(app.url(&path)).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // Agents and queues named in a body.
    for body in [r#"{"agent": "../x"}"#, r#"{"queue": "general:waiting:sms"}"#] {
        let r = client
            .post(app.url(&format!("/api/v1/conversations/{conv}/transfer")))
            .bearer_auth("admin-secret")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    // The SMS status callback's `outbound`, signed as Twilio would.
    for outbound in [format!("{conv}:x"), "A".repeat(300), "x".into()] {
        let url = app.url(&format!("/webhooks/sms/shop/status?outbound={outbound}"));
        let params = [("MessageSid", "SMids2"), ("MessageStatus", "delivered")];
        let r = client
            .post(&url)
            .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url, &params))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::support::form(&params))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{outbound}");
    }
    app.stop().await;
}
