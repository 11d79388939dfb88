use std::time::Duration;

use chrono::TimeZone;
use secrecy::SecretString;
use serde_json::json;
use switchboard_core::RejectKind;

use super::*;
use crate::{SessionIssuer, ShopIdentity};

fn at(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap()
}

fn claims(identity: Option<&ShopIdentity>, name: Option<&str>) -> SessionClaims {
    let issuer = SessionIssuer::new(
        SecretString::from("frames-test-secret-0123456789".to_owned()),
        Duration::from_secs(60),
    )
    .unwrap();
    let session = issuer.issue(
        Some("v_01HF3ZK3RQ8V5M2XW7T0G9J6CE"),
        identity,
        name,
        at(1_700_000_000),
    );
    issuer.verify(&session.token, at(1_700_000_000)).unwrap()
}

fn message(client_id: &str, text: &str) -> String {
    json!({"type": "message", "client_id": client_id, "text": text}).to_string()
}

#[test]
fn every_client_frame_parses() {
    assert_eq!(
        parse_client_frame(
            r#"{"type":"message","client_id":"c1a-B_9","text":"where is my order?"}"#
        )
        .unwrap(),
        ClientFrame::Message {
            client_id: "c1a-B_9".into(),
            text: "where is my order?".into()
        }
    );
    assert_eq!(
        parse_client_frame(r#"{"type":"typing","on":true}"#).unwrap(),
        ClientFrame::Typing { on: true }
    );
    assert_eq!(
        parse_client_frame(r#"{"on":false,"type":"typing"}"#).unwrap(),
        ClientFrame::Typing { on: false }
    );
    assert_eq!(
        parse_client_frame(r#"{"type":"history","after":17}"#).unwrap(),
        ClientFrame::History { after: 17 }
    );
    assert_eq!(
        parse_client_frame(&format!(r#"{{"type":"history","after":{}}}"#, u64::MAX)).unwrap(),
        ClientFrame::History { after: u64::MAX }
    );
    assert_eq!(
        parse_client_frame(r#" {"type":"ping"} "#).unwrap(),
        ClientFrame::Ping
    );
    // What a Rust test client writes is what the parser reads.
    for frame in [
        ClientFrame::Message {
            client_id: "c1".into(),
            text: "hi\nthere".into(),
        },
        ClientFrame::Typing { on: false },
        ClientFrame::History { after: 3 },
        ClientFrame::Ping,
    ] {
        assert_eq!(
            parse_client_frame(&serde_json::to_string(&frame).unwrap()).unwrap(),
            frame
        );
    }
    assert_eq!(
        serde_json::to_string(&ClientFrame::Message {
            client_id: "c1".into(),
            text: "hi".into()
        })
        .unwrap(),
        r#"{"type":"message","client_id":"c1","text":"hi"}"#
    );
    // Fields a newer widget may add are ignored.
    assert_eq!(
        parse_client_frame(r#"{"type":"ping","sent_at":1}"#).unwrap(),
        ClientFrame::Ping
    );
}

#[test]
fn bad_frames_are_malformed() {
    for frame in [
        r#"{"type":"shout","text":"hi"}"#,
        r#"{"type":"Message","client_id":"c1","text":"hi"}"#,
        r#"{"client_id":"c1","text":"hi"}"#,
        r#"{"type":"message","text":"hi"}"#,
        r#"{"type":"message","client_id":"c1"}"#,
        r#"{"type":"message","client_id":"c1","text":7}"#,
        r#"{"type":"message","client_id":"c1","text":"a","text":"b"}"#,
        r#"{"type":"typing"}"#,
        r#"{"type":"typing","on":"yes"}"#,
        r#"{"type":"history"}"#,
        r#"{"type":"history","after":-1}"#,
        r#"{"type":"history","after":1.5}"#,
        r#"{"type":null}"#,
        r#"["message"]"#,
        r#"["ping"]"#,
        r#"["typing",true]"#,
        "ping",
        "",
        "{",
    ] {
        let e = parse_client_frame(frame).unwrap_err();
        assert!(matches!(e, WebchatError::Malformed(_)), "{frame}: {e:?}");
        assert_eq!(e.kind(), RejectKind::Malformed);
        assert_eq!(e.client_id(), None);
    }
    let e = parse_client_frame(r#"{"type":"shout"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed web chat input: frame has an unknown type"
    );
    let e = parse_client_frame(r#"{"type":"message","text":"hi"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed web chat input: frame lacks the field `client_id`"
    );
    let e = parse_client_frame(r#"{"type":"message","client_id":"c1","text":{"SECRET":1}}"#)
        .unwrap_err();
    assert!(!e.to_string().contains("SECRET"), "{e}");
}

#[test]
fn client_ids_are_checked() {
    let max = "a".repeat(MAX_CLIENT_ID_CHARS);
    assert!(parse_client_frame(&message(&max, "hi")).is_ok());
    assert!(parse_client_frame(&message("0", "hi")).is_ok());
    for bad in ["", "a b", "a.b", "a:b", "ä", "a/b", &format!("{max}a")] {
        let e = parse_client_frame(&message(bad, "hi")).unwrap_err();
        assert!(matches!(e, WebchatError::Malformed(_)), "{bad:?}: {e:?}");
    }
}

#[test]
fn text_limits_are_enforced() {
    let longest = "退".repeat(MAX_TEXT_CHARS);
    assert!(parse_client_frame(&message("c1", &longest)).is_ok());
    let e = parse_client_frame(&message("c1", &format!("{longest}x"))).unwrap_err();
    assert!(
        matches!(&e, WebchatError::Rejected { client_id, .. } if client_id == "c1"),
        "{e:?}"
    );
    assert!(e.to_string().contains(&MAX_TEXT_CHARS.to_string()));
    let frame = ServerFrame::error_for(&e);
    assert_eq!(
        serde_json::to_value(&frame).unwrap(),
        json!({"type":"error","code":"rejected","message":e.to_string(),"client_id":"c1"})
    );
    for blank in ["", "   ", "\n\t", "\u{0}\u{7}"] {
        let e = parse_client_frame(&message("c2", blank)).unwrap_err();
        assert_eq!(e.client_id(), Some("c2"), "{blank:?}");
    }
    // Over the frame cap before anything is parsed.
    let huge = message("c3", &"a".repeat(MAX_FRAME_BYTES));
    let e = parse_client_frame(&huge).unwrap_err();
    assert!(matches!(e, WebchatError::TooLarge(_)));
    assert_eq!(e.kind().http_status(), 413);
    assert_eq!(
        ServerFrame::error_for(&e).to_json(),
        r#"{"type":"error","code":"too_large","message":"frame is too large"}"#
    );
    // Control characters go; tab and newline stay.
    assert_eq!(
        parse_client_frame(&message("c4", "a\u{0}b\r\nc\td\u{1b}[31m")).unwrap(),
        ClientFrame::Message {
            client_id: "c4".into(),
            text: "ab\nc\td[31m".into()
        }
    );
    // The widget's worst case (4000 four-byte characters) fits in a frame.
    let emoji = message(
        &"c".repeat(MAX_CLIENT_ID_CHARS),
        &"🙂".repeat(MAX_TEXT_CHARS),
    );
    assert!(emoji.len() <= MAX_FRAME_BYTES);
    assert!(parse_client_frame(&emoji).is_ok());
}

#[test]
fn server_frames_have_the_documented_shape() {
    let t = at(1_700_000_000) + chrono::TimeDelta::milliseconds(42);
    let agent = ChatMessage {
        id: "01HF40000000000000000000AG".into(),
        seq: 8,
        from: Sender::Agent,
        agent: Some("Alice".into()),
        client_id: None,
        text: "It ships today.".into(),
        at: t,
    };
    let visitor = ChatMessage {
        id: "01HF40000000000000000000VI".into(),
        seq: 7,
        from: Sender::Visitor,
        agent: None,
        client_id: Some("c1".into()),
        text: "Where is it?".into(),
        at: at(1_700_000_000),
    };
    let cases = [
        (
            ServerFrame::Ack {
                client_id: "c1".into(),
                id: "01HF40000000000000000000VI".into(),
                seq: 7,
            },
            r#"{"type":"ack","client_id":"c1","id":"01HF40000000000000000000VI","seq":7}"#,
        ),
        (
            ServerFrame::Message(agent.clone()),
            r#"{"type":"message","id":"01HF40000000000000000000AG","seq":8,"from":"agent","agent":"Alice","text":"It ships today.","at":"2023-11-14T22:13:20.042Z"}"#,
        ),
        (
            ServerFrame::Typing {
                from: Sender::Agent,
                on: true,
            },
            r#"{"type":"typing","from":"agent","on":true}"#,
        ),
        (
            ServerFrame::History {
                messages: vec![visitor, agent],
                more: false,
            },
            r#"{"type":"history","messages":[{"id":"01HF40000000000000000000VI","seq":7,"from":"visitor","client_id":"c1","text":"Where is it?","at":"2023-11-14T22:13:20.000Z"},{"id":"01HF40000000000000000000AG","seq":8,"from":"agent","agent":"Alice","text":"It ships today.","at":"2023-11-14T22:13:20.042Z"}],"more":false}"#,
        ),
        (
            ServerFrame::History {
                messages: vec![],
                more: true,
            },
            r#"{"type":"history","messages":[],"more":true}"#,
        ),
        (
            ServerFrame::Error {
                code: ErrorCode::Unavailable,
                message: "try again".into(),
                client_id: Some("c9".into()),
            },
            r#"{"type":"error","code":"unavailable","message":"try again","client_id":"c9"}"#,
        ),
        (
            ServerFrame::error_for(&WebchatError::Expired),
            r#"{"type":"error","code":"session_expired","message":"the session token has expired"}"#,
        ),
        (
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                client_id: None,
            },
            r#"{"type":"error","code":"rate_limited","message":"slow down"}"#,
        ),
        (ServerFrame::Pong, r#"{"type":"pong"}"#),
        (ServerFrame::Queue { position: 3 }, r#"{"type":"queue","position":3}"#),
    ];
    for (frame, expected) in cases {
        assert_eq!(frame.to_json(), expected);
        // Rust clients (the daemon's tests) read them back.
        assert_eq!(
            serde_json::from_str::<ServerFrame>(expected).unwrap(),
            frame
        );
    }
}

#[test]
fn inbound_messages_are_normalized() {
    let jane = ShopIdentity {
        customer_id: "c-1001".into(),
        name: Some("Jane Doe".into()),
        tier: Some("vip".into()),
    };
    let c = claims(Some(&jane), Some("JD"));
    let m = to_inbound(
        &c,
        "c1",
        "退款",
        "01HF40000000000000000000VI".into(),
        at(1_700_000_001),
    );
    assert_eq!(m.id, "01HF40000000000000000000VI");
    assert_eq!(m.channel, Channel::Webchat);
    assert_eq!(m.account, "default");
    assert_eq!(m.provider_message_id, "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE:c1");
    assert_eq!(m.customer, "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE");
    assert_eq!(m.to, None);
    assert_eq!(m.display_name.as_deref(), Some("Jane Doe"));
    assert_eq!(m.text, "退款");
    assert!(m.attachments.is_empty());
    assert_eq!(m.received_at, at(1_700_000_001));
    assert_eq!(m.metadata.get("customer_id"), Some("c-1001"));
    assert_eq!(m.metadata.get("tier"), Some("vip"));
    assert_eq!(m.metadata.len(), 2);
    // Anonymous: the visitor's own name, no metadata.
    let anon = to_inbound(&claims(None, Some("Li Lei")), "c1", "hi", "x".into(), at(0));
    assert_eq!(anon.display_name.as_deref(), Some("Li Lei"));
    assert!(anon.metadata.is_empty());
    // Linked without tier or name.
    let bare = ShopIdentity {
        customer_id: "c-7".into(),
        name: None,
        tier: None,
    };
    let m = to_inbound(&claims(Some(&bare), None), "c1", "hi", "x".into(), at(0));
    assert_eq!(
        (
            m.display_name,
            m.metadata.get("tier"),
            m.metadata.get("customer_id")
        ),
        (None, None, Some("c-7"))
    );
}

#[test]
fn resends_share_a_provider_message_id() {
    let c = claims(None, None);
    // The same frame resent after a reconnect, handled by another replica
    // with another intake id and time, dedupes to the same key.
    let first = to_inbound(
        &c,
        "k7f2",
        "hello",
        "01HF4000000000000000000001".into(),
        at(1),
    );
    let again = to_inbound(
        &c,
        "k7f2",
        "hello",
        "01HF4000000000000000000002".into(),
        at(99),
    );
    assert_eq!(first.provider_message_id, again.provider_message_id);
    let other = to_inbound(
        &c,
        "k7f3",
        "hello",
        "01HF4000000000000000000003".into(),
        at(1),
    );
    assert_ne!(first.provider_message_id, other.provider_message_id);
    // And the stored message gives the widget its client id back.
    let shown = ChatMessage::from_inbound(&first, 4);
    assert_eq!(
        (shown.client_id.as_deref(), shown.from, shown.seq),
        (Some("k7f2"), Sender::Visitor, 4)
    );
    assert_eq!(
        (shown.id.as_str(), shown.text.as_str(), shown.at),
        ("01HF4000000000000000000001", "hello", at(1))
    );
}

#[test]
fn agent_replies_become_chat_messages() {
    let out = OutboundMessage {
        id: "01HF40000000000000000000OU".into(),
        conversation_id: "conv".into(),
        channel: Channel::Webchat,
        account: ACCOUNT.into(),
        to: "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE".into(),
        text: "Refund sent.".into(),
        media_urls: vec![],
        media_ids: vec![],
        agent: Some("alice".into()),
        automated: None,
        created_at: at(5),
    };
    let m = ChatMessage::from_outbound(&out, 9, Some("Alice".into()));
    assert_eq!(
        serde_json::to_value(ServerFrame::Message(m)).unwrap(),
        json!({"type":"message","id":"01HF40000000000000000000OU","seq":9,"from":"agent","agent":"Alice",
               "text":"Refund sent.","at":"1970-01-01T00:00:05.000Z"})
    );
}

#[test]
fn automated_replies_say_who_sent_them() {
    let out = OutboundMessage {
        id: "A0123".into(),
        conversation_id: "conv".into(),
        channel: Channel::Webchat,
        account: ACCOUNT.into(),
        to: "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE".into(),
        text: "Shipping is free over ¥99.".into(),
        media_urls: vec![],
        media_ids: vec![],
        agent: None,
        automated: Some(switchboard_core::Automated::Bot),
        created_at: at(5),
    };
    let bot = serde_json::to_value(ChatMessage::from_outbound(&out, 3, None)).unwrap();
    assert_eq!((bot["from"].as_str(), bot.get("agent")), (Some("bot"), None));
    let notice = OutboundMessage { automated: Some(switchboard_core::Automated::System), ..out };
    assert_eq!(serde_json::to_value(ChatMessage::from_outbound(&notice, 4, None)).unwrap()["from"], "system");
}

#[test]
fn debug_leaves_out_text() {
    let f = parse_client_frame(&message("c1", "my card number")).unwrap();
    assert!(!format!("{f:?}").contains("card"));
    let m = ChatMessage::from_inbound(
        &to_inbound(
            &claims(None, None),
            "c1",
            "my card number",
            "x".into(),
            at(0),
        ),
        1,
    );
    assert!(!format!("{:?}", ServerFrame::Message(m)).contains("card"));
}

#[test]
fn csat_frames_parse_and_encode() {
    assert_eq!(
        parse_client_frame(r#"{"type":"csat","score":5,"comment":" fine\u0007 "}"#).unwrap(),
        ClientFrame::Csat { score: 5, comment: "fine".into() }
    );
    assert_eq!(parse_client_frame(r#"{"type":"csat","score":2}"#).unwrap(), ClientFrame::Csat { score: 2, comment: String::new() });
    let long = format!(r#"{{"type":"csat","score":3,"comment":"{}"}}"#, "x".repeat(MAX_COMMENT_CHARS + 1));
    assert!(matches!(parse_client_frame(&long), Err(WebchatError::Malformed(_))));
    assert!(parse_client_frame(r#"{"type":"csat","score":-1}"#).is_err());
    let survey = ServerFrame::Csat { id: "Q1".into(), question: "How did we do?".into(), scale: 5, comment: true };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&survey.to_json()).unwrap(),
        json!({"type": "csat", "id": "Q1", "question": "How did we do?", "scale": 5, "comment": true})
    );
    assert_eq!(ServerFrame::CsatDone { score: 4 }.to_json(), r#"{"type":"csat_done","score":4}"#);
}
