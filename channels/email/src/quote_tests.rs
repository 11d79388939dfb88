//! Tests of `quote.rs`: each reply-header form, signatures, and what must
//! be kept.

use super::strip_quoted;

/// The customer's own words in every case below.
const REPLY: &str = "Hi, my order #1234 has not arrived yet.\n\n我的订单还没有到。";

fn check(history: &str) {
    let full = format!("{REPLY}\n\n{history}");
    assert_eq!(
        strip_quoted(&full),
        REPLY,
        "history was not stripped:\n{history}"
    );
}

#[test]
fn english_on_wrote() {
    check("On Mon, Jan 8, 2024 at 10:00 AM Shop Support <support@shop.example> wrote:\n> Thanks for your order.\n> Best");
    // Wrapped over two lines, as Gmail does with long names.
    check(
        "On Mon, Jan 8, 2024 at 10:00 AM Shop Support <\nsupport@shop.example> wrote:\n\n> Thanks",
    );
    // A name-only header, recognized because quoted lines follow.
    check("Shop Support <support@shop.example> wrote:\n>\n> Thanks");
}

#[test]
fn chinese_wrote() {
    check(
        "在 2024年1月8日 上午10:00，Shop Support <support@shop.example> 写道：\n> 感谢您的订单。",
    );
    check("Shop Support <support@shop.example> 于2024年1月8日周一 10:00写道：\n\n> 感谢您的订单。");
    check("在 2024年1月8日，上午10:00，\nShop Support <support@shop.example> 写道:\n> 感谢");
}

#[test]
fn outlook_headers() {
    check("-----Original Message-----\nFrom: Shop Support\nSent: Monday, January 8, 2024 10:00 AM\nTo: Jane\nSubject: Your order\n\nThanks");
    check("________________________________\nFrom: Shop Support <support@shop.example>\nSent: Monday, January 8, 2024 10:00 AM\nTo: Jane\nSubject: Your order");
    check("*From:* Shop Support\n*Sent:* Monday\n*Subject:* Your order");
    check("From: Shop Support Sent: Monday, January 8, 2024 To: Jane Subject: Your order");
    check("发件人: Shop Support <support@shop.example>\n发送时间: 2024年1月8日 10:00\n收件人: Jane\n主题: 您的订单");
    check("发件人：Shop Support\n时间：2024年1月8日");
    check("------------------ 原始邮件 ------------------\n发件人: \"Shop Support\"<support@shop.example>;\n发送时间: 2024年1月8日(星期一) 上午10:00");
}

#[test]
fn other_languages_wrote() {
    // Thunderbird and Apple Mail in German, Gmail in German wrapped.
    check("Am 20.11.2026 um 10:00 schrieb Shop Support:\n> Ihre Bestellung wurde versandt.");
    check("Am Fr., 20. Nov. 2026 um 10:00 Uhr schrieb Shop Support <\nsupport@shop.example>:\n\n> Hallo");
    check("Le ven. 20 nov. 2026 à 10:00, Shop Support <support@shop.example> a écrit :\n> Bonjour");
    check(
        "El vie, 20 nov 2026 a las 10:00, Shop Support (<support@shop.example>) escribió:\n> Hola",
    );
    // Without a date these are sentences, not headers.
    let text = "Am Montag schrieb ich Ihnen:\nBitte stornieren.";
    assert_eq!(strip_quoted(text), text);
}

#[test]
fn client_separators() {
    // Outlook in Chinese, plain-text mode.
    check("-----邮件原件-----\n发件人: Shop Support [mailto:support@shop.example]\n发送时间: 2026年11月20日 10:00");
    // QQ Mail's plain-text part, literal entities and all.
    check("------------------&nbsp;原始邮件&nbsp;------------------\n发件人:                    \"Shop Support\"     <support@shop.example&gt;;\n发送时间:&nbsp;2026年11月20日(星期五) 上午10:00");
    // QQ Mail's phone app.
    check("---Original---\nFrom: \"Shop Support\"<support@shop.example&gt;\nDate: Fri, Nov 20, 2026 10:00 AM");
    // NetEase Mail Master: its fields have no colons, only the rule tells.
    check("---- 回复的原邮件 ----\n发件人 Shop Support<support@shop.example>\n发送日期 2026年11月20日 10:00\n\n您好");
    // Gmail's forward marker goes with what it introduces.
    check("---------- Forwarded message ---------\nFrom: Courier <noreply@courier.example>\nDate: Thu, Nov 19, 2026\n\nParcel returned.");
    check("---------- 转发的邮件 ---------\n发件人： Courier <noreply@courier.example>\nDate: 2026年11月19日周四 18:02");
}

#[test]
fn quoted_blocks_and_signatures() {
    check("> Thanks for your order.\n> > Earlier text");
    check("-- \nJane Doe\nAcme Corp, +1 415 555 0100");
    check("Sent from my iPhone");
    check("发自我的iPhone");
    check("发自我的华为手机\n\n------------------ 原始邮件 ------------------\n发件人: x");
    check("Get Outlook for Android");
}

#[test]
fn inline_answers_between_quotes_are_kept() {
    let text = "> Which size?\nLarge, please.\n> Which colour?\nBlue.";
    assert_eq!(strip_quoted(text), "Large, please.\nBlue.");
}

#[test]
fn ordinary_text_is_kept() {
    let text = "From: the invoice you sent, the total is wrong.\nI wrote: \"cancel\" last week.\n发自内心地感谢你们。\n-- not a signature";
    assert_eq!(strip_quoted(text), text);
    assert_eq!(strip_quoted("  \r\nHello\r\n\r\n"), "Hello");
}

#[test]
fn history_only_is_empty() {
    assert_eq!(
        strip_quoted("-----Original Message-----\nFrom: x\nSent: y"),
        ""
    );
}
