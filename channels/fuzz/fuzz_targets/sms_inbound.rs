//! Fuzzes the SMS inbound path end to end on arbitrary bytes: strict form
//! parsing, signature computation and checking, and normalization.
//!
//! To make `normalize` really run (it only accepts a `Verified`), the target
//! signs the parsed parameters itself and goes through `Verified::check`, the
//! same way the daemon does. Beyond "never panics" it checks the properties
//! the daemon relies on: a signature computed by `compute_signature` always
//! verifies, also when the URL's default port is toggled, and a normalized
//! message always has E.164 addresses and at most `MAX_MEDIA` attachments.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard_core::{Channel, Metadata};
use switchboard_sms::{
    compute_signature, normalize, normalize_e164, parse_form, signature_matches, Verified,
    MAX_MEDIA,
};

const TOKEN: &str = "fuzz-auth-token";
const URL: &str = "https://sb.example.com/webhooks/sms/main?x=1";
const URL_443: &str = "https://sb.example.com:443/webhooks/sms/main?x=1";

fuzz_target!(|data: &[u8]| {
    let Ok(params) = parse_form(data) else {
        return;
    };
    let signature = compute_signature(TOKEN, URL, &params);
    assert!(signature_matches(TOKEN, URL, &params, &signature));
    assert!(signature_matches(TOKEN, URL_443, &params, &signature));
    assert!(!signature_matches("another-token", URL, &params, &signature));

    let verified = match Verified::check(TOKEN, URL, data, Some(&signature)) {
        Ok(verified) => verified,
        Err(e) => panic!("a correctly signed body was refused: {e}"),
    };
    assert_eq!(verified.params(), &params[..]);

    for (_, value) in &params {
        if let Some(e164) = normalize_e164(value) {
            assert_eq!(normalize_e164(&e164).as_deref(), Some(e164.as_str()));
        }
    }

    let at = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
    if let Ok(msg) = normalize("main", &verified, "01HX0000000000000000000000".into(), at) {
        assert_eq!(msg.channel, Channel::Sms);
        assert!(normalize_e164(&msg.customer).is_some());
        assert!(msg.to.as_deref().and_then(normalize_e164).is_some());
        assert!(msg.attachments.len() <= MAX_MEDIA);
        assert!(msg.metadata.len() <= Metadata::MAX_ENTRIES);
    }
});
