//! Delivery to the chat robots of WeCom, DingTalk and Feishu, against local
//! fakes of their webhook endpoints that check the credential in the URL
//! and recompute the signature from the shared secret with their own HMAC
//! code (the published schemes, not the daemon's functions), refusing a
//! wrong one with the provider's error code; their rate-limit answers; the
//! shared rate limit across replicas; and the configuration checks.

mod fake;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::support::{sms, wait_until, TestApp};
use fake::{FakeRobot, Kind, DING_SECRET, DING_TOKEN, FEISHU_HOOK, FEISHU_SECRET, WECOM_KEY};

/// The target TOML of a fake, with `secret` (DingTalk, Feishu) or `key`
/// (WeCom) as given and `extra` keys.
fn target(kind: Kind, base: &str, credential: &str, extra: &str) -> String {
    match kind {
        Kind::Wecom => format!(r#"{{ kind = "wecom", url = "{base}/cgi-bin/webhook/send?key={credential}"{extra} }}"#),
        Kind::Dingtalk => {
            format!(r#"{{ kind = "dingtalk", url = "{base}/robot/send?access_token={DING_TOKEN}", secret = "{credential}"{extra} }}"#)
        }
        Kind::Feishu => format!(r#"{{ kind = "feishu", url = "{base}/open-apis/bot/v2/hook/{FEISHU_HOOK}", secret = "{credential}"{extra} }}"#),
    }
}

fn config(queue_targets: &[String]) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [nats]
        max_deliver = 3
        [delivery]
        max_attempts = 3
        base_delay_ms = 50
        max_delay_ms = 2000
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [queues.general]
        deliver = [ {} ]
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 50 }}
        "#,
        crate::support::TWILIO_TOKEN,
        queue_targets.join(", ")
    )
}

/// The card's text, whatever the provider's shape.
fn card_text(body: &Value) -> String {
    body.to_string()
}

#[tokio::test]
async fn each_robot_gets_a_signed_card_with_the_masked_customer_in_its_language() {
    let wecom = FakeRobot::start(Kind::Wecom, vec![]).await;
    let ding = FakeRobot::start(Kind::Dingtalk, vec![]).await;
    let feishu = FakeRobot::start(Kind::Feishu, vec![]).await;
    let targets = [
        target(Kind::Wecom, &wecom.base, WECOM_KEY, r#", language = "en""#),
        target(Kind::Dingtalk, &ding.base, DING_SECRET, ""),
        target(Kind::Feishu, &feishu.base, FEISHU_SECRET, r#", language = "zh""#),
    ];
    let app = TestApp::spawn_ready(&config(&targets)).await;
    sms(&app, "SM1", "+14155550001", "我的订单 *在哪里* [link](https://evil.example)?").await;
    for (robot, zh) in [(&wecom, false), (&ding, true), (&feishu, true)] {
        let got = robot.wait_accepted(1, Duration::from_secs(15)).await;
        let text = card_text(&got[0].body);
        assert!(!text.contains("+14155550001"), "the customer is masked: {text}");
        assert!(text.contains(r"+1415\\*\\*\\*\\*001"), "masked as in the logs (markdown-escaped): {text}");
        assert!(text.contains(&app.url("/api/v1/conversations/")), "links to the conversation: {text}");
        assert!(text.contains(&app.url("/dashboard")), "{text}");
        assert!(!text.contains("](https://evil.example)"), "customer text cannot add links: {text}");
        if zh {
            assert!(text.contains("客户") && text.contains("短信") && text.contains("general"), "{text}");
        } else {
            assert!(text.contains("Customer") && !text.contains("客户"), "{text}");
        }
    }
    assert!(robot_refusals(&[&wecom, &ding, &feishu]) == 0, "every request was well signed");
    let d = &ding.accepted()[0].body;
    assert_eq!(d["msgtype"], "actionCard");
    assert!(d["actionCard"]["btns"].as_array().is_some_and(|b| b.len() == 2));
    let f = &feishu.accepted()[0].body;
    assert_eq!(f["msg_type"], "interactive");
    app.stop().await;
}

fn robot_refusals(robots: &[&FakeRobot]) -> usize {
    robots.iter().map(|r| r.received().iter().filter(|x| !x.accepted).count()).sum()
}

#[tokio::test]
async fn a_permanent_refusal_disables_the_robot_with_an_event_and_nothing_more_is_sent() {
    let wecom = FakeRobot::start(Kind::Wecom, vec![]).await;
    let ding = FakeRobot::start(Kind::Dingtalk, vec![]).await;
    let feishu = FakeRobot::start(Kind::Feishu, vec![]).await;
    // Wrong key and secrets: each fake refuses with its provider's code.
    let targets = [
        target(Kind::Wecom, &wecom.base, "not-the-key", ""),
        target(Kind::Dingtalk, &ding.base, "SECnot-the-secret", ""),
        target(Kind::Feishu, &feishu.base, "not-the-secret", ""),
    ];
    let app = TestApp::spawn_ready(&config(&targets)).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut events = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    sms(&app, "SM1", "+14155550001", "hello").await;
    let mut reasons = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while reasons.len() < 3 {
            let e: Value = serde_json::from_slice(&events.next().await.unwrap().payload).unwrap();
            if e["type"] == "switchboard.delivery.disabled" {
                reasons.push(e["data"]["reason"].as_str().unwrap().to_owned());
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("three delivery.disabled events, got {reasons:?}"));
    reasons.sort();
    assert!(reasons[0].starts_with("dingtalk target queue:general#1") && reasons[0].contains("310000"), "{reasons:?}");
    assert!(reasons[1].starts_with("feishu target queue:general#2") && reasons[1].contains("19021"), "{reasons:?}");
    assert!(reasons[2].starts_with("wecom target queue:general#0") && reasons[2].contains("93000"), "{reasons:?}");
    for r in &reasons {
        assert!(!r.contains("not-the-") && !r.contains(DING_TOKEN), "no credential in the event: {r}");
    }
    // More events: the disabled robots get nothing more.
    sms(&app, "SM2", "+14155550002", "hello again").await;
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e: Value = serde_json::from_slice(&events.next().await.unwrap().payload).unwrap();
            if e["data"]["customer"]["address"] == "+14155550002" {
                return;
            }
        }
    })
    .await
    .expect("the second conversation's events");
    // Its delivery (to nothing) takes milliseconds; give it a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for robot in [&wecom, &ding, &feishu] {
        let got = robot.received();
        assert_eq!(got.len(), 1, "one refused request, then nothing: {got:?}");
        assert!(!got[0].accepted);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limit_answer_is_retried_and_delivered() {
    let ding = FakeRobot::start(Kind::Dingtalk, vec![json!({ "errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute" })]).await;
    let feishu = FakeRobot::start(Kind::Feishu, vec![json!({ "code": 11232, "msg": "frequency limited psm" })]).await;
    let wecom = FakeRobot::start(Kind::Wecom, vec![json!({ "errcode": 45009, "errmsg": "api freq out of limit" })]).await;
    let targets = [
        target(Kind::Dingtalk, &ding.base, DING_SECRET, ""),
        target(Kind::Feishu, &feishu.base, FEISHU_SECRET, ""),
        target(Kind::Wecom, &wecom.base, WECOM_KEY, ""),
    ];
    let app = TestApp::spawn_ready(&config(&targets)).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    for robot in [&ding, &feishu, &wecom] {
        robot.wait_accepted(1, Duration::from_secs(15)).await;
        let got = robot.received();
        assert!(!got[0].accepted, "the first answer was the rate limit");
        assert_eq!(got[0].body["card"], got[1].body["card"], "the same card again");
        assert_eq!(got[0].body["markdown"], got[1].body["markdown"]);
        assert_eq!(got[0].body["actionCard"], got[1].body["actionCard"]);
    }
    let client = reqwest::Client::new();
    let letters: Value =
        client.get(app.url("/api/v1/admin/dead-letters")).bearer_auth("admin-secret").send().await.unwrap().json().await.unwrap();
    assert_eq!(letters["total"], 0, "nothing dead-lettered: {letters}");
    app.stop().await;
}

#[tokio::test]
async fn the_shared_rate_limit_delays_sends_across_replicas_and_drops_none() {
    let ding = FakeRobot::start(Kind::Dingtalk, vec![]).await;
    // 3 messages per 2 s, for the test (the default is DingTalk's 20 a minute).
    let targets = [target(Kind::Dingtalk, &ding.base, DING_SECRET, ", rate_limit = 3, rate_window_secs = 2")];
    let config = config(&targets);
    let prefix = crate::support::unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let sends = (0..8).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move { sms(app, &format!("SM{i}"), &format!("+1415555{:04}", 100 + i), &format!("message {i}")).await }
    });
    futures::future::join_all(sends).await;
    // Every conversation's events arrive (none dropped), however slowly.
    let got = wait_until(Duration::from_secs(40), || {
        let got = ding.accepted();
        let conversations: std::collections::BTreeSet<String> = got
            .iter()
            .filter_map(|r| r.body["actionCard"]["btns"][0]["actionURL"].as_str().map(str::to_owned))
            .collect();
        async move { (conversations.len() >= 8).then_some(got) }
    })
    .await
    .unwrap_or_else(|| panic!("every conversation reached the robot: {:?}", ding.received().len()));
    assert_eq!(robot_refusals(&[&ding]), 0);
    // Never more than 3 in any 2 s, whichever replica sent them.
    let times: Vec<Instant> = ding.received().iter().map(|r| r.at).collect();
    for w in times.windows(4) {
        let span = w[3].duration_since(w[0]);
        assert!(span >= Duration::from_millis(1800), "4 sends within {span:?}");
    }
    assert!(got.len() >= 8);
    let first_to_last = times.last().unwrap().duration_since(times[0]);
    assert!(first_to_last >= Duration::from_secs(4), "8+ sends at 3 per 2 s take 4 s at least: {first_to_last:?}");
    let client = reqwest::Client::new();
    let letters: Value =
        client.get(a.url("/api/v1/admin/dead-letters")).bearer_auth("admin-secret").send().await.unwrap().json().await.unwrap();
    assert_eq!(letters["total"], 0, "delayed, not dead-lettered: {letters}");
    let mut waits = 0;
    for app in [&a, &b] {
        let text = client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        waits += text
            .lines()
            .find(|l| l.starts_with(r#"switchboard_robot_rate_waits_total{stage="dingtalk"}"#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    assert!(waits >= 5, "the sends past the first 3 waited for a slot: {waits}");
    a.stop().await;
    b.stop().await;
}

fn load(toml: &str) -> Result<switchboard::config::Settings, String> {
    switchboard::config::Loader::new().without_env().overlay(toml.to_owned()).load().map_err(|p| p.to_string())
}

#[test]
fn check_config_refuses_plain_http_and_unsigned_robots_and_prints_no_credential() {
    let bad = r#"
        [queues.general]
        deliver = [
          { kind = "wecom", url = "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=leaky-wecom-key" },
          { kind = "dingtalk", url = "https://oapi.dingtalk.com/robot/send?access_token=leaky-ding-token" },
          { kind = "feishu", url = "https://open.feishu.cn/open-apis/bot/v2/hook/leaky-hook", language = "fr" },
          { kind = "dingtalk", url = "https://oapi.dingtalk.com/robot/send?access_token=t", secret = "SECleaky-secret", rate_limit = 0 },
        ]
        [sla]
        supervisors = [ { kind = "feishu", url = "ftp://open.feishu.cn/hook", secret = "leaky-sup-secret" } ]
    "#;
    let err = load(bad).unwrap_err();
    for key in [
        "queues.general.deliver[0].url: must be an https:// URL",
        "queues.general.deliver[1].secret: is required",
        "queues.general.deliver[2].secret: is required",
        "queues.general.deliver[2].language: must be `zh` or `en`",
        "queues.general.deliver[3].rate_limit:",
        "sla.supervisors[0].url: must be an https:// URL",
    ] {
        assert!(err.contains(key), "missing `{key}` in:\n{err}");
    }
    assert!(!err.contains("queues.general.deliver[3].secret"), "{err}");
    assert!(!err.contains("leaky"), "no URL or secret in the output:\n{err}");
    // Unsigned robots pass when the operator turns the requirement off; a
    // test's fake on 127.0.0.1 may be plain http.
    let ok = load(
        r#"
        [delivery]
        require_signed_bots = false
        [queues.general]
        deliver = [ { kind = "dingtalk", url = "http://127.0.0.1:9/robot/send?access_token=t" },
                    { kind = "feishu", url = "https://open.feishu.cn/open-apis/bot/v2/hook/x" } ]
        "#,
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    let settings = ok.unwrap();
    let printed = format!("{:?}", settings.queues["general"].deliver);
    assert!(!printed.contains("access_token=t"), "the URL prints redacted: {printed}");
}

#[tokio::test]
async fn undeliverable_robot_events_are_dead_lettered_and_replay_to_the_queues_robot() {
    // Feishu's 9499 (a bad request) dead-letters at once, the target stays;
    // DingTalk's rate limit, answered every time, is retried and then
    // dead-lettered after max_attempts × nats.max_deliver sends.
    let feishu = FakeRobot::start(Kind::Feishu, vec![json!({ "code": 9499, "msg": "Bad Request" })]).await;
    let limited = json!({ "errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute" });
    let ding = FakeRobot::start(Kind::Dingtalk, vec![limited; 9]).await;
    let targets = [target(Kind::Feishu, &feishu.base, FEISHU_SECRET, ""), target(Kind::Dingtalk, &ding.base, DING_SECRET, "")];
    let app = TestApp::spawn_ready(&config(&targets)).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let client = reqwest::Client::new();
    let list = || client.get(app.url("/api/v1/admin/dead-letters")).bearer_auth("admin-secret").send();
    let listed = wait_until(Duration::from_secs(40), || {
        let req = list();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            let letters = v["dead_letters"].as_array()?.clone();
            (letters.len() >= 2).then_some(letters)
        }
    })
    .await
    .expect("both deliveries dead-lettered");
    let by_kind = |kind: &str| listed.iter().find(|l| l["kind"] == kind).cloned().unwrap();
    let f = by_kind("feishu");
    assert_eq!(f["target"], "queue:general#0");
    assert!(f["reason"].as_str().unwrap().contains("9499"), "{f}");
    let d = by_kind("dingtalk");
    assert_eq!(d["target"], "queue:general#1");
    assert!(d["reason"].as_str().unwrap().contains("130101"), "{d}");
    assert_eq!(ding.received().len(), 9, "3 attempts in each of 3 deliveries, then given up");
    assert_eq!(feishu.received().len(), 1, "a bad request is not retried");
    // Replayed, the event reaches the robot (its answers are normal now).
    for letter in [&f, &d] {
        let id = letter["id"].as_str().unwrap();
        let r = client.post(app.url(&format!("/api/v1/admin/dead-letters/{id}/replay"))).bearer_auth("admin-secret").send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    assert_eq!(feishu.accepted().len(), 1);
    assert_eq!(ding.accepted().len(), 1);
    assert_eq!(feishu.accepted()[0].body["card"], feishu.received()[0].body["card"], "the same card");
    app.stop().await;
}
