//! The card a robot posts for an event, in Chinese or English, and its
//! shape for each provider. Pure: no I/O.
//!
//! Followed (message formats):
//! - WeCom group robot `markdown` (developer.work.weixin.qq.com/document/path/91770):
//!   `{"msgtype":"markdown","markdown":{"content":…}}`, content at most
//!   4096 bytes, links as `[text](url)`.
//! - DingTalk custom robot `actionCard`
//!   (open.dingtalk.com/document/orgapp/custom-bot-send-message-type):
//!   `{"msgtype":"actionCard","actionCard":{"title","text","btnOrientation","btns":[{"title","actionURL"}]}}`.
//! - Feishu custom bot `interactive` (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot):
//!   `{"msg_type":"interactive","card":{"config","header":{"title","template"},"elements":[…]}}`
//!   with `div` fields in `lark_md`, an `action` of `button`s with a `url`.
//!
//! The customer is masked as in the logs; customer text is bounded and
//! markdown-escaped so it cannot add links, headings or colour tags.

use serde_json::{json, Value};
use switchboard_core::Masked;

use crate::events::{self, Event};

/// The longest message excerpt on a card, in characters.
pub const EXCERPT_CHARS: usize = 200;

/// The language of a robot's cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// 中文 (the default).
    Zh,
    /// English.
    En,
}

impl Language {
    /// `zh` or `en` (checked by the configuration); anything else is `zh`.
    pub fn parse(code: Option<&str>) -> Language {
        match code {
            Some("en") => Language::En,
            _ => Language::Zh,
        }
    }
}

/// How urgent a card looks (Feishu's header colour, WeCom's font colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Routine.
    Info,
    /// Needs attention soon (an SLA warning).
    Warning,
    /// Something failed or is late.
    Alert,
    /// Done.
    Done,
}

/// A provider-neutral card: title, labelled fields, the excerpt, links.
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    /// Event kind in words, and the channel.
    pub title: String,
    /// Label → value, values already escaped.
    pub fields: Vec<(&'static str, String)>,
    /// The message excerpt, escaped, if any.
    pub excerpt: Option<String>,
    /// Label → URL.
    pub links: Vec<(&'static str, String)>,
    /// How urgent.
    pub tone: Tone,
}

fn kind_words(event_type: &str, lang: Language) -> (&'static str, Tone) {
    let (zh, en, tone) = match event_type {
        events::QUEUED => ("新会话", "New conversation", Tone::Info),
        events::ASSIGNED => ("已分配", "Assigned", Tone::Info),
        events::MESSAGE => ("新消息", "New message", Tone::Info),
        events::REPLIED => ("已回复", "Replied", Tone::Info),
        events::SEND_FAILED => ("发送失败", "Send failed", Tone::Alert),
        events::RESOLVED => ("已解决", "Resolved", Tone::Done),
        events::OFFERED => ("待接受", "Offered", Tone::Info),
        events::TRANSFERRED => ("已转接", "Transferred", Tone::Info),
        events::REOPENED => ("已重新打开", "Reopened", Tone::Info),
        events::BOT_REPLIED => ("机器人已回复", "Bot replied", Tone::Info),
        events::HANDED_OFF => ("转人工", "Handed off to a person", Tone::Info),
        events::SLA_WARNING => ("SLA 预警", "SLA warning", Tone::Warning),
        events::SLA_BREACHED => ("SLA 超时", "SLA breached", Tone::Alert),
        events::DELIVERY_DISABLED => ("投递已停用", "Delivery target disabled", Tone::Alert),
        events::AGENT_AWAY => ("坐席已离开", "Agent set away", Tone::Warning),
        _ => ("会话事件", "Conversation event", Tone::Info),
    };
    (if lang == Language::Zh { zh } else { en }, tone)
}

fn channel_words(channel: &str, lang: Language) -> String {
    let zh = match channel {
        "sms" => "短信",
        "wechat" => "微信",
        "email" => "邮件",
        "webchat" => "网页聊天",
        other => return escape(other),
    };
    if lang == Language::Zh { zh.to_owned() } else { escape(channel) }
}

/// Escapes markdown (and the HTML-ish tags WeCom and Feishu accept) in
/// untrusted text: specials get a backslash, `<`/`>` become full-width, and
/// line breaks become spaces so the text cannot start a heading or quote.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '~' | '|' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push('＜'),
            '>' => out.push('＞'),
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, with `…` when cut, then escaped.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut cut: String = text.trim().chars().take(max).collect();
    if text.trim().chars().nth(max).is_some() {
        cut.push('…');
    }
    escape(&cut)
}

/// The card for `event`; `base` is `server.public_url` (no trailing `/`).
pub fn card(event: &Event, base: &str, lang: Language) -> Card {
    let d = &event.data;
    let zh = lang == Language::Zh;
    let label = |zh_label: &'static str, en_label: &'static str| if zh { zh_label } else { en_label };
    let (kind, tone) = kind_words(&event.event_type, lang);
    let channel = if d.channel.is_empty() { "-".to_owned() } else { channel_words(&d.channel, lang) };
    let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { escape(s) };
    let customer = if d.customer.address.is_empty() { "-".to_owned() } else { escape(&Masked(&d.customer.address).to_string()) };
    let mut fields = vec![
        (label("客户", "Customer"), customer),
        (label("渠道", "Channel"), channel.clone()),
        (label("队列", "Queue"), dash(&d.queue)),
        (label("坐席", "Agent"), dash(d.agent.as_deref().unwrap_or(""))),
    ];
    let due = d.sla.as_ref().and_then(|s| s["due"].as_str()).and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    if let Some(due) = due {
        fields.push((label("SLA 截止", "SLA due"), due.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string()));
    }
    if let Some(reason) = d.reason.as_deref().or(d.error.as_deref()) {
        fields.push((label("原因", "Reason"), excerpt(reason, EXCERPT_CHARS)));
    }
    let excerpt = d.message.as_ref().map(|m| m.text.as_str()).filter(|t| !t.trim().is_empty()).map(|t| excerpt(t, EXCERPT_CHARS));
    let mut links = Vec::new();
    if !d.conversation_id.is_empty() {
        links.push((label("查看会话", "Open conversation"), format!("{base}/api/v1/conversations/{}", d.conversation_id)));
    }
    links.push((label("打开控制台", "Open dashboard"), format!("{base}/dashboard")));
    Card { title: format!("{kind} · {channel}"), fields, excerpt, links, tone }
}

/// The card as markdown lines (WeCom, DingTalk).
fn markdown(card: &Card, lang: Language, with_links: bool) -> String {
    let mut lines = vec![format!("### {}", card.title)];
    for (label, value) in &card.fields {
        lines.push(format!("> **{label}**: {value}"));
    }
    if let Some(text) = &card.excerpt {
        let said = if lang == Language::Zh { "消息" } else { "Message" };
        lines.push(String::new());
        lines.push(format!("**{said}**: {text}"));
    }
    if with_links {
        lines.push(String::new());
        lines.push(card.links.iter().map(|(label, url)| format!("[{label}]({url})")).collect::<Vec<_>>().join(" · "));
    }
    lines.join("\n")
}

/// The WeCom `markdown` message; an urgent card's title is coloured.
pub fn wecom_body(card: &Card, lang: Language) -> Value {
    let mut content = markdown(card, lang, true);
    let colour = match card.tone {
        Tone::Alert | Tone::Warning => Some("warning"),
        Tone::Done => Some("info"),
        Tone::Info => None,
    };
    if let Some(colour) = colour {
        content = content.replacen(&format!("### {}", card.title), &format!("### <font color=\"{colour}\">{}</font>", card.title), 1);
    }
    json!({ "msgtype": "markdown", "markdown": { "content": content } })
}

/// The DingTalk `actionCard` message, one button per link.
pub fn dingtalk_body(card: &Card, lang: Language) -> Value {
    let btns: Vec<Value> = card.links.iter().map(|(label, url)| json!({ "title": label, "actionURL": url })).collect();
    json!({
        "msgtype": "actionCard",
        "actionCard": {
            "title": card.title,
            "text": markdown(card, lang, false),
            "btnOrientation": "1",
            "btns": btns,
        }
    })
}

/// The Feishu `interactive` card; `signed` = (timestamp in seconds, sign).
pub fn feishu_body(card: &Card, lang: Language, signed: Option<(i64, String)>) -> Value {
    let template = match card.tone {
        Tone::Info => "blue",
        Tone::Warning => "orange",
        Tone::Alert => "red",
        Tone::Done => "green",
    };
    let fields: Vec<Value> = card
        .fields
        .iter()
        .map(|(label, value)| json!({ "is_short": true, "text": { "tag": "lark_md", "content": format!("**{label}**\n{value}") } }))
        .collect();
    let mut elements = vec![json!({ "tag": "div", "fields": fields })];
    if let Some(text) = &card.excerpt {
        let said = if lang == Language::Zh { "消息" } else { "Message" };
        elements.push(json!({ "tag": "div", "text": { "tag": "lark_md", "content": format!("**{said}**\n{text}") } }));
    }
    let buttons: Vec<Value> = card
        .links
        .iter()
        .enumerate()
        .map(|(i, (label, url))| {
            json!({ "tag": "button", "text": { "tag": "plain_text", "content": label }, "type": if i == 0 { "primary" } else { "default" }, "url": url })
        })
        .collect();
    elements.push(json!({ "tag": "action", "actions": buttons }));
    let mut body = json!({
        "msg_type": "interactive",
        "card": {
            "config": { "wide_screen_mode": true },
            "header": { "title": { "tag": "plain_text", "content": card.title }, "template": template },
            "elements": elements,
        }
    });
    if let Some((timestamp, sign)) = signed {
        body["timestamp"] = json!(timestamp.to_string());
        body["sign"] = json!(sign);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Customer, EventData, EventMessage};

    fn event(event_type: &str, text: &str) -> Event {
        Event {
            specversion: "1.0".into(),
            id: "c1:1".into(),
            source: "/switchboard/t".into(),
            event_type: event_type.into(),
            subject: "c1".into(),
            time: chrono::Utc::now(),
            datacontenttype: "application/json".into(),
            seq: Some(1),
            data: EventData {
                conversation_id: "01JCONV".into(),
                channel: "sms".into(),
                queue: "vip".into(),
                agent: Some("alice".into()),
                customer: Customer { address: "+14155550001".into(), ..Default::default() },
                message: Some(EventMessage { text: text.into(), ..Default::default() }),
                sla: Some(json!({ "due": "2026-12-04T20:00:00Z" })),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_card_masks_the_customer_and_speaks_the_targets_language() {
        let zh = card(&event(events::SLA_WARNING, "我的订单在哪里?"), "https://sb.example", Language::Zh);
        assert_eq!(zh.title, "SLA 预警 · 短信");
        assert_eq!(zh.tone, Tone::Warning);
        assert!(zh.fields.contains(&("客户", "+1415\\*\\*\\*\\*001".into())), "{:?}", zh.fields);
        assert!(zh.fields.contains(&("SLA 截止", "2026-12-04 20:00:00 UTC".into())));
        assert_eq!(zh.links[0].1, "https://sb.example/api/v1/conversations/01JCONV");
        assert_eq!(zh.links[1].1, "https://sb.example/dashboard");
        let en = card(&event(events::QUEUED, "hi"), "https://sb.example", Language::En);
        assert_eq!(en.title, "New conversation · sms");
        assert!(en.fields.iter().any(|(l, v)| *l == "Agent" && v == "alice"));
        let text = wecom_body(&zh, Language::Zh).to_string();
        assert!(!text.contains("+14155550001"), "never the full number: {text}");
    }

    #[test]
    fn customer_text_is_bounded_and_cannot_add_markup() {
        let long = "a".repeat(500);
        assert_eq!(excerpt(&long, EXCERPT_CHARS).chars().count(), EXCERPT_CHARS + 1);
        let hostile = "[click](https://evil.example) <font color=\"red\">x</font>\n# head";
        let e = excerpt(hostile, EXCERPT_CHARS);
        assert!(!e.contains("](") && !e.contains('<') && !e.contains('\n'), "{e}");
        assert!(e.starts_with("\\[click\\]\\(https://evil.example\\)"));
    }

    #[test]
    fn each_provider_gets_its_documented_shape() {
        let c = card(&event(events::SLA_BREACHED, "late"), "https://sb.example", Language::En);
        let w = wecom_body(&c, Language::En);
        assert_eq!(w["msgtype"], "markdown");
        assert!(w["markdown"]["content"].as_str().unwrap().contains("[Open conversation](https://sb.example/api/v1/conversations/01JCONV)"));
        let d = dingtalk_body(&c, Language::En);
        assert_eq!(d["msgtype"], "actionCard");
        assert_eq!(d["actionCard"]["btns"][1]["actionURL"], "https://sb.example/dashboard");
        assert!(d["actionCard"]["text"].as_str().unwrap().contains("**Message**: late"));
        let f = feishu_body(&c, Language::En, Some((1_700_000_000, "sig".into())));
        assert_eq!(f["msg_type"], "interactive");
        assert_eq!(f["timestamp"], "1700000000");
        assert_eq!(f["sign"], "sig");
        assert_eq!(f["card"]["header"]["template"], "red");
        assert_eq!(f["card"]["elements"][2]["actions"][0]["url"], "https://sb.example/api/v1/conversations/01JCONV");
        assert!(feishu_body(&c, Language::En, None).get("sign").is_none());
    }
}
