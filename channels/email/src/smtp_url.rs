//! The `smtp_url` setting: where the SMTP relay is and how to talk to it.
//!
//! | URL | transport | default port |
//! | --- | --- | --- |
//! | `smtp://host` | plain (local relays) | 25 |
//! | `smtp://host:587` | STARTTLS required (the submission port) | — |
//! | `smtp://host?tls=required` | STARTTLS required | 587 |
//! | `smtp://host?tls=opportunistic` | STARTTLS when offered | 25 |
//! | `smtp://host:587?tls=none` | plain, explicitly | — |
//! | `smtps://host` | implicit TLS | 465 |
//!
//! `user:password@` gives the credentials (percent-decoded). Credentials
//! over a plain connection are refused unless the host is loopback: a
//! password must not cross a network in clear. Errors never quote the URL,
//! since it may hold that password.

use secrecy::SecretString;

use crate::error::{EmailError, Result};

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Plain TCP.
    None,
    /// STARTTLS if the server offers it, plain otherwise.
    Opportunistic,
    /// STARTTLS, or no send at all.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// A parsed `smtp_url`.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: TlsMode,
    pub(crate) credentials: Option<(String, SecretString)>,
}

/// Parses an `smtp_url` (see the module doc).
pub(crate) fn parse_smtp_url(raw: &str) -> Result<Endpoint> {
    let config = |m: &str| EmailError::Config(format!("smtp_url: {m}"));
    let url = url::Url::parse(raw.trim()).map_err(|e| config(&format!("not a URL ({e})")))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| config("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_ascii_lowercase());
    let (tls, port) = match (url.scheme(), tls_param.as_deref()) {
        ("smtp", None) => {
            let port = url.port().unwrap_or(25);
            (
                if port == 587 {
                    TlsMode::StartTls
                } else {
                    TlsMode::None
                },
                port,
            )
        }
        ("smtp", Some("none")) => (TlsMode::None, url.port().unwrap_or(25)),
        ("smtp", Some("opportunistic")) => (TlsMode::Opportunistic, url.port().unwrap_or(25)),
        ("smtp", Some("required" | "starttls")) => (TlsMode::StartTls, url.port().unwrap_or(587)),
        ("smtps", None | Some("required" | "implicit")) => {
            (TlsMode::Implicit, url.port().unwrap_or(465))
        }
        ("smtp" | "smtps", Some(_)) => {
            return Err(config(
                "tls must be one of none, opportunistic, required (smtp://) or absent (smtps://)",
            ))
        }
        _ => return Err(config("scheme must be smtp or smtps")),
    };
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        (user, Some(password)) if !user.is_empty() => {
            Some((decode(user)?, SecretString::from(decode(password)?)))
        }
        _ => return Err(config("credentials need both a user and a password")),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if credentials.is_some() && matches!(tls, TlsMode::None | TlsMode::Opportunistic) && !loopback {
        return Err(config("credentials need TLS (smtps://, port 587 or ?tls=required) unless the relay is on loopback"));
    }
    Ok(Endpoint {
        host,
        port,
        tls,
        credentials,
    })
}

/// Percent-decodes a URL user or password.
fn decode(raw: &str) -> Result<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    EmailError::Config("smtp_url: bad percent-encoding in credentials".into())
                })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| EmailError::Config("smtp_url: credentials are not UTF-8".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn ep(url: &str) -> (String, u16, TlsMode) {
        let e = parse_smtp_url(url).unwrap();
        (e.host, e.port, e.tls)
    }

    #[test]
    fn schemes_ports_and_tls() {
        assert_eq!(
            ep("smtp://relay.local"),
            ("relay.local".into(), 25, TlsMode::None)
        );
        assert_eq!(
            ep("smtp://relay.local:2525"),
            ("relay.local".into(), 2525, TlsMode::None)
        );
        assert_eq!(
            ep("smtp://mail.example:587"),
            ("mail.example".into(), 587, TlsMode::StartTls)
        );
        assert_eq!(
            ep("smtp://mail.example?tls=required"),
            ("mail.example".into(), 587, TlsMode::StartTls)
        );
        assert_eq!(
            ep("smtp://mail.example:2587?tls=required"),
            ("mail.example".into(), 2587, TlsMode::StartTls)
        );
        assert_eq!(
            ep("smtp://mail.example?tls=opportunistic"),
            ("mail.example".into(), 25, TlsMode::Opportunistic)
        );
        assert_eq!(
            ep("smtp://mail.example:587?tls=none"),
            ("mail.example".into(), 587, TlsMode::None)
        );
        assert_eq!(
            ep("smtps://mail.example"),
            ("mail.example".into(), 465, TlsMode::Implicit)
        );
        assert_eq!(ep("smtp://[::1]:25"), ("::1".into(), 25, TlsMode::None));
    }

    #[test]
    fn credentials_are_decoded_and_need_tls() {
        let e = parse_smtp_url("smtps://apikey:p%40ss%2Fw0rd@mail.example").unwrap();
        let (user, password) = e.credentials.unwrap();
        assert_eq!(user, "apikey");
        assert_eq!(password.expose_secret(), "p@ss/w0rd");
        assert!(parse_smtp_url("smtp://u:p@127.0.0.1:2525")
            .unwrap()
            .credentials
            .is_some());
        let e = parse_smtp_url("smtp://u:secret@mail.example")
            .unwrap_err()
            .to_string();
        assert!(e.contains("need TLS"), "{e}");
        assert!(!e.contains("secret"));
        assert!(parse_smtp_url("smtp://u@mail.example:587").is_err());
    }

    #[test]
    fn bad_urls_are_refused_without_echo() {
        for bad in [
            "http://mail.example",
            "mail.example:25",
            "smtp://",
            "smtp://h?tls=maybe",
            "smtps://h?tls=none",
            "smtps://u:p%zz@h",
        ] {
            let e = parse_smtp_url(bad).unwrap_err();
            assert!(matches!(e, EmailError::Config(_)), "{bad}");
            assert!(!e.to_string().contains("p%zz"));
        }
    }
}
