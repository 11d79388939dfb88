//! Tests of `parse.rs` on messages built byte by byte: structure,
//! encodings, charsets, attachments and refusals. Threading, stripping,
//! loops and bounces are in `parse_flow_tests.rs`, which shares the
//! helpers here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::TimeZone;
use encoding_rs::{Encoding, BIG5, GB18030, GBK, ISO_2022_JP, WINDOWS_1252};

use super::*;

#[path = "parse_flow_tests.rs"]
mod flow;

pub(super) const ID: &str = "01HX0000000000000000000000";

pub(super) fn options() -> ParseOptions {
    ParseOptions {
        max_attachment_bytes: 1024,
        own_domains: vec!["shop.example".into()],
    }
}

pub(super) fn at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).single().unwrap()
}

/// A message from `headers` (one per line, `\n`-separated) and `body`,
/// with CRLF line ends as on the wire.
pub(super) fn mail(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = headers.trim().replace('\n', "\r\n").into_bytes();
    raw.extend_from_slice(b"\r\n\r\n");
    raw.extend_from_slice(body);
    raw
}

/// The usual headers of a customer's mail, plus `extra`.
pub(super) fn customer(extra: &str) -> String {
    format!(
        "From: \"Jane Doe\" <Jane.Doe@Customer.Example>\n\
         To: Shop Support <support@shop.example>\n\
         Subject: Where is my order?\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\n\
         Message-ID: <CAF1234@mail.customer.example>\n\
         MIME-Version: 1.0\n{extra}"
    )
}

pub(super) fn parse_ok(raw: &[u8]) -> ParsedEmail {
    parse("support", raw, &options(), ID.into(), at()).unwrap()
}

pub(super) fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, had_errors) = encoding.encode(text);
    assert!(!had_errors, "{} cannot encode {text}", encoding.name());
    bytes.into_owned()
}

#[test]
fn a_plain_mail_is_normalized() {
    let raw = mail(
        &customer("Content-Type: text/plain; charset=utf-8"),
        b"Hello,\r\nwhere is order #42?\r\n",
    );
    let p = parse_ok(&raw);
    let m = &p.message;
    assert_eq!(m.id, ID);
    assert_eq!(m.channel, Channel::Email);
    assert_eq!(m.account, "support");
    assert_eq!(m.provider_message_id, "CAF1234@mail.customer.example");
    assert_eq!(m.customer, "jane.doe@customer.example");
    assert_eq!(m.display_name.as_deref(), Some("Jane Doe"));
    assert_eq!(m.to.as_deref(), Some("support@shop.example"));
    assert_eq!(m.text, "Hello,\nwhere is order #42?");
    assert_eq!(m.received_at, at());
    assert_eq!(p.subject, "Where is my order?");
    assert_eq!(m.metadata.get("subject"), Some("Where is my order?"));
    assert_eq!(
        m.metadata.get("message_id"),
        Some("CAF1234@mail.customer.example")
    );
    assert_eq!(m.metadata.get("date"), Some("2023-11-14T22:13:20Z"));
    assert_eq!(p.auto, None);
    assert_eq!(p.bounce_of, None);
    assert!(m.attachments.is_empty());
    // Debug output carries no address, subject or text.
    let debug = format!("{p:?}");
    for private in ["jane.doe", "Jane Doe", "Where is my order", "order #42"] {
        assert!(!debug.contains(private), "{debug}");
    }
}

#[test]
fn multipart_alternative_picks_the_plain_part() {
    let body = b"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain version\r\n\
        --ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML <b>version</b></p>\r\n--ALT--\r\n";
    let raw = mail(
        &customer("Content-Type: multipart/alternative; boundary=\"ALT\""),
        body,
    );
    let p = parse_ok(&raw);
    assert_eq!(p.message.text, "Plain version");
    assert_eq!(p.full_text, "Plain version");
}

#[test]
fn html_only_mail_becomes_readable_text() {
    let html = "<html><head><style>p{margin:0}</style></head><body>\
        <p>Hello&nbsp;team,</p><p>The parcel &amp; the invoice are missing &lt;again&gt;.<br>Order #42</p>\
        <div>Thanks,<br>Jane</div></body></html>";
    let raw = mail(
        &customer("Content-Type: text/html; charset=utf-8"),
        html.as_bytes(),
    );
    let p = parse_ok(&raw);
    assert_eq!(
        p.message.text,
        "Hello team,\n\nThe parcel & the invoice are missing <again>.\nOrder #42\n\nThanks,\nJane"
    );
    assert!(!p.message.text.contains('<') || p.message.text.contains("<again>"));

    // HTML inside multipart/alternative without a plain part, too.
    let body = b"--A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>Only&#32;HTML</div>\r\n--A--\r\n";
    let raw = mail(
        &customer("Content-Type: multipart/alternative; boundary=A"),
        body,
    );
    assert_eq!(parse_ok(&raw).message.text, "Only HTML");
}

#[test]
fn quoted_printable_and_base64_bodies() {
    let qp = b"Caf=C3=A9 au lait, s'il vous pla=C3=AEt. Une tr=C3=A8s longue ligne qui conti=\r\nnue ici.\r\n";
    let raw = mail(
        &customer(
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable",
        ),
        qp,
    );
    assert_eq!(
        parse_ok(&raw).message.text,
        "Café au lait, s'il vous plaît. Une très longue ligne qui continue ici."
    );

    let text = "退货申请：订单 #42 的鞋子太小了。";
    let b64 = STANDARD.encode(text.as_bytes());
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(20)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let raw = mail(
        &customer("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64"),
        wrapped.join("\r\n").as_bytes(),
    );
    assert_eq!(parse_ok(&raw).message.text, text);
}

#[test]
fn rfc2047_subjects() {
    let cases: [(String, &str); 4] = [
        (
            format!("=?GBK?B?{}?=", STANDARD.encode(encode(GBK, "退货申请"))),
            "退货申请",
        ),
        (
            format!("=?gb2312?B?{}?=", STANDARD.encode(encode(GBK, "订单查询"))),
            "订单查询",
        ),
        (
            format!(
                "=?big5?Q?{}?=",
                encode(BIG5, "退貨申請")
                    .iter()
                    .map(|b| format!("={b:02X}"))
                    .collect::<String>()
            ),
            "退貨申請",
        ),
        (
            format!(
                "Re: =?UTF-8?B?{}?= #42",
                STANDARD.encode("订单 ✓".as_bytes())
            ),
            "Re: 订单 ✓ #42",
        ),
    ];
    for (header, expected) in cases {
        let headers = customer("Content-Type: text/plain")
            .replace("Subject: Where is my order?", &format!("Subject: {header}"));
        let p = parse_ok(&mail(&headers, b"x"));
        assert_eq!(p.subject, expected, "{header}");
    }
    // An encoded display name, too.
    let headers = customer("").replace(
        "From: \"Jane Doe\" <Jane.Doe@Customer.Example>",
        &format!(
            "From: =?GBK?B?{}?= <li@customer.example>",
            STANDARD.encode(encode(GBK, "李雷"))
        ),
    );
    assert_eq!(
        parse_ok(&mail(&headers, b"x"))
            .message
            .display_name
            .as_deref(),
        Some("李雷")
    );
}

#[test]
fn charset_bodies_decode_exactly() {
    let cases: [(&str, &'static Encoding, &str); 7] = [
        ("gbk", GBK, "您好，我的订单还没有收到，请帮忙查询。"),
        ("gb2312", GBK, "退货地址在哪里？"),
        ("gb18030", GB18030, "表情😀与欧元€符号，以及𠀀字。"),
        ("big5", BIG5, "您好，我的訂單還沒有收到，請幫忙查詢。"),
        (
            "iso-2022-jp",
            ISO_2022_JP,
            "注文がまだ届いていません。確認してください。",
        ),
        (
            "iso-8859-1",
            WINDOWS_1252,
            "Grüße aus Köln, café à la crème.",
        ),
        ("utf-8", encoding_rs::UTF_8, "Ünïcödé ✓"),
    ];
    for (charset, encoding, text) in cases {
        let bytes = encode(encoding, text);
        let ext = if encoding == ISO_2022_JP || encoding == encoding_rs::UTF_8 {
            "7bit"
        } else {
            "8bit"
        };
        let headers = customer(&format!(
            "Content-Type: text/plain; charset=\"{charset}\"\nContent-Transfer-Encoding: {ext}"
        ));
        let p = parse_ok(&mail(&headers, &bytes));
        assert_eq!(p.message.text, text, "charset {charset}");
        // The same bytes in base64 decode the same.
        let headers = customer(&format!(
            "Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: base64"
        ));
        let p = parse_ok(&mail(&headers, STANDARD.encode(&bytes).as_bytes()));
        assert_eq!(p.message.text, text, "charset {charset} in base64");
    }
}

#[test]
fn attachments_are_metadata_with_a_size_cap() {
    let small = STANDARD.encode(b"%PDF-1.4 small invoice");
    let big = STANDARD.encode(vec![0x42u8; 4000]);
    let body = format!(
        "--MIX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n\
         --MIX\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"../../invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{small}\r\n\
         --MIX\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=\"=?UTF-8?B?{}?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{big}\r\n\
         --MIX--\r\n",
        STANDARD.encode("照片.jpg")
    );
    let raw = mail(
        &customer("Content-Type: multipart/mixed; boundary=\"MIX\""),
        body.as_bytes(),
    );
    let p = parse_ok(&raw);
    assert_eq!(p.message.text, "See attached.");
    let a = &p.message.attachments;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].name.as_deref(), Some("invoice.pdf"));
    assert_eq!(a[0].content_type, "application/pdf");
    assert_eq!(a[0].size, Some(22));
    assert_eq!(a[1].name.as_deref(), Some("照片.jpg"));
    assert_eq!(a[1].content_type, "image/jpeg");
    assert_eq!(
        a[1].size,
        Some(4000),
        "an oversize attachment keeps its real size"
    );
    assert_eq!(p.attachment_contents.len(), 2);
    assert_eq!(
        p.attachment_contents[0].as_deref(),
        Some(&b"%PDF-1.4 small invoice"[..])
    );
    assert_eq!(
        p.attachment_contents[1], None,
        "over the cap: content dropped"
    );
    assert_eq!(p.message.metadata.get("attachments_truncated"), Some("1"));
    assert_eq!(p.message.metadata.get("attachments_dropped"), None);

    // With a cap large enough, nothing is truncated.
    let roomy = ParseOptions {
        max_attachment_bytes: 10_000,
        ..options()
    };
    let p = parse("support", &raw, &roomy, ID.into(), at()).unwrap();
    assert!(p.attachment_contents.iter().all(Option::is_some));
    assert_eq!(p.message.metadata.get("attachments_truncated"), None);
}

#[test]
fn too_many_attachments_are_counted_not_listed() {
    let mut body = String::from("--M\r\nContent-Type: text/plain\r\n\r\nMany files\r\n");
    for i in 0..MAX_ATTACHMENTS + 3 {
        body.push_str(&format!("--M\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f{i}.bin\r\n\r\nx\r\n"));
    }
    body.push_str("--M--\r\n");
    let p = parse_ok(&mail(
        &customer("Content-Type: multipart/mixed; boundary=M"),
        body.as_bytes(),
    ));
    assert_eq!(p.message.attachments.len(), MAX_ATTACHMENTS);
    assert_eq!(p.message.metadata.get("attachments_dropped"), Some("3"));
}

#[test]
fn garbage_is_malformed_and_never_panics() {
    let cases: [&[u8]; 8] = [
        b"",
        b" \r\n\r\n ",
        b"hello world",
        b"\xff\xfe\x00\x01garbage\x00",
        b"Subject: no sender\r\n\r\nbody",
        b"From: not an address\r\n\r\nbody",
        b"From: <>\r\n\r\n",
        b"\r\n\r\nFrom: a@b.example\r\n",
    ];
    for raw in cases {
        let e = parse("support", raw, &options(), ID.into(), at()).unwrap_err();
        assert_eq!(
            e.kind(),
            switchboard_core::RejectKind::Malformed,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // Found by the fuzzer: nested message/rfc822 parts that trip a
    // debug assertion inside mail-parser. A result, never a panic.
    let nested = b"From: a@b.example\r\nContent-Type:multipart; boundary=R\n\r\n--RContent-Type: message/rfc822\r\n\r\n\
        Content-Type: message/rfc822\r\n\r\r\n\r\nx\n--R--\n";
    let result = parse("support", nested, &options(), ID.into(), at());
    if cfg!(debug_assertions) {
        assert!(
            matches!(result, Err(EmailError::Malformed(_))),
            "{result:?}"
        );
    }
    // Pseudo-random bytes, with and without a valid From in front: a result
    // either way, never a panic.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..500 {
        let len = (round * 7) % 600;
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        if round % 2 == 0 {
            let mut prefixed =
                b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
                    .to_vec();
            prefixed.append(&mut bytes);
            bytes = prefixed;
        }
        let _ = parse("support", &bytes, &options(), ID.into(), at());
    }
}
