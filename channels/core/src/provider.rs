//! Helpers every provider sender shares: reading an answer with a cap,
//! describing a transport error without its URL (which may carry a token),
//! and making a provider's error text fit for logs and agent events.

use crate::Masked;

/// Provider error texts are cut to this many bytes.
pub const MAX_REASON_LEN: usize = 300;

/// Reads at most `limit` bytes of a response body: a misbehaving provider
/// cannot make a sender buffer without bound.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= limit {
            break;
        }
    }
    Ok(buf)
}

/// A transport error, described without the request URL.
pub fn describe_transport(error: reqwest::Error, provider: &str) -> String {
    if error.is_timeout() {
        format!("request to {provider} timed out")
    } else if error.is_connect() {
        format!("could not connect to {provider}")
    } else {
        let error = error.without_url();
        match std::error::Error::source(&error) {
            Some(source) => format!("request to {provider} failed: {error}: {source}"),
            None => format!("request to {provider} failed: {error}"),
        }
    }
}

/// A provider's error text made fit for logs and events: one line, every
/// `secret` (4 characters or more) replaced, the customer's address `to`
/// masked, the length capped at [`MAX_REASON_LEN`].
pub fn scrub_reason(message: &str, to: &str, secrets: &[&str]) -> String {
    let mut out = message.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    let to = to.trim();
    if !to.is_empty() {
        out = out.replace(to, &Masked(to).to_string());
    }
    for secret in secrets.iter().filter(|s| s.chars().count() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    if out.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_scrubbed_and_capped() {
        let r = scrub_reason("bad number +14155550100\r\nfor text 'my refund please'", "+14155550100", &["my refund please"]);
        assert_eq!(r, "bad number +1415****100 for text '[redacted]'");
        let long = scrub_reason(&"退".repeat(400), "", &[]);
        assert!(long.len() <= MAX_REASON_LEN + '…'.len_utf8());
        assert!(long.ends_with('…'));
    }
}
