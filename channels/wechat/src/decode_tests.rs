//! Tests of `decode.rs` on pushes written from WeChat's published formats
//! (CDATA, newlines and indentation as WeChat sends them), through the real
//! `Verified::check`.

use chrono::TimeZone as _;
use secrecy::SecretString;

use super::*;
use crate::signature::signature;
use crate::verify::Verified;
use crate::{AccountKeys, PushQuery};

pub(super) const OPENID: &str = "oyORnuP8q7ou2gfYjqLzSIWZf0rs";

/// A plaintext-mode push of `xml`, correctly signed.
pub(super) fn verified(xml: &str) -> Verified {
    let keys = AccountKeys::new("wx1", SecretString::from("tok"), None).unwrap();
    let q = PushQuery {
        signature: Some(signature(&["tok", "1700000000", "42"])),
        timestamp: Some("1700000000".into()),
        nonce: Some("42".into()),
        ..PushQuery::default()
    };
    Verified::check(&keys, &q, xml.as_bytes()).unwrap()
}

pub(super) fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub(super) fn push(xml: &str) -> Result<Push> {
    decode(
        "shop",
        &verified(xml),
        "01HX0000000000000000000001".into(),
        at(),
    )
}

pub(super) fn message(xml: &str) -> InboundMessage {
    match push(xml).unwrap() {
        Push::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub(super) fn event(xml: &str) -> WechatEvent {
    match push(xml).unwrap() {
        Push::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// A push in WeChat's layout: the common header, then `rest`.
pub(super) fn sample(msg_type: &str, rest: &str) -> String {
    format!(
        "<xml>\n  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n  \
         <FromUserName><![CDATA[{OPENID}]]></FromUserName>\n  <CreateTime>1348831860</CreateTime>\n  \
         <MsgType><![CDATA[{msg_type}]]></MsgType>\n  {rest}\n</xml>"
    )
}

pub(super) fn event_sample(event: &str, rest: &str) -> String {
    sample(
        "event",
        &format!("<Event><![CDATA[{event}]]></Event>\n  {rest}"),
    )
}

pub(super) fn malformed(xml: &str) -> String {
    match push(xml) {
        Err(e @ WechatError::Malformed(_)) => e.to_string(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn demo_vector_decodes_with_the_exact_msg_id() {
    let keys = crate::vectors::demo_keys();
    let v = Verified::check(
        &keys,
        &crate::vectors::demo_query(),
        crate::vectors::demo_body().as_bytes(),
    )
    .unwrap();
    let Push::Message(m) = decode("shop", &v, "id1".into(), at()).unwrap() else {
        panic!("the demo is a text message");
    };
    assert_eq!(m.provider_message_id, "6054768590064713728");
    assert_eq!(m.text, "abcdteT");
    assert_eq!(m.customer, OPENID);
    assert_eq!(m.to.as_deref(), Some("gh_10f6c3c3ac5a"));
    assert_eq!(m.metadata.get("CreateTime"), Some("1409735668"));
}

#[test]
fn text() {
    let m = message(&sample(
        "text",
        "<Content><![CDATA[我要退款, where is my order?]]></Content>\n  <MsgId>18446744073709551615</MsgId>\n  \
         <MsgDataId><![CDATA[2247483650_1]]></MsgDataId>\n  <Idx><![CDATA[1]]></Idx>",
    ));
    assert_eq!(m.id, "01HX0000000000000000000001");
    assert_eq!(m.channel, Channel::Wechat);
    assert_eq!(m.account, "shop");
    assert_eq!(m.provider_message_id, "18446744073709551615");
    assert_eq!(m.customer, OPENID);
    assert_eq!(m.to.as_deref(), Some("gh_10f6c3c3ac5a"));
    assert_eq!(m.text, "我要退款, where is my order?");
    assert!(m.attachments.is_empty());
    assert_eq!(m.received_at, at());
    assert_eq!(m.metadata.get("MsgType"), Some("text"));
    assert_eq!(m.metadata.get("CreateTime"), Some("1348831860"));
    assert_eq!(m.metadata.get("MsgDataId"), Some("2247483650_1"));
    // Identity and text are fields of the message, not metadata.
    for absent in ["Content", "FromUserName", "ToUserName", "MsgId"] {
        assert_eq!(m.metadata.get(absent), None, "{absent}");
    }
}

#[test]
fn image() {
    let m = message(&sample(
        "image",
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/abc/0]]></PicUrl>\n  \
         <MediaId><![CDATA[media_id_1]]></MediaId>\n  <MsgId>1234567890123456</MsgId>",
    ));
    assert_eq!(m.text, "");
    assert_eq!(
        m.attachments,
        vec![Attachment {
            content_type: "image/*".into(),
            url: Some("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0".into()),
            media_id: Some("media_id_1".into()),
            ..Attachment::default()
        }]
    );
    let bad = sample(
        "image",
        "<PicUrl><![CDATA[javascript:alert(1)]]></PicUrl><MsgId>1</MsgId>",
    );
    assert!(malformed(&bad).contains("PicUrl"));
}

#[test]
fn voice_with_and_without_recognition() {
    let m = message(&sample(
        "voice",
        "<MediaId><![CDATA[media_id_2]]></MediaId>\n  <Format><![CDATA[amr]]></Format>\n  \
         <Recognition><![CDATA[腾讯微信团队]]></Recognition>\n  <MsgId>1234567890123456</MsgId>",
    ));
    assert_eq!(m.text, "腾讯微信团队");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].content_type, "audio/amr");
    assert_eq!(m.attachments[0].media_id.as_deref(), Some("media_id_2"));
    assert_eq!(m.metadata.get("Format"), Some("amr"));
    assert_eq!(m.metadata.get("Recognition"), None);

    let m = message(&sample(
        "voice",
        "<MediaId><![CDATA[m3]]></MediaId><Format><![CDATA[Speex]]></Format><MsgId>2</MsgId>",
    ));
    assert_eq!(m.text, "");
    assert_eq!(m.attachments[0].content_type, "audio/speex");
    let m = message(&sample(
        "voice",
        "<MediaId>m4</MediaId><Format>a/b</Format><MsgId>3</MsgId>",
    ));
    assert_eq!(m.attachments[0].content_type, "audio/*");
}

#[test]
fn video_and_shortvideo() {
    for kind in ["video", "shortvideo"] {
        let m = message(&sample(
            kind,
            "<MediaId><![CDATA[media_id_v]]></MediaId>\n  <ThumbMediaId><![CDATA[thumb_1]]></ThumbMediaId>\n  \
             <MsgId>1234567890123456</MsgId>",
        ));
        assert_eq!(m.text, "");
        assert_eq!(m.attachments.len(), 1, "{kind}");
        assert_eq!(m.attachments[0].content_type, "video/*");
        assert_eq!(m.attachments[0].media_id.as_deref(), Some("media_id_v"));
        assert_eq!(m.metadata.get("ThumbMediaId"), Some("thumb_1"));
        assert_eq!(m.metadata.get("MsgType"), Some(kind));
    }
}

#[test]
fn location() {
    let m = message(&sample(
        "location",
        "<Location_X>23.134521</Location_X>\n  <Location_Y>113.358803</Location_Y>\n  <Scale>20</Scale>\n  \
         <Label><![CDATA[广州市天河区]]></Label>\n  <MsgId>1234567890123456</MsgId>",
    ));
    assert_eq!(m.text, "广州市天河区");
    assert_eq!(m.metadata.get("Location_X"), Some("23.134521"));
    assert_eq!(m.metadata.get("Location_Y"), Some("113.358803"));
    assert_eq!(m.metadata.get("Scale"), Some("20"));
    assert_eq!(m.metadata.get("Label"), Some("广州市天河区"));
    let unlabeled = message(&sample(
        "location",
        "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale><Label><![CDATA[]]></Label><MsgId>5</MsgId>",
    ));
    assert_eq!(unlabeled.text, "[location 23.1, 113.3]");
}

#[test]
fn link() {
    let m = message(&sample(
        "link",
        "<Title><![CDATA[公众平台官网链接]]></Title>\n  <Description><![CDATA[公众平台官网链接]]></Description>\n  \
         <Url><![CDATA[https://mp.weixin.qq.com/s/abc]]></Url>\n  <MsgId>1234567890123456</MsgId>",
    ));
    assert_eq!(m.text, "公众平台官网链接\nhttps://mp.weixin.qq.com/s/abc");
    assert_eq!(m.metadata.get("Description"), Some("公众平台官网链接"));
    assert_eq!(
        m.metadata.get("Url"),
        Some("https://mp.weixin.qq.com/s/abc")
    );
}

#[test]
fn unknown_message_type_is_kept() {
    let m = message(&sample(
        "miniprogrampage",
        "<Title><![CDATA[Order #42]]></Title><AppId><![CDATA[wxabc]]></AppId>\
         <PagePath><![CDATA[pages/order?id=42]]></PagePath><MsgId>77</MsgId>",
    ));
    assert_eq!(m.text, "");
    assert_eq!(m.provider_message_id, "77");
    assert_eq!(m.metadata.get("MsgType"), Some("miniprogrampage"));
    assert_eq!(m.metadata.get("PagePath"), Some("pages/order?id=42"));
    assert_eq!(m.metadata.get("AppId"), Some("wxabc"));
}

#[test]
fn required_fields() {
    let text = "<Content><![CDATA[hi]]></Content><MsgId>1</MsgId>";
    let without = |field: &str| sample("text", text).replace(field, "Removed");
    assert!(malformed(&without("FromUserName")).contains("FromUserName"));
    assert!(malformed(&without("CreateTime")).contains("CreateTime"));
    assert!(malformed(&without("MsgType")).contains("MsgType"));
    // ToUserName is optional.
    assert_eq!(message(&without("ToUserName")).to, None);
    let blank = sample("text", text).replace(&format!("<![CDATA[{OPENID}]]>"), "<![CDATA[ ]]>");
    assert!(malformed(&blank).contains("FromUserName"));
    let twice = sample("text", &format!("{text}<FromUserName>other</FromUserName>"));
    assert!(malformed(&twice).contains("more than once"));
    let late = sample("text", text).replace("1348831860", "yesterday");
    assert!(malformed(&late).contains("CreateTime"));
    for bad_id in ["-1", "1.5", "18446744073709551616", "abc"] {
        let xml = sample(
            "text",
            &format!("<Content>x</Content><MsgId>{bad_id}</MsgId>"),
        );
        assert!(malformed(&xml).contains("MsgId"), "{bad_id}");
    }
    assert!(malformed("<xml><Content>not closed</xml>").contains("XML"));
}

#[test]
fn retries_share_a_key_and_distinct_pushes_do_not() {
    let xml = sample(
        "text",
        "<Content>hi</Content><MsgId>6054768590064713728</MsgId>",
    );
    let first = push(&xml).unwrap();
    let retry = decode(
        "shop",
        &verified(&xml),
        "01HX0000000000000000000002".into(),
        at(),
    )
    .unwrap();
    assert_eq!(first.dedupe_key(), "6054768590064713728");
    assert_eq!(first.dedupe_key(), retry.dedupe_key());
    let other = push(&sample(
        "text",
        "<Content>hi</Content><MsgId>6054768590064713729</MsgId>",
    ))
    .unwrap();
    assert_ne!(first.dedupe_key(), other.dedupe_key());

    let subscribe = push(&event_sample("subscribe", "")).unwrap();
    assert_eq!(
        subscribe.dedupe_key(),
        format!("{OPENID}:1348831860:subscribe")
    );
    assert_eq!(
        subscribe.dedupe_key(),
        push(&event_sample("subscribe", "")).unwrap().dedupe_key()
    );
    // Two events of one user in the same second stay two events.
    let location = push(&event_sample(
        "LOCATION",
        "<Latitude>1</Latitude><Longitude>2</Longitude><Precision>3</Precision>",
    ))
    .unwrap();
    assert_ne!(subscribe.dedupe_key(), location.dedupe_key());
    let later = event_sample("subscribe", "").replace("1348831860", "1348831861");
    assert_ne!(subscribe.dedupe_key(), push(&later).unwrap().dedupe_key());
    // A message type without MsgId falls back to the same scheme.
    let no_id = push(&sample("text", "<Content>hi</Content>")).unwrap();
    assert_eq!(no_id.dedupe_key(), format!("{OPENID}:1348831860:text"));
}

#[test]
fn metadata_is_bounded_and_known_fields_win() {
    let junk: String = (0..100).map(|i| format!("<Junk{i}>x</Junk{i}>")).collect();
    let m = message(&sample(
        "location",
        &format!("{junk}<Location_X>1</Location_X><Location_Y>2</Location_Y><Scale>3</Scale><Label>L</Label><MsgId>9</MsgId>"),
    ));
    assert!(m.metadata.len() <= Metadata::MAX_ENTRIES);
    for known in [
        "MsgType",
        "CreateTime",
        "Location_X",
        "Location_Y",
        "Scale",
        "Label",
    ] {
        assert!(m.metadata.get(known).is_some(), "{known}");
    }
}
