//! Decoding of Twilio's inbound message webhook: strict form parsing, the
//! [`Verified`] type, and normalization into an
//! [`InboundMessage`](switchboard_core::InboundMessage).
//!
//! Decoding is pure (no I/O), so it is fuzzed (`channels/fuzz`) and can be
//! tested byte for byte. The form parser is strict on purpose: the lenient
//! parsers used by web frameworks replace bad escapes and invalid UTF-8,
//! which would make the parameters we verify differ from the bytes Twilio
//! signed and from the text we store.
//!
//! A [`Verified`] can only be built by [`Verified::check`], so code that
//! holds one cannot have skipped the signature check; [`normalize`] takes a
//! `Verified`, never raw parameters.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use switchboard_core::{Attachment, Channel, InboundMessage, Metadata};

use crate::error::{Result, SmsError};
use crate::signature::signature_matches;

/// Twilio allows at most this many media items on one message.
pub const MAX_MEDIA: usize = 10;

/// Twilio parameters copied to metadata before any other, so that a body
/// padded with junk parameters cannot push them out of the bounded map.
const KNOWN_METADATA: &[&str] = &[
    "AccountSid",
    "MessagingServiceSid",
    "SmsStatus",
    "SmsSid",
    "SmsMessageSid",
    "NumSegments",
    "ApiVersion",
    "OptOutType",
    "FromCountry",
    "FromState",
    "FromCity",
    "FromZip",
    "ToCountry",
    "ToState",
    "ToCity",
    "ToZip",
];

/// Strict `application/x-www-form-urlencoded` parse.
///
/// `+` is a space and `%XX` a byte; a `%` not followed by two hex digits,
/// bytes that are not UTF-8 after decoding, an empty body, or a body with no
/// parameter at all is `Err(Malformed)`. A pair without `=` has an empty
/// value; empty pairs (`a=1&&b=2`) are skipped. Duplicate names are kept, in
/// order.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>> {
    if body.is_empty() {
        return Err(SmsError::malformed("empty body"));
    }
    let mut params = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        params.push((decode_component(name)?, decode_component(value)?));
    }
    if params.is_empty() {
        return Err(SmsError::malformed("no form parameters"));
    }
    Ok(params)
}

/// Decodes one name or value of a form pair.
fn decode_component(raw: &[u8]) -> Result<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => out.push(b' '),
            b'%' => match (
                rest.first().and_then(|&b| hex(b)),
                rest.get(1).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    rest = &rest[2..];
                }
                _ => return Err(SmsError::malformed("invalid percent-encoding")),
            },
            other => out.push(other),
        }
    }
    String::from_utf8(out).map_err(|_| SmsError::malformed("invalid UTF-8 in form data"))
}

/// The value of one hex digit.
fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A request whose signature has been checked. The only way to build one is
/// [`Verified::check`].
pub struct Verified {
    params: Vec<(String, String)>,
}

impl Verified {
    /// [`parse_form`] then [`signature_matches`] against the configured
    /// public `url`.
    ///
    /// A missing or empty header is [`SmsError::BadSignature`] before the
    /// body is even parsed; a body that does not parse is
    /// [`SmsError::Malformed`]; a signature that does not match is
    /// [`SmsError::BadSignature`].
    pub fn check(
        auth_token: &str,
        url: &str,
        body: &[u8],
        signature_header: Option<&str>,
    ) -> Result<Verified> {
        let header = match signature_header.map(str::trim) {
            Some(header) if !header.is_empty() => header,
            _ => return Err(SmsError::BadSignature),
        };
        let params = parse_form(body)?;
        if !signature_matches(auth_token, url, &params, header) {
            return Err(SmsError::BadSignature);
        }
        Ok(Verified { params })
    }

    /// Every parameter, in the order received, duplicates included.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The first value of the parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` when it appears at most once. A field we act on
    /// must not be ambiguous, so a repeated one is `Malformed`.
    fn unique(&self, name: &str) -> Result<Option<&str>> {
        let mut values = self.params.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(SmsError::malformed(format!(
                "{name} appears more than once"
            )));
        }
        Ok(first)
    }

    /// The non-empty value of `name`, which must appear exactly once.
    fn required(&self, name: &str) -> Result<&str> {
        match self.unique(name)?.map(str::trim) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(SmsError::malformed(format!("missing {name}"))),
        }
    }
}

/// Shows parameter names only: values hold phone numbers and message text,
/// which must not reach logs through a stray `{:?}`.
impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field(
                "param_names",
                &self.params.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Normalizes a verified inbound message webhook.
///
/// Requires `MessageSid` (any non-empty value), `From` and `To`, each at most
/// once. `From`/`To` are normalized by [`normalize_e164`]; a value that is not
/// a phone number is `Malformed` naming the field. `Body` may be absent
/// (= `""`). `NumMedia` (absent = 0, else `0..=10`) with `MediaUrl{N}` (http
/// or https) and `MediaContentType{N}` for each `N < NumMedia` become
/// attachments. Every other non-empty parameter goes into `metadata`, known
/// Twilio fields (`AccountSid`, `MessagingServiceSid`, `SmsStatus`, …) first,
/// then the rest in arrival order, until [`Metadata`]'s own bounds drop the
/// remainder.
pub fn normalize(
    account: &str,
    verified: &Verified,
    id: String,
    received_at: DateTime<Utc>,
) -> Result<InboundMessage> {
    let provider_message_id = verified.required("MessageSid")?.to_owned();
    let customer = phone_field(verified, "From")?;
    let to = phone_field(verified, "To")?;
    let text = verified.unique("Body")?.unwrap_or_default().to_owned();
    let num_media = parse_num_media(verified.unique("NumMedia")?)?;

    let mut consumed: HashSet<String> = ["MessageSid", "From", "To", "Body", "NumMedia"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut attachments = Vec::with_capacity(num_media);
    for n in 0..num_media {
        let url_field = format!("MediaUrl{n}");
        let type_field = format!("MediaContentType{n}");
        let url = verified.required(&url_field)?;
        if !is_http_url(url) {
            return Err(SmsError::malformed(format!(
                "{url_field} is not an http(s) URL"
            )));
        }
        let content_type = verified.required(&type_field)?;
        attachments.push(Attachment {
            content_type: content_type.to_owned(),
            url: Some(url.to_owned()),
            ..Attachment::default()
        });
        consumed.insert(url_field);
        consumed.insert(type_field);
    }

    Ok(InboundMessage {
        id,
        channel: Channel::Sms,
        account: account.to_owned(),
        provider_message_id,
        customer,
        to: Some(to),
        display_name: None,
        text,
        attachments,
        received_at,
        metadata: metadata(verified, &consumed),
    })
}

/// A required phone-number field, normalized to E.164.
fn phone_field(verified: &Verified, name: &str) -> Result<String> {
    let raw = verified.required(name)?;
    normalize_e164(raw)
        .ok_or_else(|| SmsError::malformed(format!("{name} is not an E.164 phone number")))
}

/// `NumMedia`: absent means none; otherwise decimal digits, at most
/// [`MAX_MEDIA`].
fn parse_num_media(raw: Option<&str>) -> Result<usize> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(0);
    };
    let invalid = || SmsError::malformed(format!("NumMedia must be 0..={MAX_MEDIA}"));
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match raw.parse::<usize>() {
        Ok(n) if n <= MAX_MEDIA => Ok(n),
        _ => Err(invalid()),
    }
}

/// Whether a media URL is one the daemon may safely hand on or fetch.
fn is_http_url(url: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

/// The bounded metadata: known Twilio fields first, then the rest.
fn metadata(verified: &Verified, consumed: &HashSet<String>) -> Metadata {
    let mut metadata = Metadata::default();
    let known = KNOWN_METADATA
        .iter()
        .filter_map(|&name| verified.get(name).map(|value| (name, value)));
    let others = verified
        .params()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .filter(|(n, _)| !consumed.contains(*n));
    for (name, value) in known.chain(others) {
        // The first value of a repeated field wins; empty values (Twilio
        // sends many, e.g. FromZip=) would only take room.
        if !value.is_empty() && metadata.get(name).is_none() {
            metadata.insert(name, value);
        }
    }
    metadata
}

/// Normalizes a phone number to E.164: strips whitespace, `-`, `.`, `(` and
/// `)`, then requires `+` followed by 7 to 15 digits, the first not `0`
/// (no country code starts with 0). `None` when the result is not E.164.
pub fn normalize_e164(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')))
        .collect();
    let digits = cleaned.strip_prefix('+')?;
    let valid = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(cleaned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "decode_tests.rs"]
mod tests;
