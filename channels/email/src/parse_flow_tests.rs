//! Tests of `parse.rs` for what the daemon acts on: threading keys, the
//! conversation token, quote stripping, loop protection and bounces.

use sha2::{Digest, Sha256};

use super::{customer, mail, parse_ok};

#[test]
fn threading_ids_are_normalized() {
    let extra = "In-Reply-To: < 01HXABC@shop.example >\n\
        References: <root@customer.example>\n <01HXAAA@shop.example> (comment)\n\t<01HXABC@shop.example> <root@customer.example>\n\
        Content-Type: text/plain";
    let p = parse_ok(&mail(&customer(extra), b"thanks"));
    assert_eq!(
        p.message_id.as_deref(),
        Some("CAF1234@mail.customer.example")
    );
    assert_eq!(p.in_reply_to.as_deref(), Some("01HXABC@shop.example"));
    assert_eq!(
        p.references,
        [
            "root@customer.example",
            "01HXAAA@shop.example",
            "01HXABC@shop.example"
        ]
    );
    assert_eq!(
        p.message.metadata.get("references"),
        Some("root@customer.example 01HXAAA@shop.example 01HXABC@shop.example")
    );

    // No Message-ID: the provider id is a hash of the bytes.
    let raw = mail("From: a@b.example\nSubject: x", b"body");
    let p = parse_ok(&raw);
    assert_eq!(p.message_id, None);
    let expected = format!("sha256:{}", hex::encode(Sha256::digest(&raw)));
    assert_eq!(p.message.provider_message_id, expected);
}

#[test]
fn conversation_token_from_each_recipient_header() {
    let base = "From: jane@customer.example\nSubject: Re: order\nMessage-ID: <x@customer.example>";
    let cases = [
        "To: \"Shop\" <support+01HXTOKEN1@shop.example>",
        "To: jane+news@customer.example\nCc: Shop <support+01HXTOKEN1@shop.example>",
        "To: alias@forwarder.example\nDelivered-To: support+01HXTOKEN1@shop.example",
        "To: undisclosed-recipients:;\nX-Original-To: support+01HXTOKEN1@shop.example",
    ];
    for headers in cases {
        let p = parse_ok(&mail(&format!("{base}\n{headers}"), b"hi"));
        assert_eq!(
            p.conversation_token.as_deref(),
            Some("01HXTOKEN1"),
            "{headers}"
        );
        assert_eq!(
            p.message.to.as_deref(),
            Some("support+01hxtoken1@shop.example"),
            "{headers}"
        );
        assert_eq!(
            p.message.metadata.get("conversation_token"),
            Some("01HXTOKEN1")
        );
    }
    let p = parse_ok(&mail(&format!("{base}\nTo: support@shop.example"), b"hi"));
    assert_eq!(p.conversation_token, None);
}

#[test]
fn quoted_history_is_stripped_and_the_full_text_kept() {
    let body = "Still nothing, please check.\r\n\r\n在 2023年11月10日 10:00，Shop Support <support@shop.example> 写道：\r\n> 您的包裹已发出。\r\n";
    let p = parse_ok(&mail(
        &customer("Content-Type: text/plain; charset=utf-8"),
        body.as_bytes(),
    ));
    assert_eq!(p.message.text, "Still nothing, please check.");
    assert!(p.full_text.contains("> 您的包裹已发出。"));
    assert!(p.full_text.starts_with("Still nothing, please check."));

    // A Gmail-style HTML reply: the blockquote is quoted history too.
    let html = "<div>Any news?</div><div class=\"gmail_quote\"><div>On Fri, Nov 10, 2023 at 10:00 AM Shop Support &lt;support@shop.example&gt; wrote:<br></div>\
        <blockquote>Your parcel is on its way.</blockquote></div>";
    let p = parse_ok(&mail(
        &customer("Content-Type: text/html; charset=utf-8"),
        html.as_bytes(),
    ));
    assert_eq!(p.message.text, "Any news?");
    assert!(p.full_text.contains("> Your parcel is on its way."));

    // All history: the agent sees the full text rather than nothing.
    let body =
        "-----Original Message-----\r\nFrom: someone\r\nSent: Monday\r\n\r\nForwarded question";
    let p = parse_ok(&mail(
        &customer("Content-Type: text/plain"),
        body.as_bytes(),
    ));
    assert_eq!(p.message.text, p.full_text);
}

#[test]
fn loop_protection_rules() {
    let cases: [(&str, &str, Option<&str>); 17] = [
        (
            "jane@customer.example",
            "Auto-Submitted: auto-replied",
            Some("auto-submitted: auto-replied"),
        ),
        (
            "jane@customer.example",
            "Auto-Submitted: auto-generated; owner-email=x@y",
            Some("auto-submitted: auto-generated"),
        ),
        ("jane@customer.example", "Auto-Submitted: no", None),
        (
            "jane@customer.example",
            "Precedence: bulk",
            Some("precedence: bulk"),
        ),
        (
            "jane@customer.example",
            "Precedence: list",
            Some("precedence: list"),
        ),
        (
            "jane@customer.example",
            "Precedence: junk",
            Some("precedence: junk"),
        ),
        ("jane@customer.example", "Precedence: first-class", None),
        (
            "jane@customer.example",
            "List-Id: Shop news <news.shop.example>",
            Some("list-id"),
        ),
        (
            "jane@customer.example",
            "X-Autoreply: yes",
            Some("x-autoreply"),
        ),
        (
            "MAILER-DAEMON@mx.customer.example",
            "X-Other: 1",
            Some("from mailer-daemon"),
        ),
        (
            "Postmaster@customer.example",
            "X-Other: 1",
            Some("from postmaster"),
        ),
        (
            "jane@customer.example",
            "Return-Path: <>",
            Some("null return-path"),
        ),
        (
            "jane@customer.example",
            "Return-Path: <jane@customer.example>",
            None,
        ),
        ("jane@customer.example", "X-Other: 1", None),
        // An Exchange inbox-rule answer carries only this.
        (
            "jane@customer.example",
            "X-Auto-Response-Suppress: All",
            Some("x-auto-response-suppress"),
        ),
        (
            "jane@customer.example",
            "X-Auto-Response-Suppress: DR, OOF",
            Some("x-auto-response-suppress"),
        ),
        // Suppressing receipts only is no reason to stay silent.
        (
            "jane@customer.example",
            "X-Auto-Response-Suppress: DR, RN, NRN",
            None,
        ),
    ];
    for (from, extra, expected) in cases {
        let headers = format!(
            "From: {from}\nTo: support@shop.example\nMessage-ID: <m1@customer.example>\n{extra}"
        );
        let p = parse_ok(&mail(&headers, b"I am away until Monday."));
        assert_eq!(p.auto.as_deref(), expected, "{from} / {extra}");
        assert_eq!(p.message.metadata.get("auto"), expected);
    }
    // Our own Message-ID domain (a subdomain counts) means our mail came back.
    for id in ["<01HXOWN@shop.example>", "<01HXOWN@mail.shop.example>"] {
        let headers = format!("From: jane@customer.example\nMessage-ID: {id}");
        assert_eq!(
            parse_ok(&mail(&headers, b"x")).auto.as_deref(),
            Some("own message-id domain")
        );
    }
    let headers = "From: jane@customer.example\nMessage-ID: <01HXOWN@notshop.example>";
    assert_eq!(parse_ok(&mail(headers, b"x")).auto, None);
}

/// A delivery-status report about `<01HXSENT@shop.example>`.
fn bounce(action: &str, original_part: &str, extra: &str) -> Vec<u8> {
    let headers = format!(
        "From: Mail Delivery System <bounces@mx.customer.example>\nTo: support@shop.example\n\
         Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn1@mx.customer.example>\n{extra}\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"RPT\""
    );
    let body = format!(
        "--RPT\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --RPT\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; jane@customer.example\r\nAction: {action}\r\nStatus: 5.1.1\r\n\r\n\
         --RPT\r\n{original_part}\r\n\r\nFrom: support@shop.example\r\nTo: jane@customer.example\r\n\
         Message-ID: <01HXSENT@shop.example>\r\nSubject: Re: order\r\n\r\nYour refund is on its way.\r\n--RPT--\r\n"
    );
    mail(&headers, body.as_bytes())
}

#[test]
fn bounces_name_the_failed_message() {
    let p = parse_ok(&bounce("failed", "Content-Type: message/rfc822", ""));
    assert_eq!(p.bounce_of.as_deref(), Some("01HXSENT@shop.example"));
    assert_eq!(p.auto.as_deref(), Some("delivery-status report"));
    assert_eq!(
        p.message.metadata.get("bounce_of"),
        Some("01HXSENT@shop.example")
    );
    assert_eq!(p.message.text, "Your message could not be delivered.");

    let p = parse_ok(&bounce(
        "failed",
        "Content-Type: text/rfc822-headers",
        "Auto-Submitted: auto-replied\n",
    ));
    assert_eq!(p.bounce_of.as_deref(), Some("01HXSENT@shop.example"));
    assert_eq!(p.auto.as_deref(), Some("auto-submitted: auto-replied"));

    // A delay notice is flagged but names no failure.
    let p = parse_ok(&bounce("delayed", "Content-Type: message/rfc822", ""));
    assert_eq!(p.bounce_of, None);
    assert_eq!(p.auto.as_deref(), Some("delivery-status report"));

    // An ordinary mail with an attached message is not a bounce.
    let raw = mail(
        &customer("Content-Type: multipart/mixed; boundary=M"),
        b"--M\r\nContent-Type: text/plain\r\n\r\nFYI\r\n--M\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\nMessage-ID: <fw@y.example>\r\n\r\nhi\r\n--M--\r\n",
    );
    let p = parse_ok(&raw);
    assert_eq!(p.bounce_of, None);
    assert_eq!(p.auto, None);
}
