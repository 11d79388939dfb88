//! Tests of `sender.rs`, over HTTP against the fake WeChat API in
//! `sender_fake_api.rs`.

use std::net::SocketAddr;

use axum::http::Method;
use chrono::Utc;
use switchboard_core::Channel;

use super::*;

#[path = "sender_fake_api.rs"]
mod fake_api;
use fake_api::{reply, start, start_cut, Cut, OK};

const SECRET: &str = "s3cr3t-app-secret";
const TOKEN: &str = "ACCESS_TOKEN_abc123";
const OPENID: &str = "oyORnuP8q7ou2gfYjqLzSIWZf0rs";

fn options(addr: SocketAddr) -> ApiOptions {
    ApiOptions {
        // The trailing slash is tolerated.
        api_base: format!("http://{addr}/"),
        app_id: "wx2c2769f8efd9abc2".into(),
        app_secret: SecretString::from(SECRET),
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
        channel: Channel::Wechat,
        account: "shop".into(),
        to: OPENID.into(),
        text: "您好，退款已处理 \"refund\" done".into(),
        media_urls: Vec::new(),
        agent: Some("alice".into()),
        automated: None,
        created_at: Utc::now(),
    }
}

fn permanent_code(e: &SendError) -> Option<&str> {
    match e {
        SendError::Permanent { code, .. } => code.as_deref(),
        SendError::Retryable { .. } => None,
    }
}

#[tokio::test]
async fn token_fetch_parses_the_answer() {
    let (fake, addr) = start(vec![reply(
        200,
        r#"{"access_token":"ACCESS_TOKEN_abc123","expires_in":7200}"#,
    )])
    .await;
    let api = WechatApi::new(options(addr)).unwrap();
    let token = api.fetch_access_token().await.unwrap();
    assert_eq!(token.token.expose_secret(), TOKEN);
    assert_eq!(token.expires_in, Duration::from_secs(7200));
    assert!(!format!("{token:?}").contains(TOKEN));

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, Method::GET);
    assert_eq!(r.path, "/cgi-bin/token");
    assert_eq!(r.param("grant_type"), Some("client_credential"));
    assert_eq!(r.param("appid"), Some("wx2c2769f8efd9abc2"));
    assert_eq!(r.param("secret"), Some(SECRET));
}

#[tokio::test]
async fn token_fetch_errcode_is_permanent_and_secret_free() {
    let (fake, addr) = start(vec![reply(
        200,
        r#"{"errcode":40125,"errmsg":"invalid appsecret s3cr3t-app-secret rid: 1"}"#,
    )])
    .await;
    let err = WechatApi::new(options(addr))
        .unwrap()
        .fetch_access_token()
        .await
        .unwrap_err();
    assert_eq!(permanent_code(&err), Some("40125"));
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn token_fetch_retries_5xx_and_busy() {
    let (fake, addr) = start(vec![
        reply(502, "bad gateway"),
        reply(200, r#"{"errcode":-1,"errmsg":"system error"}"#),
        reply(200, r#"{"access_token":"t2","expires_in":7000}"#),
    ])
    .await;
    let token = WechatApi::new(options(addr))
        .unwrap()
        .fetch_access_token()
        .await
        .unwrap();
    assert_eq!(token.token.expose_secret(), "t2");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn token_fetch_retries_an_unreadable_answer() {
    // A token fetch is a GET: repeating it is safe, unlike a send.
    let (fake, addr) = start(vec![
        reply(200, "<html>maintenance</html>"),
        reply(200, r#"{"access_token":"t3","expires_in":7200}"#),
    ])
    .await;
    let token = WechatApi::new(options(addr))
        .unwrap()
        .fetch_access_token()
        .await
        .unwrap();
    assert_eq!(token.token.expose_secret(), "t3");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn sends_the_customer_service_json() {
    let (fake, addr) = start(vec![]).await;
    let api = WechatApi::new(options(addr)).unwrap();
    let msg = message();
    let receipt = api.send_text(TOKEN, &msg).await.unwrap();
    assert_eq!(receipt.provider_message_id, msg.id);
    assert_eq!(receipt.status, "sent");

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/cgi-bin/message/custom/send");
    assert_eq!(r.param("access_token"), Some(TOKEN));
    assert_eq!(
        r.json(),
        serde_json::json!({"touser": OPENID, "msgtype": "text", "text": {"content": msg.text}})
    );
}

#[tokio::test]
async fn media_urls_are_appended_as_links() {
    let (fake, addr) = start(vec![]).await;
    let mut msg = message();
    msg.media_urls = vec![
        "https://cdn.example.com/a.jpg".into(),
        "https://cdn.example.com/b.pdf".into(),
    ];
    WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &msg)
        .await
        .unwrap();
    let content = fake.requests()[0].json()["text"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        content,
        format!(
            "{}\nhttps://cdn.example.com/a.jpg\nhttps://cdn.example.com/b.pdf",
            msg.text
        )
    );
}

#[tokio::test]
async fn invalid_token_errcodes_ask_for_a_refresh() {
    for code in [40001, 40014, 42001] {
        let body = format!(
            r#"{{"errcode":{code},"errmsg":"invalid credential, access_token is invalid or not latest"}}"#
        );
        let (fake, addr) = start(vec![reply(200, &body)]).await;
        let err = WechatApi::new(options(addr))
            .unwrap()
            .send_text(TOKEN, &message())
            .await
            .unwrap_err();
        assert!(
            matches!(err, WechatSendError::TokenExpired),
            "{code}: {err:?}"
        );
        assert_eq!(
            fake.requests().len(),
            1,
            "a stale token is not retried in the call"
        );
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (fake, addr) = start(vec![reply(500, "oops"), reply(200, OK)]).await;
    let receipt = WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap();
    assert_eq!(receipt.status, "sent");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn out_of_window_is_permanent_with_its_code() {
    let body = format!(
        r#"{{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled hint: [{OPENID}]"}}"#
    );
    let (fake, addr) = start(vec![reply(200, &body)]).await;
    let err = WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap_err();
    let WechatSendError::Send(SendError::Permanent {
        status,
        code,
        reason,
    }) = err
    else {
        panic!("expected Permanent, got {err:?}");
    };
    assert_eq!(status, 200);
    assert_eq!(code.as_deref(), Some("45015"));
    assert!(reason.contains("out of time limit"), "{reason}");
    assert!(!reason.contains(OPENID), "the OpenID is scrubbed: {reason}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn attempts_run_out_as_retryable() {
    let (fake, addr) = start(vec![
        reply(503, ""),
        reply(503, ""),
        reply(503, ""),
        reply(200, OK),
    ])
    .await;
    let err = WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, WechatSendError::Send(SendError::Retryable { .. })),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn unreadable_success_is_sent_once() {
    // A 200 that is not WeChat's JSON: ambiguous, counted as sent.
    let (fake, addr) = start(vec![reply(200, "<html>gateway</html>")]).await;
    let receipt = WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap();
    assert_eq!(receipt.provider_message_id, message().id);
    assert_eq!(receipt.status, "unconfirmed");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_success_whose_body_stalls_is_sent_once() {
    // 200 and the start of the JSON, then nothing until the request timeout.
    let (count, addr) = start_cut(200, r#"{"errcode":"#, Cut::Stall).await;
    let mut opts = options(addr);
    opts.request_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let receipt = WechatApi::new(opts)
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap();
    assert_eq!(receipt.status, "unconfirmed");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_success_whose_body_breaks_off_is_sent_once() {
    let (count, addr) = start_cut(200, r#"{"errcode":0,"#, Cut::Drop).await;
    let receipt = WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap();
    assert_eq!(receipt.status, "unconfirmed");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_answer_whose_body_stalls_is_fetched_again() {
    // Unlike a send, a token fetch is safe to repeat.
    let (count, addr) = start_cut(200, r#"{"access_token":"#, Cut::Stall).await;
    let mut opts = options(addr);
    opts.request_timeout = Duration::from_millis(200);
    opts.max_attempts = 2;
    let err = WechatApi::new(opts).unwrap().fetch_access_token().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_errors_are_permanent() {
    let (fake, addr) = start(vec![reply(404, "not found")]).await;
    let err = WechatApi::new(options(addr))
        .unwrap()
        .send_text(TOKEN, &message())
        .await
        .unwrap_err();
    let WechatSendError::Send(e @ SendError::Permanent { status: 404, .. }) = err else {
        panic!("expected Permanent 404, got {err:?}");
    };
    assert!(!e.is_retryable());
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn connection_errors_are_retryable_and_url_free() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = WechatApi::new(options(addr)).unwrap();
    let err = api.send_text(TOKEN, &message()).await.unwrap_err();
    assert!(
        matches!(err, WechatSendError::Send(SendError::Retryable { .. })),
        "{err:?}"
    );
    assert!(!err.to_string().contains(TOKEN), "{err}");
    let err = api.fetch_access_token().await.unwrap_err();
    assert!(err.is_retryable());
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[test]
fn options_are_validated() {
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let bad = |change: fn(&mut ApiOptions)| {
        let mut o = options(addr);
        change(&mut o);
        matches!(WechatApi::new(o), Err(WechatError::Config(_)))
    };
    assert!(WechatApi::new(options(addr)).is_ok());
    assert!(bad(|o| o.api_base = "ftp://example.com".into()));
    assert!(bad(|o| o.api_base = "not a url".into()));
    assert!(bad(|o| o.app_id = " ".into()));
    assert!(bad(|o| o.app_secret = SecretString::from("")));
    assert!(bad(|o| o.max_attempts = 0));
    assert!(bad(|o| o.request_timeout = Duration::ZERO));
}

#[tokio::test]
async fn media_ids_are_sent_as_their_own_message_type() {
    let (fake, addr) = start(vec![]).await;
    let api = WechatApi::new(options(addr)).unwrap();
    let mut msg = message();
    msg.media_ids = vec![switchboard_core::MediaRef { kind: "voice".into(), media_id: "MEDIA_1".into() }];
    api.send_text(TOKEN, &msg).await.unwrap();
    let requests = fake.requests();
    assert_eq!(
        requests[0].json(),
        serde_json::json!({"touser": OPENID, "msgtype": "voice", "voice": {"media_id": "MEDIA_1"}})
    );
}
