//! Real-world-shaped mails, parsed through the public API and checked
//! against what agents and the daemon must get.
//!
//! Each `tests/corpus/NAME.eml` is a message as one client or mail system
//! sends it (its headers, boundaries, transfer encodings, charsets and
//! quoting style), stored byte for byte: bodies in GBK, Big5 or ISO-2022-JP
//! are in those charsets. Beside it, `NAME.expect.json` says what
//! [`parse`] must produce:
//!
//! | key | checks |
//! | --- | --- |
//! | `subject`, `customer`, `display_name` | the decoded subject, the lower-cased From address, the display name (or `null`) |
//! | `text` | the exact text agents see (quoted history and signatures stripped) |
//! | `text_contains`, `text_not_contains` | pieces instead, where the exact text is not the point (newsletters, bounces) |
//! | `full_text_contains` | pieces of the unstripped text |
//! | `message_id`, `in_reply_to`, `references`, `conversation_token` | the threading keys |
//! | `auto`, `bounce_of` | the loop-protection reason and the failed Message-ID of a bounce (or `null`) |
//! | `attachments` | `[{"name", "type", "size"}]`, in order |
//! | `to`, `date` | optional: our address as matched, the RFC 3339 date |
//!
//! Every key but the optional ones is required, so that a file cannot pass
//! by leaving a field unchecked, and an unknown key is an error. All files
//! are checked before the test fails, and the failure lists each file with
//! each difference.

#[path = "support/json.rs"]
mod json;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use json::Value;
use switchboard_email::{parse, ParseOptions, ParsedEmail};

/// Keys every expectation file must have; the text needs `text` or
/// `text_contains` besides.
const REQUIRED: &[&str] = &[
    "subject",
    "customer",
    "display_name",
    "message_id",
    "in_reply_to",
    "references",
    "conversation_token",
    "auto",
    "bounce_of",
    "attachments",
];

/// Keys a file may have.
const OPTIONAL: &[&str] = &[
    "text",
    "text_contains",
    "text_not_contains",
    "full_text_contains",
    "to",
    "date",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The corpus files with the given extension (e.g. `.eml`), sorted.
fn files(suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap_or_else(|e| panic!("{}: {e}", corpus_dir().display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("reading the corpus: {e}"))
                .path()
        })
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    out.sort();
    out
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

fn options() -> ParseOptions {
    ParseOptions {
        // Large enough for every corpus attachment, so their content is
        // kept and compared with the listed size.
        max_attachment_bytes: 1 << 20,
        own_domains: vec!["shop.example".into()],
    }
}

#[test]
fn every_corpus_mail_parses_as_expected() {
    let mails = files(".eml");
    assert!(
        mails.len() >= 15,
        "the corpus has only {} mails",
        mails.len()
    );
    let mut report = String::new();
    for eml in &mails {
        let problems = check(eml);
        if !problems.is_empty() {
            let _ = writeln!(report, "\n{}:", name_of(eml));
            for problem in problems {
                let _ = writeln!(report, "  - {problem}");
            }
        }
    }
    // An expectation without its mail would silently check nothing.
    for expect in files(".expect.json") {
        let name = name_of(&expect);
        let eml = expect.with_file_name(name.replace(".expect.json", ".eml"));
        if !eml.exists() {
            let _ = writeln!(report, "\n{name}: no matching .eml");
        }
    }
    assert!(report.is_empty(), "corpus mismatches:{report}");
}

/// Every difference between what `eml` parses to and its expectation.
fn check(eml: &Path) -> Vec<String> {
    let expect_path = eml.with_extension("expect.json");
    let expected = match std::fs::read_to_string(&expect_path)
        .map_err(|e| format!("{}: {e}", name_of(&expect_path)))
        .and_then(|text| json::parse(&text).map_err(|e| format!("{}: {e}", name_of(&expect_path))))
    {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => {
            return vec![format!(
                "the expectation is {}, not an object",
                other.kind()
            )]
        }
        Err(e) => return vec![e],
    };
    let raw = match std::fs::read(eml) {
        Ok(raw) => raw,
        Err(e) => return vec![e.to_string()],
    };
    let received_at = Utc
        .timestamp_opt(1_795_000_000, 0)
        .single()
        .unwrap_or_default();
    let parsed = match parse(
        "support",
        &raw,
        &options(),
        "01JDZZZZZZZZZZZZZZZZZZZZZZ".into(),
        received_at,
    ) {
        Ok(parsed) => parsed,
        Err(e) => return vec![format!("refused: {e}")],
    };

    let mut problems = Vec::new();
    for key in REQUIRED {
        if !expected.iter().any(|(k, _)| k == key) {
            problems.push(format!("the expectation lacks `{key}`"));
        }
    }
    if !expected
        .iter()
        .any(|(k, _)| k == "text" || k == "text_contains")
    {
        problems.push("the expectation lacks `text` or `text_contains`".into());
    }
    for (key, value) in &expected {
        if let Err(problem) = check_field(&parsed, key, value) {
            problems.push(format!("{key}: {problem}"));
        }
    }
    problems.extend(invariants(&parsed));
    problems
}

/// Compares one expected field with the parse.
fn check_field(p: &ParsedEmail, key: &str, value: &Value) -> Result<(), String> {
    let m = &p.message;
    match key {
        "subject" => same_str(value, Some(&p.subject)),
        "customer" => same_str(value, Some(&m.customer)),
        "display_name" => same_str(value, m.display_name.as_deref()),
        "to" => same_str(value, m.to.as_deref()),
        "text" => same_str(value, Some(&m.text)),
        "text_contains" => pieces(value, &m.text, true),
        "text_not_contains" => pieces(value, &m.text, false),
        "full_text_contains" => pieces(value, &p.full_text, true),
        "message_id" => same_str(value, p.message_id.as_deref()),
        "in_reply_to" => same_str(value, p.in_reply_to.as_deref()),
        "conversation_token" => same_str(value, p.conversation_token.as_deref()),
        "auto" => same_str(value, p.auto.as_deref()),
        "bounce_of" => same_str(value, p.bounce_of.as_deref()),
        "date" => same_str(value, m.metadata.get("date")),
        "references" => {
            let expected = strings(value)?;
            (expected == p.references)
                .then_some(())
                .ok_or_else(|| format!("expected {expected:?}, got {:?}", p.references))
        }
        "attachments" => attachments(value, p),
        _ if REQUIRED.contains(&key) || OPTIONAL.contains(&key) => {
            Err("not checked (a bug in this test)".into())
        }
        _ => Err("unknown key".into()),
    }
}

/// A string or null compared with an optional value.
fn same_str(expected: &Value, actual: Option<&str>) -> Result<(), String> {
    let expected = match expected {
        Value::Null => None,
        Value::String(s) => Some(s.as_str()),
        other => return Err(format!("expected a string or null, found {}", other.kind())),
    };
    if expected == actual {
        Ok(())
    } else {
        Err(format!("expected {expected:?},\n         got {actual:?}"))
    }
}

fn strings(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array, found {}", value.kind()));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("expected strings, found {}", other.kind())),
        })
        .collect()
}

/// Each piece must (or must not) occur in `text`.
fn pieces(value: &Value, text: &str, present: bool) -> Result<(), String> {
    let wrong: Vec<String> = strings(value)?
        .into_iter()
        .filter(|piece| text.contains(piece.as_str()) != present)
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        let verb = if present { "missing" } else { "present" };
        Err(format!("{verb}: {wrong:?}\n         in {text:?}"))
    }
}

fn attachments(value: &Value, p: &ParsedEmail) -> Result<(), String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array, found {}", value.kind()));
    };
    let actual: Vec<String> = p
        .message
        .attachments
        .iter()
        .map(|a| format!("{:?} {} {:?}", a.name, a.content_type, a.size))
        .collect();
    let mut expected = Vec::new();
    for item in items {
        let Value::Object(fields) = item else {
            return Err(format!("expected objects, found {}", item.kind()));
        };
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        if let Some((unknown, _)) = fields
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "name" | "type" | "size"))
        {
            return Err(format!("unknown attachment key `{unknown}`"));
        }
        let name = match field("name") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => return Err(format!("name is {}", other.kind())),
        };
        let Some(Value::String(content_type)) = field("type") else {
            return Err("an attachment needs a string `type`".into());
        };
        let Some(Value::Number(size)) = field("size") else {
            return Err("an attachment needs a numeric `size`".into());
        };
        expected.push(format!("{name:?} {content_type} {:?}", Some(*size)));
    }
    (expected == actual)
        .then_some(())
        .ok_or_else(|| format!("expected {expected:#?},\n         got {actual:#?}"))
}

/// What must hold for every mail whatever its expectation: the metadata
/// mirrors the typed fields, and each attachment's content (all under the
/// cap here) has its listed size.
fn invariants(p: &ParsedEmail) -> Vec<String> {
    let mut problems = Vec::new();
    let meta = &p.message.metadata;
    let mirrored = [
        ("auto", p.auto.as_deref()),
        ("bounce_of", p.bounce_of.as_deref()),
        ("message_id", p.message_id.as_deref()),
        ("in_reply_to", p.in_reply_to.as_deref()),
        ("conversation_token", p.conversation_token.as_deref()),
    ];
    for (key, typed) in mirrored {
        if meta.get(key) != typed {
            problems.push(format!(
                "metadata {key} is {:?} but the field is {typed:?}",
                meta.get(key)
            ));
        }
    }
    if p.attachment_contents.len() != p.message.attachments.len() {
        problems.push("one content slot per attachment".into());
    }
    for (a, content) in p.message.attachments.iter().zip(&p.attachment_contents) {
        let len = content.as_ref().map(|c| c.len() as u64);
        if len != a.size {
            problems.push(format!(
                "attachment {:?}: content of {len:?} bytes, listed as {:?}",
                a.name, a.size
            ));
        }
    }
    if !p.full_text.is_empty() && p.message.text.is_empty() {
        problems.push("the stripped text is empty but the full text is not".into());
    }
    problems
}
