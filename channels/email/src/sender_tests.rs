//! Tests of `sender.rs`, over TCP against the fake SMTP server in
//! `sender_fake_smtp.rs`, and of the message it builds.

use std::net::SocketAddr;

use chrono::{TimeZone, Utc};
use switchboard_core::Channel;

use super::*;
use crate::parse::{parse, ParseOptions};

#[path = "sender_fake_smtp.rs"]
mod fake_smtp;
use fake_smtp::{start, start_stalling_quit};

const OUT_ID: &str = "01HX0000000000000000000042";

fn options(url: String) -> SmtpOptions {
    SmtpOptions {
        smtp_url: SecretString::from(url),
        from: "Shop Support <support@shop.example>".into(),
        domain: "shop.example".into(),
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn local(addr: SocketAddr) -> SmtpOptions {
    options(format!("smtp://{addr}"))
}

fn message() -> OutboundMessage {
    OutboundMessage {
        media_ids: vec![],
        id: OUT_ID.into(),
        conversation_id: "c1".into(),
        channel: Channel::Email,
        account: "support".into(),
        to: "jane@customer.example".into(),
        text:
            "您好 Jane,\nyour refund for order #42 is on its way.\n.\nA line with a lone dot above."
                .into(),
        media_urls: Vec::new(),
        agent: Some("alice".into()),
        automated: None,
        created_at: Utc.timestamp_opt(1_700_000_000, 0).single().unwrap(),
    }
}

fn reply() -> ReplyHeaders {
    ReplyHeaders {
        in_reply_to: Some("<CAF1234@mail.customer.example>".into()),
        references: vec![
            "root@customer.example".into(),
            "<CAF1234@mail.customer.example>".into(),
        ],
        subject: "Where is my order?".into(),
        conversation_token: "01HXTOKEN".into(),
    }
}

/// Polls `probe` for up to 5 s; its last answer.
async fn wait_for(probe: impl Fn() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while !probe() && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    probe()
}

/// The Message-ID header of a recorded message.
fn message_id_header(data: &str) -> String {
    headers(data)
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .to_owned()
}

/// The header section with folded lines joined.
fn headers(data: &str) -> String {
    let head = data.split("\r\n\r\n").next().unwrap_or_default();
    head.replace("\r\n ", " ").replace("\r\n\t", " ")
}

fn has_header(data: &str, line: &str) -> bool {
    headers(data).split("\r\n").any(|l| l == line)
}

#[tokio::test]
async fn sends_a_threaded_reply() {
    let fake = start(vec![]).await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let receipt = sender.send(&message(), &reply()).await.unwrap();
    let our_id = format!("{OUT_ID}@shop.example");
    assert_eq!(receipt.provider_message_id, our_id);
    assert_eq!(receipt.status, "queued (250)");

    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.ehlo, "shop.example");
    assert_eq!(s.auth, None);
    assert_eq!(s.mail_from, "<support@shop.example>");
    assert_eq!(s.rcpt_to, ["<jane@customer.example>"]);
    // QUIT goes on after the receipt, in the background.
    let quit = wait_for(|| fake.sessions()[0].quit).await;
    assert!(quit, "the session ends with QUIT");
    let data = s.data.as_deref().unwrap();
    for line in [
        "From: \"Shop Support\" <support@shop.example>",
        "To: jane@customer.example",
        &format!("Message-ID: <{our_id}>"),
        "In-Reply-To: <CAF1234@mail.customer.example>",
        "References: <root@customer.example> <CAF1234@mail.customer.example>",
        "Reply-To: \"Shop Support\" <support+01HXTOKEN@shop.example>",
        "Subject: Re: Where is my order?",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(
            has_header(data, line),
            "missing `{line}` in:\n{}",
            headers(data)
        );
    }
    assert!(
        !headers(data).contains("Auto-Submitted"),
        "an agent's reply is not automatic"
    );

    // What was sent reads back as the same text and threading.
    let own = ParseOptions {
        max_attachment_bytes: 1,
        own_domains: vec![],
    };
    let back = parse("support", data.as_bytes(), &own, "x".into(), Utc::now()).unwrap();
    assert_eq!(back.full_text, message().text);
    assert_eq!(back.message_id.as_deref(), Some(our_id.as_str()));
    assert_eq!(
        back.in_reply_to.as_deref(),
        Some("CAF1234@mail.customer.example")
    );
    assert_eq!(
        back.references,
        ["root@customer.example", "CAF1234@mail.customer.example"]
    );
    assert_eq!(back.message.customer, "support@shop.example");
}

#[tokio::test]
async fn automatic_messages_are_marked_and_media_listed() {
    let fake = start(vec![]).await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let mut msg = message();
    msg.agent = None;
    msg.media_urls = vec!["https://cdn.shop.example/label.pdf".into()];
    let h = ReplyHeaders {
        conversation_token: String::new(),
        ..reply()
    };
    sender.send(&msg, &h).await.unwrap();
    let data = fake.sessions()[0].data.clone().unwrap();
    assert!(
        has_header(&data, "Auto-Submitted: auto-replied"),
        "{}",
        headers(&data)
    );
    assert!(
        !headers(&data)
            .split("\r\n")
            .any(|l| l.starts_with("Reply-To:")),
        "no token, no Reply-To"
    );
    // Our own parser sees it as automatic and as our own mail.
    let own = ParseOptions {
        max_attachment_bytes: 1,
        own_domains: vec!["shop.example".into()],
    };
    let back = parse("support", data.as_bytes(), &own, "x".into(), Utc::now()).unwrap();
    assert_eq!(back.auto.as_deref(), Some("auto-submitted: auto-replied"));
    assert!(back
        .full_text
        .ends_with("\n\nhttps://cdn.shop.example/label.pdf"));
}

#[tokio::test]
async fn credentials_come_from_the_url() {
    let fake = start(vec![]).await;
    let url = format!("smtp://mailer:p%40ss%3Aword@{}", fake.addr);
    let sender = SmtpSender::new(options(url)).unwrap();
    assert!(!format!("{sender:?}").contains("p@ss"));
    sender.send(&message(), &reply()).await.unwrap();
    assert_eq!(
        fake.sessions()[0].auth.as_deref(),
        Some("\0mailer\0p@ss:word")
    );
}

#[tokio::test]
async fn a_4xx_is_retried_then_retryable() {
    let fake = start(vec!["451 4.3.0 Mailbox temporarily unavailable"]).await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let e = sender.send(&message(), &reply()).await.unwrap_err();
    match &e {
        SendError::Retryable {
            reason,
            retry_after,
        } => {
            assert!(reason.contains("451"), "{reason}");
            assert_eq!(*retry_after, None);
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 3, "one session per attempt");
    assert!(sessions
        .iter()
        .all(|s| s.data.is_none() && s.rcpt_to.len() == 1));
}

#[tokio::test]
async fn a_4xx_then_success_sends_once() {
    let fake = start(vec!["451 4.7.1 Greylisted, try again", "250 2.1.5 OK"]).await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let receipt = sender.send(&message(), &reply()).await.unwrap();
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 2);
    assert!(sessions[0].data.is_none());
    let data = sessions[1].data.as_deref().unwrap();
    assert!(has_header(
        data,
        &format!("Message-ID: <{}>", receipt.provider_message_id)
    ));
}

#[tokio::test]
async fn a_5xx_is_permanent_with_the_code() {
    let fake = start(vec![
        "550 5.1.1 <jane@customer.example>: Recipient address rejected: User unknown",
    ])
    .await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let e = sender.send(&message(), &reply()).await.unwrap_err();
    match &e {
        SendError::Permanent {
            status,
            code,
            reason,
        } => {
            assert_eq!(*status, 550);
            assert_eq!(code.as_deref(), Some("550"));
            assert!(reason.contains("User unknown"), "{reason}");
            assert!(
                !reason.contains("jane@customer.example"),
                "address not masked: {reason}"
            );
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert_eq!(
        fake.sessions().len(),
        1,
        "a permanent refusal is not retried"
    );
}

#[tokio::test]
async fn an_unreachable_relay_is_retryable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sender = SmtpSender::new(local(addr)).unwrap();
    assert!(sender
        .send(&message(), &reply())
        .await
        .unwrap_err()
        .is_retryable());
}

#[tokio::test]
async fn a_bad_recipient_is_refused_before_connecting() {
    let fake = start(vec![]).await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let mut msg = message();
    msg.to = "not an address".into();
    match sender.send(&msg, &reply()).await.unwrap_err() {
        SendError::Permanent { status: 0, .. } => {}
        other => panic!("expected Permanent status 0, got {other:?}"),
    }
    assert!(fake.sessions().is_empty());
}

#[test]
fn build_shapes_the_headers() {
    let sender = SmtpSender::new(options("smtp://127.0.0.1:2525".into())).unwrap();
    // An id that is no dot-atom is hashed, the same way every time; refs
    // are bounded and de-duplicated.
    let mut msg = message();
    msg.id = "evt:01HX/assigned".into();
    let refs: Vec<String> = (0..40).map(|i| format!("<r{i}@x.example>")).collect();
    let h = ReplyHeaders {
        references: refs,
        in_reply_to: Some("r39@x.example".into()),
        ..reply()
    };
    let (email, id) = sender.build(&msg, &h).unwrap();
    let (left, domain) = id.split_once('@').unwrap();
    assert_eq!(domain, "shop.example");
    assert!(left.starts_with('h') && left.len() == 33, "{left}");
    assert_eq!(sender.build(&msg, &h).unwrap().1, id, "stable");
    let text = String::from_utf8(email.formatted()).unwrap();
    let refs_line = headers(&text)
        .split("\r\n")
        .find(|l| l.starts_with("References:"))
        .unwrap()
        .to_owned();
    assert_eq!(refs_line.matches('<').count(), MAX_REFERENCES);
    assert!(refs_line.starts_with("References: <r0@x.example> <r21@x.example>"));
    assert!(refs_line.ends_with("<r39@x.example>"));

    let bad_token = ReplyHeaders {
        conversation_token: "a b@c".into(),
        ..reply()
    };
    assert!(matches!(
        sender.build(&message(), &bad_token),
        Err(EmailError::Build(_))
    ));
}

#[tokio::test]
async fn a_resend_carries_the_same_message_id() {
    // A redelivered outbound message (the crash window) is sent again: the
    // receiving side recognises it by its Message-ID, derived from the
    // outbound id alone.
    let fake = start(vec![]).await;
    let sender = SmtpSender::new(local(fake.addr)).unwrap();
    let first = sender.send(&message(), &reply()).await.unwrap();
    let again = SmtpSender::new(local(fake.addr)).unwrap();
    let second = again.send(&message(), &reply()).await.unwrap();
    assert_eq!(first.provider_message_id, second.provider_message_id);
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 2);
    let ids: Vec<String> = sessions.iter().map(|s| message_id_header(s.data.as_deref().unwrap())).collect();
    assert_eq!(ids[0], format!("<{OUT_ID}@shop.example>"));
    assert_eq!(ids[0], ids[1]);

    // An agent's emailed answer has the outbound id `<inbound id>~reply`:
    // a dot-atom, kept as is so that a bounce names it.
    let mut msg = message();
    msg.id = format!("{OUT_ID}~reply");
    let (_, id) = sender.build(&msg, &reply()).unwrap();
    assert_eq!(id, format!("{OUT_ID}~reply@shop.example"));
}

#[tokio::test]
async fn an_accepted_message_is_not_resent_when_quit_stalls() {
    // The relay answers 250 to the data, then never answers QUIT: the
    // message is delivered, and the session timeout must not undo that.
    let fake = start_stalling_quit().await;
    let mut opts = local(fake.addr);
    opts.timeout = Duration::from_millis(400);
    let sender = SmtpSender::new(opts).unwrap();
    let started = std::time::Instant::now();
    let receipt = sender.send(&message(), &reply()).await.unwrap();
    assert!(receipt.status.starts_with("queued"), "{}", receipt.status);
    assert!(started.elapsed() < Duration::from_millis(400), "{:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1, "sent once");
    assert!(sessions[0].data.is_some());
}

#[test]
fn reply_subjects() {
    assert_eq!(reply_subject("Order", true), "Re: Order");
    assert_eq!(reply_subject("RE: Order", true), "RE: Order");
    assert_eq!(reply_subject("回复：订单", true), "回复：订单");
    assert_eq!(reply_subject("Order", false), "Order");
    assert_eq!(reply_subject("", true), "");
    assert_eq!(reply_subject("a\r\nBcc: x@y", true), "Re: a  Bcc: x@y");
}

#[test]
fn options_are_checked() {
    let ok = || options("smtp://127.0.0.1".into());
    assert!(SmtpSender::new(ok()).is_ok());
    for bad in [
        SmtpOptions {
            from: "nobody".into(),
            ..ok()
        },
        SmtpOptions {
            domain: "bad domain".into(),
            ..ok()
        },
        SmtpOptions {
            domain: String::new(),
            ..ok()
        },
        SmtpOptions {
            max_attempts: 0,
            ..ok()
        },
        SmtpOptions {
            timeout: Duration::ZERO,
            ..ok()
        },
        SmtpOptions {
            smtp_url: SecretString::from("https://x".to_string()),
            ..ok()
        },
    ] {
        assert!(matches!(SmtpSender::new(bad), Err(EmailError::Config(_))));
    }
    // TLS modes build without connecting.
    assert!(SmtpSender::new(options("smtps://u:p@mail.example".into())).is_ok());
    assert!(SmtpSender::new(options("smtp://u:p@mail.example:587".into())).is_ok());
}
