//! Fuzzes everything the web chat channel reads from a browser on arbitrary
//! bytes: WebSocket frames, session tokens and session request bodies.
//!
//! Arbitrary bytes reach the code four ways, because a random token never
//! carries a valid MAC and a random identity never a valid signature:
//!
//! 1. as a client frame through `parse_client_frame`;
//! 2. as a whole session token, and spliced into the tail of a real one,
//!    through `SessionIssuer::verify`;
//! 3. as the visitor id, name and identity fields of `issue`, whose token
//!    must verify again with the fields cut to their limits;
//! 4. as a `POST /webchat/sessions` body through `SessionRequest::parse`,
//!    whose identity, once re-signed and stamped with the current time,
//!    must verify.
//!
//! Beyond "never panics": a parsed message frame obeys the documented
//! limits and maps to an inbound message whose de-duplication key is
//! `visitor_id:client_id`; an issued token always fits `MAX_TOKEN_BYTES`;
//! a token that is not byte-for-byte an issued one never verifies.
#![no_main]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard_core::Channel;
use switchboard_webchat::{
    identity_signature, is_visitor_id, parse_client_frame, to_inbound, verify_identity,
    ChatMessage, ClientFrame, RawIdentity, ServerFrame, SessionIssuer, SessionRequest,
    ShopIdentity, MAX_CLIENT_ID_CHARS, MAX_CUSTOMER_ID_CHARS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
    MAX_TOKEN_BYTES,
};

const SESSION_SECRET: &str = "fuzz-session-secret-0123456789";
const IDENTITY_SECRET: &str = "fuzz-identity-secret";

fuzz_target!(|data: &[u8]| {
    let now = Utc
        .timestamp_opt(1_700_000_000, 0)
        .single()
        .unwrap_or_default();
    let Ok(issuer) = SessionIssuer::new(SESSION_SECRET.to_owned().into(), Duration::from_secs(3600))
    else {
        panic!("the fuzz session options are valid");
    };
    let text = String::from_utf8_lossy(data);
    let anonymous = issuer.issue(None, None, None, now);
    let Ok(claims) = issuer.verify(&anonymous.token, now) else {
        panic!("a fresh token was refused");
    };

    // 1. Frames.
    match parse_client_frame(&text) {
        Ok(ClientFrame::Message { client_id, text: body }) => {
            assert!((1..=MAX_CLIENT_ID_CHARS).contains(&client_id.len()));
            assert!(client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            assert!(body.chars().count() <= MAX_TEXT_CHARS);
            assert!(!body.trim().is_empty());
            assert!(!body.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            let m = to_inbound(&claims, &client_id, &body, "01HF4000000000000000000000".into(), now);
            assert_eq!(m.channel, Channel::Webchat);
            assert_eq!(m.provider_message_id, format!("{}:{client_id}", anonymous.visitor_id));
            let shown = ChatMessage::from_inbound(&m, 1);
            assert_eq!(shown.client_id.as_deref(), Some(client_id.as_str()));
        }
        Ok(_) => {}
        Err(e) => {
            let json = ServerFrame::error_for(&e).to_json();
            assert!(json.starts_with(r#"{"type":"error","code":""#), "{json}");
            if let Some(client_id) = e.client_id() {
                assert!((1..=MAX_CLIENT_ID_CHARS).contains(&client_id.len()));
            }
        }
    }

    // 2. Tokens: the input as a token, and as the tail of a real one.
    if issuer.verify(&text, now).is_ok() {
        assert_eq!(text, anonymous.token, "a forged token verified");
    }
    let keep = data.first().map_or(0, |&b| usize::from(b)) * anonymous.token.len() / 256;
    let spliced = format!("{}{}", &anonymous.token[..keep], text);
    if issuer.verify(&spliced, now).is_ok() {
        assert_eq!(spliced, anonymous.token, "a spliced token verified");
    }

    // 3. Issue with arbitrary fields, then verify.
    let mut fields = text.split('\n');
    let mut field = || fields.next().map(str::to_owned);
    let identity = ShopIdentity {
        customer_id: field().unwrap_or_default(),
        name: field(),
        tier: field(),
    };
    let visitor_id = field();
    let name = field();
    let session = issuer.issue(visitor_id.as_deref(), Some(&identity), name.as_deref(), now);
    assert!(session.token.len() <= MAX_TOKEN_BYTES, "{}", session.token.len());
    assert!(is_visitor_id(&session.visitor_id));
    match issuer.verify(&session.token, now) {
        Ok(c) => {
            assert_eq!(c.visitor_id(), session.visitor_id);
            let Some(customer) = c.customer() else {
                panic!("the identity was lost");
            };
            assert!(identity.customer_id.starts_with(&customer.customer_id));
            assert!(customer.customer_id.chars().count() <= MAX_CUSTOMER_ID_CHARS);
            assert!(c.visitor_name().is_none_or(|n| n.chars().count() <= MAX_NAME_CHARS));
        }
        Err(e) => panic!("an issued token was refused: {e}"),
    }

    // 4. Session requests, with the identity re-signed.
    if let Ok(request) = SessionRequest::parse(data) {
        let Some(raw) = &request.identity else {
            return;
        };
        let _ = verify_identity(IDENTITY_SECRET, raw, now);
        let signed = RawIdentity {
            timestamp: now.timestamp(),
            signature: identity_signature(
                IDENTITY_SECRET,
                &raw.customer_id,
                raw.name.as_deref(),
                raw.tier.as_deref(),
                now.timestamp(),
            ),
            ..raw.clone()
        };
        match verify_identity(IDENTITY_SECRET, &signed, now) {
            Ok(id) => {
                assert_eq!(id.customer_id, raw.customer_id);
                assert!(verify_identity("another-secret", &signed, now).is_err());
                let s = issuer.issue(request.visitor_id.as_deref(), Some(&id), request.name.as_deref(), now);
                assert!(issuer.verify(&s.token, now).is_ok());
            }
            Err(e) => panic!("a correctly signed, fresh identity was refused: {e}"),
        }
    }
});
