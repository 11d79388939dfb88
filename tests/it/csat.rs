//! The satisfaction survey (`[csat]`) end to end: after a resolve the
//! customer is asked on their channel; on SMS a reply that is only a
//! score is recorded on the conversation (API, `rated` event, metrics)
//! and is not a message, anything else reopens as before; by email the
//! signed links record one score, once, and forged, reused and expired
//! links are refused with nothing changed.

use std::time::Duration;

use serde_json::Value;

use crate::support::{admin_get as get, sms, wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const LINK_SECRET: &str = "csat-link-secret-for-tests";

fn config(twilio: &FakePeer, hook: &FakePeer, extra: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4, email = 4 }}
        [sla]
        supervisors = [ {{ kind = "webhook", url = "{hook}/supervisors", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        [csat]
        enabled = true
        delay_secs = 0
        alert_at_or_below = 2
        link_secret = "{LINK_SECRET}"
        question = {{ en = "How did we do? Reply 1 to 5.", zh = "请打分 1-5" }}
        {extra}
        "#,
        twilio = twilio.base(),
        hook = hook.base(),
    )
}

async fn conversation(app: &TestApp, id: &str) -> Value {
    get(app, &format!("/api/v1/conversations/{id}")).await
}

/// The id of alice's conversation with `address`, once routed.
async fn alices_conversation(app: &TestApp, address: &str) -> String {
    wait_until(WAIT, || async {
        let v = get(app, "/api/v1/agents/alice/conversations").await;
        v["conversations"].as_array()?.iter().find(|c| c["address"] == address).and_then(|c| c["id"].as_str()).map(str::to_owned)
    })
    .await
    .expect("alice has the conversation")
}

async fn resolve(app: &TestApp, id: &str) {
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{id}/resolve")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// The bodies the fake Twilio received for `to`.
fn texts_to(twilio: &FakePeer, to: &str) -> Vec<String> {
    twilio.seen().iter().filter(|r| r.form_value("To").as_deref() == Some(to)).filter_map(|r| r.form_value("Body")).collect()
}

async fn wait_question(twilio: &FakePeer, to: &str) {
    wait_until(WAIT, || {
        let texts = texts_to(twilio, to);
        async move { texts.iter().any(|t| t.contains("How did we do")).then_some(()) }
    })
    .await
    .expect("the satisfaction question reached the customer");
}

fn inbound_count(conv: &Value) -> usize {
    conv["messages"].as_array().map_or(0, |m| m.iter().filter(|m| m["direction"] == "inbound").count())
}

#[tokio::test]
async fn csat_on_sms_records_a_score_and_a_non_score_reopens() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook, "")).await;

    // One customer answers with a full-width score: recorded, not a message.
    sms(&app, "SMcsat0000000000000000000000001", "+14155550101", "Where is my order?").await;
    let first = alices_conversation(&app, "+14155550101").await;
    resolve(&app, &first).await;
    wait_question(&twilio, "+14155550101").await;
    assert_eq!(texts_to(&twilio, "+14155550101").len(), 1, "asked once");
    sms(&app, "SMcsat0000000000000000000000002", "+14155550101", "２").await;
    let rated = wait_until(WAIT, || async {
        let c = conversation(&app, &first).await;
        c["conversation"]["csat"]["score"].is_number().then_some(c)
    })
    .await
    .expect("the score is on the conversation");
    assert_eq!(rated["conversation"]["csat"]["score"], 2);
    assert!(rated["conversation"]["csat"]["at"].is_string(), "{rated}");
    assert_eq!(rated["conversation"]["state"], "resolved", "a score does not reopen: {rated}");
    assert_eq!(inbound_count(&rated), 1, "the score is not a message: {rated}");
    assert_eq!(rated["conversation"]["reopen_count"], 0);

    // The `rated` event, to the supervisors too (2 <= alert_at_or_below).
    let event = hook.wait_event(|e| e["type"] == "switchboard.conversation.rated").await;
    assert_eq!(event["data"]["score"], 2);
    assert_eq!(event["data"]["conversation_id"], first.as_str());
    assert_eq!(event["data"]["agent"], "alice");
    assert_eq!(event["data"]["supervisors"], true);
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"switchboard_csat_ratings_total{queue="general",agent="alice",score="2"} 1"#),
        "{}",
        metrics.lines().filter(|l| l.contains("csat")).collect::<Vec<_>>().join("\n")
    );

    // In the reports: alice's row around this hour.
    let hour = |offset: i64| (chrono::Utc::now() + chrono::Duration::hours(offset)).format("%Y-%m-%dT%H:00:00Z").to_string();
    let (from, to) = (hour(-1), hour(1));
    let path = format!("/api/v1/reports/summary?from={from}&to={to}&group_by=agent");
    let csat = wait_until(WAIT, || async {
        let report = get(&app, &path).await;
        let row = report["rows"].as_array()?.iter().find(|r| r["group"] == "alice")?.clone();
        (row["csat"]["responses"] == 1).then_some(row["csat"].clone())
    })
    .await
    .expect("the score reaches the reports");
    assert_eq!(csat["average"], 2.0, "{csat}");

    // A second score is a message like any other: it reopens, the first score stays.
    sms(&app, "SMcsat0000000000000000000000003", "+14155550101", "5").await;
    let reopened = wait_until(WAIT, || async {
        let c = conversation(&app, &first).await;
        (c["conversation"]["reopen_count"] == 1).then_some(c)
    })
    .await
    .expect("a second answer reopens");
    assert_eq!(reopened["conversation"]["csat"]["score"], 2, "never rated twice: {reopened}");
    assert_eq!(inbound_count(&reopened), 2);

    // Another customer answers with words: a message, it reopens, no score.
    sms(&app, "SMcsat0000000000000000000000004", "+14155550102", "Refund please").await;
    let second = alices_conversation(&app, "+14155550102").await;
    resolve(&app, &second).await;
    wait_question(&twilio, "+14155550102").await;
    sms(&app, "SMcsat0000000000000000000000005", "+14155550102", "It still has not arrived").await;
    let reopened = wait_until(WAIT, || async {
        let c = conversation(&app, &second).await;
        (c["conversation"]["reopen_count"] == 1).then_some(c)
    })
    .await
    .expect("a non-score reopens the conversation");
    assert!(reopened["conversation"]["csat"].is_null(), "{reopened}");
    assert_ne!(reopened["conversation"]["state"], "resolved");
    assert_eq!(inbound_count(&reopened), 2);
    app.stop().await;
}

const MAIL: &str = "From: Li Wei <li.wei@customer.example>\r\nTo: support@shop.example\r\nSubject: Order 1234\r\nMessage-ID: <csat-1@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is order 1234?\r\n";
const RAW_TOKEN: &str = "mta-shared-secret-0123";

/// The survey links in the question kept in the thread, by score.
fn links(conv: &Value) -> Vec<(u8, String)> {
    let question = conv["messages"].as_array().unwrap().iter().rev().find(|m| m["direction"] == "outbound").unwrap();
    question["text"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (head, url) = l.split_once(": http")?;
            let score = head.rsplit(' ').next()?.parse().ok()?;
            Some((score, format!("http{url}")))
        })
        .collect()
}

#[tokio::test]
async fn csat_by_email_link_records_once_and_refuses_forged_reused_and_expired_links() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let (smtp, mails) = crate::email::fake_smtp().await;
    let email = format!(
        "[channels.email.support]\naddress = \"support@shop.example\"\nsmtp_url = \"smtp://127.0.0.1:{smtp}\"\nraw_mime_token = \"{RAW_TOKEN}\"\n"
    );
    let app = TestApp::spawn_ready(&config(&twilio, &hook, &email)).await;
    let r = reqwest::Client::new()
        .post(app.url("/webhooks/email/support"))
        .header("content-type", "message/rfc822")
        .header("x-switchboard-mail-token", RAW_TOKEN)
        .body(MAIL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = alices_conversation(&app, "li.wei@customer.example").await;
    resolve(&app, &id).await;
    wait_until(WAIT, || {
        let n = mails.lock().unwrap().len();
        async move { (n >= 1).then_some(()) }
    })
    .await
    .expect("the survey mail at the relay");
    let conv = conversation(&app, &id).await;
    let links = links(&conv);
    assert_eq!(links.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![5, 4, 3, 2, 1], "{conv}");
    let link = |score: u8| links.iter().find(|(s, _)| *s == score).unwrap().1.clone();
    let client = reqwest::Client::new();
    let open = |url: String| {
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let html = r.headers()["content-type"].to_str().unwrap().starts_with("text/html");
            assert!(html, "a page for the customer's browser");
            status
        }
    };

    // Forged: another key, or an altered token.
    let round = chrono::DateTime::parse_from_rfc3339(conv["conversation"]["resolved_at"].as_str().unwrap()).unwrap().timestamp_millis();
    let claims = |score, expires| switchboard::csat::token::Claims { conversation: id.clone(), round, score, expires };
    let far = chrono::Utc::now().timestamp() + 3600;
    let forged = switchboard::csat::token::sign(b"not-our-key", &claims(5, far));
    assert_eq!(open(app.url(&format!("/csat/{forged}"))).await, 404);
    let mut altered = link(5);
    altered.insert(altered.len() - 3, 'x');
    assert_eq!(open(altered).await, 404);
    // Expired: signed with our key, past its expiry.
    let expired = switchboard::csat::token::sign(LINK_SECRET.as_bytes(), &claims(5, chrono::Utc::now().timestamp() - 1));
    assert_eq!(open(app.url(&format!("/csat/{expired}"))).await, 410);
    assert!(conversation(&app, &id).await["conversation"]["csat"].is_null(), "nothing changed");

    // One click records the score; the same link again, or another, is refused.
    assert_eq!(open(link(4)).await, 200);
    let rated = conversation(&app, &id).await;
    assert_eq!(rated["conversation"]["csat"]["score"], 4, "{rated}");
    assert_eq!(rated["conversation"]["state"], "resolved");
    assert_eq!(open(link(4)).await, 409);
    assert_eq!(open(link(1)).await, 409);
    assert_eq!(conversation(&app, &id).await["conversation"]["csat"]["score"], 4, "still the first score");
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"switchboard_csat_ratings_total{queue="general",agent="alice",score="4"} 1"#), "counted once");
    assert!(!hook.events().iter().any(|e| e["type"] == "switchboard.conversation.rated"), "4 is above alert_at_or_below");
    app.stop().await;
}
