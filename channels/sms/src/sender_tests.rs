//! Tests of `sender.rs`, over HTTP against the fake Messages API in
//! `sender_fake_api.rs`, and of its pure helpers.

use std::net::SocketAddr;
use std::time::Instant;

use base64::Engine as _;
use chrono::Utc;
use switchboard_core::Channel;

use super::*;

#[path = "sender_fake_api.rs"]
mod fake_api;
use fake_api::{reply, start, start_cut, Cut, Reply, CREATED};

fn options(addr: SocketAddr) -> SenderOptions {
    SenderOptions {
        // The trailing slash is tolerated.
        api_base: format!("http://{addr}/"),
        account_sid: "AC0123456789abcdef".into(),
        auth_token: SecretString::from("s3cr3t-token".to_string()),
        from: "+18005551212".into(),
        status_callback: Some("https://sb.example.com/webhooks/sms/main/status".into()),
        request_timeout: Duration::from_secs(5),
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

fn message() -> OutboundMessage {
    OutboundMessage {
        media_ids: vec![],
        id: "01HX0000000000000000000001".into(),
        conversation_id: "c1".into(),
        channel: Channel::Sms,
        account: "main".into(),
        to: "+14158675309".into(),
        text: "Your refund & return label: 退货 #42".into(),
        media_urls: Vec::new(),
        agent: Some("alice".into()),
        automated: None,
        created_at: Utc::now(),
    }
}

#[tokio::test]
async fn posts_the_form_with_basic_auth() {
    let (fake, addr) = start(vec![]).await;
    let sender = SmsSender::new(options(addr)).unwrap();
    let mut msg = message();
    msg.media_urls = vec![
        "https://cdn.example.com/a.jpg".into(),
        "https://cdn.example.com/b.png".into(),
    ];
    let receipt = sender.send(&msg).await.unwrap();
    assert_eq!(
        receipt.provider_message_id,
        "SM0123456789abcdef0123456789abcdef"
    );
    assert_eq!(receipt.status, "queued");

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        r.path,
        "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
    let expected =
        base64::engine::general_purpose::STANDARD.encode("AC0123456789abcdef:s3cr3t-token");
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.one("To"), Some("+14158675309"));
    assert_eq!(r.one("From"), Some("+18005551212"));
    assert_eq!(r.one("Body"), Some("Your refund & return label: 退货 #42"));
    let callback = r.one("StatusCallback").unwrap();
    assert!(callback.starts_with("https://sb.example.com/webhooks/sms/main/status?outbound="), "{callback}");
    assert!(callback.len() > "https://sb.example.com/webhooks/sms/main/status?outbound=".len());
    assert_eq!(
        r.all("MediaUrl"),
        [
            "https://cdn.example.com/a.jpg",
            "https://cdn.example.com/b.png"
        ]
    );
}

#[tokio::test]
async fn optional_fields_are_left_out() {
    let (fake, addr) = start(vec![]).await;
    let mut opts = options(addr);
    opts.status_callback = None;
    let sender = SmsSender::new(opts).unwrap();
    sender.send(&message()).await.unwrap();
    let mut media_only = message();
    media_only.text = String::new();
    media_only.media_urls = vec!["https://cdn.example.com/a.jpg".into()];
    sender.send(&media_only).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests[0].one("StatusCallback"), None);
    assert!(requests[0].all("MediaUrl").is_empty());
    assert_eq!(requests[1].one("Body"), None);
    assert_eq!(
        requests[1].all("MediaUrl"),
        ["https://cdn.example.com/a.jpg"]
    );
}

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let (fake, addr) = start(vec![reply(503, "oops")]).await;
    let sender = SmsSender::new(options(addr)).unwrap();
    let receipt = sender.send(&message()).await.unwrap();
    assert_eq!(receipt.status, "queued");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].form, requests[1].form,
        "the retry sends the same form"
    );
}

#[tokio::test]
async fn honours_retry_after_seconds() {
    let throttled = Reply {
        retry_after: Some("1"),
        ..reply(429, r#"{"code":20429,"message":"Too Many Requests"}"#)
    };
    let (fake, addr) = start(vec![throttled]).await;
    let mut opts = options(addr);
    opts.max_delay = Duration::from_secs(5);
    let sender = SmsSender::new(opts).unwrap();
    sender.send(&message()).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn retry_after_is_capped_by_max_delay_and_returned_uncapped() {
    let throttled = || Reply {
        retry_after: Some("30"),
        ..reply(429, "")
    };
    let (fake, addr) = start(vec![throttled(), throttled()]).await;
    let mut opts = options(addr);
    opts.max_attempts = 2;
    let sender = SmsSender::new(opts).unwrap();
    let started = Instant::now();
    let err = sender.send(&message()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        SendError::Retryable {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_400_is_permanent_and_not_retried() {
    let body = r#"{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
    let (fake, addr) = start(vec![reply(400, body)]).await;
    let sender = SmsSender::new(options(addr)).unwrap();
    match sender.send(&message()).await.unwrap_err() {
        SendError::Permanent {
            status,
            code,
            reason,
        } => {
            assert_eq!(status, 400);
            assert_eq!(code.as_deref(), Some("21211"));
            assert_eq!(reason, "Invalid 'To' Phone Number");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn error_text_hides_number_body_and_token() {
    let msg = message();
    let body = format!(
        r#"{{"code":"21610","message":"Attempt to send to unsubscribed recipient {} with {}"}}"#,
        msg.to, msg.text
    );
    let (_fake, addr) = start(vec![reply(400, &body), reply(401, "<html>no</html>")]).await;
    let sender = SmsSender::new(options(addr)).unwrap();
    let err = sender.send(&msg).await.unwrap_err();
    let shown = format!("{err} {err:?} {sender:?}");
    assert!(
        matches!(&err, SendError::Permanent { code: Some(c), .. } if c == "21610"),
        "{err:?}"
    );
    assert!(!shown.contains(&msg.to), "{shown}");
    assert!(shown.contains("+1415****309"), "{shown}");
    assert!(!shown.contains(&msg.text), "{shown}");
    assert!(!shown.contains("s3cr3t-token"), "{shown}");
    // A non-JSON error body still gives a usable reason.
    match sender.send(&msg).await.unwrap_err() {
        SendError::Permanent {
            status: 401,
            code: None,
            reason,
        } => assert!(reason.contains("401")),
        other => panic!("expected Permanent 401, got {other:?}"),
    }
}

#[tokio::test]
async fn all_500s_are_retryable_after_exactly_max_attempts() {
    let script = (0..10)
        .map(|_| reply(500, r#"{"code":20500,"message":"Internal"}"#))
        .collect();
    let (fake, addr) = start(script).await;
    let mut opts = options(addr);
    opts.max_attempts = 4;
    let sender = SmsSender::new(opts).unwrap();
    match sender.send(&message()).await.unwrap_err() {
        SendError::Retryable {
            reason,
            retry_after,
        } => {
            assert!(
                reason.contains("500") && reason.contains("20500"),
                "{reason}"
            );
            assert_eq!(retry_after, None);
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn accepted_without_sid_is_sent_once() {
    // The provider took the message: a retry would send it twice.
    let (fake, addr) = start(vec![reply(201, r#"{"status":"queued"}"#)]).await;
    let sender = SmsSender::new(options(addr)).unwrap();
    let receipt = sender.send(&message()).await.unwrap();
    assert_eq!(receipt.provider_message_id, "");
    assert_eq!(receipt.status, "unconfirmed");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn accepted_with_a_garbled_body_is_sent_once() {
    let (fake, addr) = start(vec![reply(201, "<html>proxy says hi</html>")]).await;
    let receipt = SmsSender::new(options(addr)).unwrap().send(&message()).await.unwrap();
    assert_eq!(receipt.provider_message_id, "");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn accepted_with_a_stalled_body_is_sent_once() {
    // 201 and the start of the JSON, then nothing until the request timeout.
    let (count, addr) = start_cut(201, r#"{"sid":"SM01"#, Cut::Stall).await;
    let mut opts = options(addr);
    opts.request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let receipt = SmsSender::new(opts).unwrap().send(&message()).await.unwrap();
    assert_eq!(receipt.provider_message_id, "");
    assert_eq!(receipt.status, "unconfirmed");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn accepted_with_a_dropped_body_is_sent_once() {
    let (count, addr) = start_cut(201, r#"{"sid":"SM01"#, Cut::Drop).await;
    let receipt = SmsSender::new(options(addr)).unwrap().send(&message()).await.unwrap();
    assert_eq!(receipt.provider_message_id, "");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_5xx_with_a_stalled_body_is_still_retried() {
    // Only a success status means the provider has the message.
    let (count, addr) = start_cut(503, "{", Cut::Stall).await;
    let mut opts = options(addr);
    opts.request_timeout = Duration::from_millis(200);
    opts.max_attempts = 2;
    let err = SmsSender::new(opts).unwrap().send(&message()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried() {
    let slow = || Reply {
        delay: Duration::from_secs(2),
        ..reply(201, CREATED)
    };
    let (fake, addr) = start(vec![slow(), slow()]).await;
    let mut opts = options(addr);
    opts.request_timeout = Duration::from_millis(200);
    opts.max_attempts = 2;
    let sender = SmsSender::new(opts).unwrap();
    let err = sender.send(&message()).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Retryable { reason, .. } if reason.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 2);

    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sender = SmsSender::new(options(closed)).unwrap();
    let err = sender.send(&message()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        !err.to_string().contains(&closed.port().to_string()),
        "no URL in {err}"
    );
}

#[test]
fn options_are_checked() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let bad: [fn(&mut SenderOptions); 6] = [
        |o| o.api_base = "ftp://api.example.com".into(),
        |o| o.api_base = "api.twilio.com".into(),
        |o| o.account_sid = "AC1/../x".into(),
        |o| o.from = " ".into(),
        |o| o.max_attempts = 0,
        |o| o.request_timeout = Duration::ZERO,
    ];
    for change in bad {
        let mut opts = options(addr);
        change(&mut opts);
        assert!(matches!(SmsSender::new(opts), Err(SmsError::Config(_))));
    }
    let mut opts = options(addr);
    opts.api_base = "https://api.twilio.com".into();
    let sender = SmsSender::new(opts).unwrap();
    assert_eq!(
        sender.messages_url,
        "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
}

#[test]
fn backoff_grows_with_jitter_and_respects_caps() {
    let mut opts = options("127.0.0.1:9".parse().unwrap());
    opts.base_delay = Duration::from_millis(100);
    opts.max_delay = Duration::from_millis(1000);
    let sender = SmsSender::new(opts).unwrap();
    for _ in 0..50 {
        let first = sender.backoff(1, None);
        assert!(
            (Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first),
            "{first:?}"
        );
        let third = sender.backoff(3, None);
        assert!(
            (Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third),
            "{third:?}"
        );
        assert!(sender.backoff(40, None) <= Duration::from_millis(1000));
        assert_eq!(
            sender.backoff(1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            sender.backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_millis(1000)
        );
    }
}

#[test]
fn retry_after_values() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(switchboard_core::retry::retry_after("1", now), Some(Duration::from_secs(1)));
    assert_eq!(
        switchboard_core::retry::retry_after(" 120 ", now),
        Some(Duration::from_secs(120))
    );
    let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(
        switchboard_core::retry::retry_after(&later, now),
        Some(Duration::from_secs(90))
    );
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
    assert_eq!(switchboard_core::retry::retry_after(&earlier, now), None);
    assert_eq!(switchboard_core::retry::retry_after("soon", now), None);
    assert_eq!(switchboard_core::retry::retry_after("-1", now), None);
    assert_eq!(switchboard_core::retry::retry_after("", now), None);
}
