//! Tests of `decode.rs` for events, on pushes written from WeChat's
//! published event formats (helpers shared with `decode_tests.rs`).

use super::tests::{event, event_sample, malformed, sample, OPENID};
use super::*;

#[test]
fn subscribe_plain_and_by_qr_scene() {
    let e = event(&event_sample(
        "subscribe",
        "<EventKey><![CDATA[]]></EventKey>",
    ));
    assert_eq!(e.kind, EventKind::Subscribe);
    assert_eq!(e.open_id, OPENID);
    assert_eq!(e.to, "gh_10f6c3c3ac5a");
    assert_eq!(e.create_time, 1348831860);
    assert_eq!((e.event_key, e.scene), (None, None));

    let e = event(&event_sample(
        "subscribe",
        "<EventKey><![CDATA[qrscene_123123]]></EventKey>\n  <Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRw]]></Ticket>",
    ));
    assert_eq!(e.event_key.as_deref(), Some("qrscene_123123"));
    assert_eq!(e.scene.as_deref(), Some("123123"));
    assert!(!e.kind.is_conversational());
    assert!(e.kind.opens_reply_window());
}

#[test]
fn unsubscribe_scan_click_view() {
    let e = event(&event_sample(
        "unsubscribe",
        "<EventKey><![CDATA[]]></EventKey>",
    ));
    assert_eq!(e.kind, EventKind::Unsubscribe);
    assert!(!e.kind.is_conversational() && !e.kind.opens_reply_window());

    let e = event(&event_sample(
        "SCAN",
        "<EventKey><![CDATA[123123]]></EventKey><Ticket><![CDATA[t]]></Ticket>",
    ));
    assert_eq!(e.kind, EventKind::Scan);
    assert_eq!(e.scene.as_deref(), Some("123123"));
    assert!(!e.kind.is_conversational() && e.kind.opens_reply_window());

    let e = event(&event_sample(
        "CLICK",
        "<EventKey><![CDATA[HUMAN_AGENT]]></EventKey>",
    ));
    assert_eq!(e.kind, EventKind::Click);
    assert_eq!(e.event_key.as_deref(), Some("HUMAN_AGENT"));
    assert_eq!(e.scene, None);
    assert!(e.kind.is_conversational() && e.kind.opens_reply_window());

    let e = event(&event_sample(
        "VIEW",
        "<EventKey><![CDATA[https://shop.example/orders]]></EventKey><MenuId>1</MenuId>",
    ));
    assert_eq!(e.kind, EventKind::View);
    assert_eq!(e.event_key.as_deref(), Some("https://shop.example/orders"));
    assert!(!e.kind.is_conversational() && !e.kind.opens_reply_window());
}

#[test]
fn location_event() {
    let e = event(&event_sample(
        "LOCATION",
        "<Latitude>23.137466</Latitude>\n  <Longitude>113.352425</Longitude>\n  <Precision>119.385040</Precision>",
    ));
    assert_eq!(e.kind, EventKind::Location);
    assert_eq!(e.location, Some((23.137466, 113.352425, 119.38504)));
    assert!(!e.kind.is_conversational());
    let bad = event_sample(
        "LOCATION",
        "<Latitude>north</Latitude><Longitude>1</Longitude><Precision>1</Precision>",
    );
    assert!(malformed(&bad).contains("Latitude"));
    let missing = event_sample("LOCATION", "<Latitude>1</Latitude><Longitude>1</Longitude>");
    assert!(malformed(&missing).contains("Precision"));
    let inf = event_sample(
        "LOCATION",
        "<Latitude>inf</Latitude><Longitude>1</Longitude><Precision>1</Precision>",
    );
    malformed(&inf);
}

#[test]
fn other_events_are_kept_by_name() {
    let e = event(&event_sample(
        "TEMPLATESENDJOBFINISH",
        "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>",
    ));
    assert_eq!(e.kind, EventKind::Other("TEMPLATESENDJOBFINISH".into()));
    assert_eq!(e.kind.as_str(), "TEMPLATESENDJOBFINISH");
    assert!(!e.kind.is_conversational());
    // Case does not matter for the known ones.
    assert_eq!(
        event(&event_sample("click", "<EventKey>K</EventKey>")).kind,
        EventKind::Click
    );
    assert!(malformed(&sample("event", "<EventKey>K</EventKey>")).contains("Event"));
}

#[test]
fn event_debug_masks_the_open_id() {
    let e = event(&event_sample("CLICK", "<EventKey>K</EventKey>"));
    let debug = format!("{e:?}");
    assert!(!debug.contains(OPENID), "{debug}");
    assert!(debug.contains("Click"));
}

#[test]
fn create_time_out_of_range_is_malformed() {
    // `create_time * 1000` of this wrapped an i64; a far-future value gave
    // a date around the year 255,000.
    for bad in ["9223372036854775807", "8048365276800000", "253402300800", "-1"] {
        let xml = event_sample("subscribe", "").replace("1348831860", bad);
        assert!(malformed(&xml).contains("CreateTime"), "{bad}");
        let xml = sample("text", "<Content><![CDATA[hi]]></Content><MsgId>1</MsgId>").replace("1348831860", bad);
        assert!(malformed(&xml).contains("CreateTime"), "{bad}");
    }
    let xml = event_sample("subscribe", "").replace("1348831860", "253402300799");
    assert_eq!(event(&xml).create_time, MAX_CREATE_TIME);
}
