//! Twilio's `X-Twilio-Signature` request signing.
//!
//! Twilio signs each webhook with `base64(HMAC-SHA1(auth_token, url + p))`
//! where `url` is the full public URL it called (query string included) and
//! `p` is every POST parameter, sorted by name, written as name then value.
//! The daemon sits behind a proxy, so the URL must be the configured public
//! one, not whatever the request line says.
//!
//! Twilio and its official validators disagree with reverse proxies about
//! whether the scheme's default port is part of the URL, so a header is
//! accepted when it matches the URL as configured, or the same URL with the
//! default port (`:443` for https, `:80` for http) added or removed. A
//! non-default port is never touched: it is part of what Twilio signed.
//!
//! The comparison is constant-time (`subtle`) so that a caller cannot learn
//! the expected signature byte by byte from response timings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::{Choice, ConstantTimeEq};

/// `base64(HMAC-SHA1(auth_token, url + for each param sorted by name (then
/// value): name + value))`, the value Twilio puts in `X-Twilio-Signature`.
///
/// Parameters with the same name are all included; sorting by value as well
/// makes the result independent of the order they arrived in.
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    // HMAC takes keys of any length, so this cannot fail; should it ever,
    // an empty string matches no header (see `signature_matches`).
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Constant-time check of an `X-Twilio-Signature` header.
///
/// Accepts the URL as given, and the same URL with the scheme's default port
/// made explicit (https→`:443`, http→`:80`) or removed, as Twilio's own
/// validators do. Parameters with the same name are all included, sorted
/// stably. An empty header never matches. Surrounding whitespace in the
/// header is ignored.
pub fn signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let header = header.trim();
    if header.is_empty() {
        return false;
    }
    let mut matched = Choice::from(0u8);
    let alternative = default_port_variant(url);
    for candidate in std::iter::once(url).chain(alternative.as_deref()) {
        let expected = compute_signature(auth_token, candidate, params);
        // `ct_eq` on slices of different lengths is false without comparing
        // contents; the length of a valid signature is public anyway.
        matched |= expected.as_bytes().ct_eq(header.as_bytes());
    }
    matched.into()
}

/// The same URL with the scheme's default port toggled: added when there is
/// no port, removed when the port is the default one. `None` when the URL is
/// not http(s), has no host, or has a non-default port.
fn default_port_variant(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return None;
    };
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // Skip any `user:password@`; its colon is not a port separator.
    let host_offset = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_offset..];
    if host_port.is_empty() {
        return None;
    }
    let host_start = scheme.len() + "://".len() + host_offset;
    let host_end = scheme.len() + "://".len() + authority_len;
    // A colon inside `[...]` belongs to an IPv6 address, not to a port.
    let port_colon = host_port
        .rfind(':')
        .filter(|&colon| !host_port[colon..].contains(']'));
    match port_colon {
        Some(colon) if &host_port[colon + 1..] == default_port => Some(format!(
            "{}{}",
            &url[..host_start + colon],
            &url[host_end..]
        )),
        Some(_) => None,
        None => Some(format!(
            "{}:{default_port}{}",
            &url[..host_end],
            &url[host_end..]
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const URL_443: &str = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    const SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    const SIG_443: &str = "kvajT1Ptam85bY51eRf/AJRuM3w=";

    /// The VECTORS.md parameters, deliberately not in sorted order.
    fn params() -> Vec<(String, String)> {
        [
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+14158675309"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn twilio_vectors() {
        assert_eq!(compute_signature(TOKEN, URL, &params()), SIG);
        assert_eq!(compute_signature(TOKEN, URL_443, &params()), SIG_443);
        assert!(signature_matches(TOKEN, URL, &params(), SIG));
        assert!(signature_matches(TOKEN, URL_443, &params(), SIG_443));
    }

    #[test]
    fn default_port_is_accepted_either_way() {
        // Header computed on the explicit-port form, URL configured plain.
        assert!(signature_matches(TOKEN, URL, &params(), SIG_443));
        // Header computed on the plain form, URL configured with :443.
        assert!(signature_matches(TOKEN, URL_443, &params(), SIG));
        // Surrounding whitespace from a proxy is tolerated.
        assert!(signature_matches(
            TOKEN,
            URL,
            &params(),
            &format!(" {SIG}\t")
        ));
    }

    #[test]
    fn tampering_is_rejected() {
        let mut tampered = params();
        tampered[3].1 = "1235".into();
        assert!(!signature_matches(TOKEN, URL, &tampered, SIG));
        let mut extra = params();
        extra.push(("Body".into(), "hi".into()));
        assert!(!signature_matches(TOKEN, URL, &extra, SIG));
        assert!(!signature_matches("12346", URL, &params(), SIG));
        assert!(!signature_matches(
            TOKEN,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params(),
            SIG
        ));
        assert!(!signature_matches(
            TOKEN,
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &params(),
            SIG
        ));
        assert!(!signature_matches(TOKEN, URL, &params(), ""));
        assert!(!signature_matches(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8"
        ));
        assert!(!signature_matches(
            TOKEN,
            URL,
            &params(),
            "rSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn duplicate_names_are_all_signed_in_a_stable_order() {
        let a = vec![
            ("MediaUrl".to_string(), "https://x/1".to_string()),
            ("MediaUrl".to_string(), "https://x/2".to_string()),
        ];
        let b: Vec<_> = a.iter().rev().cloned().collect();
        assert_eq!(
            compute_signature(TOKEN, URL, &a),
            compute_signature(TOKEN, URL, &b)
        );
        let only_one = &a[..1];
        assert_ne!(
            compute_signature(TOKEN, URL, &a),
            compute_signature(TOKEN, URL, only_one)
        );
        // The expected concatenation, spelled out.
        let manual = {
            let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
            mac.update(format!("{URL}MediaUrlhttps://x/1MediaUrlhttps://x/2").as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        };
        assert_eq!(compute_signature(TOKEN, URL, &b), manual);
    }

    #[test]
    fn port_variants() {
        let v = |u: &str| default_port_variant(u);
        assert_eq!(v(URL).as_deref(), Some(URL_443));
        assert_eq!(v(URL_443).as_deref(), Some(URL));
        assert_eq!(v("http://h/x").as_deref(), Some("http://h:80/x"));
        assert_eq!(v("http://h:80").as_deref(), Some("http://h"));
        assert_eq!(v("HTTPS://h?q=1").as_deref(), Some("HTTPS://h:443?q=1"));
        assert_eq!(v("https://u:p@h/x").as_deref(), Some("https://u:p@h:443/x"));
        assert_eq!(v("https://[::1]/x").as_deref(), Some("https://[::1]:443/x"));
        assert_eq!(v("https://[::1]:443/x").as_deref(), Some("https://[::1]/x"));
        // A non-default port is part of what was signed; https on :80 too.
        assert_eq!(v("https://h:8443/x"), None);
        assert_eq!(v("https://h:80/x"), None);
        assert_eq!(v("ftp://h/x"), None);
        assert_eq!(v("https:///x"), None);
        assert_eq!(v("no scheme"), None);
    }
}
