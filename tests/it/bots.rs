//! Bot first, person on request: an FAQ bot answering on SMS with no
//! agent, the customer asking for a person (the SLA clock starting at the
//! hand-off), FAQ misses handing off, and webhook bots that time out,
//! hand off, or answer with a bad signature.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::support::{sms, wait_until, FakePeer, TestApp, TWILIO_TOKEN};

const WAIT: Duration = Duration::from_secs(15);
const BOT_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config(twilio: &FakePeer, bot: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        [sla.policies.std]
        first_response_secs = 600
        [queues.general]
        bot = "shop"
        sla = "std"
        [queues.returns]
        sla = "std"
        {bot}
        "#,
        twilio = twilio.base(),
    )
}

const FAQ: &str = r#"
        [bots.shop]
        kind = "faq"
        max_misses = 2
        [[bots.shop.answers]]
        when = "运费|shipping (fee|cost)"
        reply = { zh = "满 99 元包邮，不满收 8 元。", en = "Free shipping over ¥99, else ¥8." }
        [[bots.shop.answers]]
        when = ["退货", "return policy"]
        reply = { zh = "7 天无理由退货。", en = "7-day returns, no questions asked." }
        then = "resolve"
"#;

async fn conversation(app: &TestApp, id: &str) -> Value {
    reqwest::Client::new()
        .get(app.url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Events of the instance's log, as they arrive.
struct Log(async_nats::Subscriber);

impl Log {
    async fn open(app: &TestApp) -> Log {
        let nats = async_nats::connect(&app.settings.nats.url).await.unwrap();
        let sub = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
        nats.flush().await.unwrap();
        Log(sub)
    }

    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.0.next()).await.expect(kind).unwrap();
            let e: Value = serde_json::from_slice(&msg.payload).unwrap();
            if e["type"] == kind {
                return e;
            }
        }
    }
}

fn bodies(twilio: &FakePeer) -> Vec<String> {
    twilio.seen().iter().filter_map(|r| r.form_value("Body")).collect()
}

fn authors(conv: &Value) -> Vec<(String, String)> {
    conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["direction"].as_str().unwrap_or("").to_owned(), m["author"].as_str().unwrap_or("").to_owned()))
        .collect()
}

#[tokio::test]
async fn an_faq_question_on_sms_is_answered_by_the_bot_with_no_agent() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, FAQ)).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMbot1", "+14155550101", "请问运费多少？").await;
    let replied = log.next_of("switchboard.conversation.bot_replied").await;
    assert_eq!(replied["data"]["message"]["text"], "满 99 元包邮，不满收 8 元。");
    assert!(replied["data"].get("agent").is_none());
    let id = replied["data"]["conversation_id"].as_str().unwrap().to_owned();
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].form_value("To").as_deref(), Some("+14155550101"));
    assert_eq!(sent[0].form_value("Body").as_deref(), Some("满 99 元包邮，不满收 8 元。"));

    // The same provider message again: no second answer.
    sms(&app, "SMbot1", "+14155550101", "请问运费多少？").await;
    // An English question in the same conversation: answered in the
    // conversation's language (zh, from its first message).
    sms(&app, "SMbot2", "+14155550101", "and the return policy?").await;
    let resolved = log.next_of("switchboard.conversation.resolved").await;
    assert_eq!(resolved["data"]["conversation_id"], id.as_str());
    let sent = twilio.wait_for(2, WAIT).await;
    assert_eq!(sent.len(), 2, "{:?}", bodies(&twilio));
    assert_eq!(bodies(&twilio)[1], "7 天无理由退货。");

    let conv = conversation(&app, &id).await;
    assert_eq!(conv["conversation"]["state"], "resolved");
    assert_eq!(conv["conversation"]["resolved_by"], "bot");
    assert_eq!(conv["conversation"]["bot"], "shop");
    assert!(conv["conversation"]["agent"].is_null(), "no agent was involved");
    assert_eq!(
        authors(&conv),
        [("inbound", ""), ("outbound", "bot"), ("inbound", ""), ("outbound", "bot")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(conv["sla"].as_array().unwrap().is_empty(), "the bot's conversation runs no clock");
    // Alice was never given it.
    let mine: Value = reqwest::Client::new()
        .get(app.url("/api/v1/conversations?agent=alice"))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["conversations"].as_array().map(Vec::len), Some(0), "{mine}");
    app.stop().await;
}

#[tokio::test]
async fn asking_for_a_person_hands_off_and_starts_the_first_response_clock() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, FAQ)).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMho1", "+14155550102", "shipping fee?").await;
    let replied = log.next_of("switchboard.conversation.bot_replied").await;
    let id = replied["data"]["conversation_id"].as_str().unwrap().to_owned();
    assert!(conversation(&app, &id).await["sla"].as_array().unwrap().is_empty());
    // Time passes with the bot: it does not count toward the first response.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sms(&app, "SMho2", "+14155550102", "转人工").await;
    let handed = log.next_of("switchboard.conversation.handed_off").await;
    assert_eq!(handed["data"]["reason"], "the customer asked for a person");
    let assigned = log.next_of("switchboard.conversation.assigned").await;
    assert_eq!(assigned["data"]["agent"], "alice");
    let handed_at = chrono::DateTime::parse_from_rfc3339(handed["time"].as_str().unwrap()).unwrap();

    let conv = wait_until(WAIT, || async {
        let c = conversation(&app, &id).await;
        (!c["sla"].as_array().unwrap().is_empty()).then_some(c)
    })
    .await
    .expect("clocks started at the hand-off");
    assert_eq!(conv["conversation"]["state"], "assigned");
    assert_eq!(conv["conversation"]["agent"], "alice");
    let first = conv["sla"].as_array().unwrap().iter().find(|c| c["clock"] == "first_response").unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(first["due"].as_str().unwrap()).unwrap();
    let from_handoff = (due - handed_at).num_milliseconds();
    assert!((599_000..=601_000).contains(&from_handoff), "due {due} is 600 s after the hand-off {handed_at}");
    // The thread is kept: the agent sees the bot's turns and the notice.
    assert_eq!(
        authors(&conv),
        [("inbound", ""), ("outbound", "bot"), ("inbound", ""), ("outbound", "bot")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let sent = twilio.wait_for(2, WAIT).await;
    assert_eq!(sent[1].form_value("Body").as_deref(), Some("Connecting you to a person, please wait a moment."));

    // From now on the agent answers: the bot says nothing more.
    sms(&app, "SMho3", "+14155550102", "shipping fee again?").await;
    log.next_of("switchboard.conversation.message").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.seen().len(), 2, "{:?}", bodies(&twilio));
    app.stop().await;
}

#[tokio::test]
async fn faq_misses_in_a_row_hand_off() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, FAQ)).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMmiss1", "+14155550103", "where is my parcel").await;
    let first = log.next_of("switchboard.conversation.bot_replied").await;
    assert!(first["data"]["message"]["text"].as_str().unwrap().starts_with("Sorry, I did not understand"));
    sms(&app, "SMmiss2", "+14155550103", "my parcel is late").await;
    let handed = log.next_of("switchboard.conversation.handed_off").await;
    assert_eq!(handed["data"]["reason"], "no answer 2 times in a row");
    log.next_of("switchboard.conversation.assigned").await;
    app.stop().await;
}

#[tokio::test]
async fn a_message_past_max_bot_turns_goes_to_a_person() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &FAQ.replace("max_misses = 2", "max_misses = 2\n        max_bot_turns = 1"))).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMturn1", "+14155550112", "shipping fee?").await;
    log.next_of("switchboard.conversation.bot_replied").await;
    sms(&app, "SMturn2", "+14155550112", "and the shipping cost to Beijing?").await;
    let handed = log.next_of("switchboard.conversation.handed_off").await;
    assert_eq!(handed["data"]["reason"], "max_bot_turns reached (1)");
    log.next_of("switchboard.conversation.assigned").await;
    let sent = twilio.wait_for(2, WAIT).await;
    assert_eq!(sent.len(), 2, "the answer, then the hand-off notice only: {:?}", bodies(&twilio));
    app.stop().await;
}

/// A webhook bot's configuration at `url`.
fn webhook_bot(url: &str, timeout_ms: u64) -> String {
    format!(
        r#"
        [bots.shop]
        kind = "webhook"
        url = "{url}"
        secret = "{BOT_SECRET}"
        timeout_ms = {timeout_ms}
        "#
    )
}

/// A bot's answer signed with `secret`.
fn signed(body: &str, secret: &str) -> (u16, Vec<(String, String)>, String) {
    let key = switchboard::signing::decode_secret(secret).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let sig = switchboard::signing::sign(&key, "ans_1", ts, body.as_bytes());
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), "ans_1".to_owned()),
        ("webhook-timestamp".to_owned(), ts.to_string()),
        ("webhook-signature".to_owned(), sig),
    ];
    (200, headers, body.to_owned())
}

#[tokio::test]
async fn a_webhook_bot_is_called_signed_and_its_handoff_moves_the_queue() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let bot = FakePeer::start(vec![
        signed(r#"{"action":"reply","text":"Which order, please?"}"#, BOT_SECRET),
        signed(r#"{"action":"handoff","queue":"returns","reason":"refund request"}"#, BOT_SECRET),
    ])
    .await;
    let app = TestApp::spawn_ready(&config(&twilio, &webhook_bot(&format!("{}/bot", bot.base()), 2000))).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMwh1", "+14155550104", "I want my money back").await;
    let replied = log.next_of("switchboard.conversation.bot_replied").await;
    assert_eq!(replied["data"]["message"]["text"], "Which order, please?");
    let call = &bot.seen()[0];
    // Signed per Standard Webhooks with the bot's secret.
    let key = switchboard::signing::decode_secret(BOT_SECRET).unwrap();
    let ts: i64 = call.header("webhook-timestamp").parse().unwrap();
    assert_eq!(call.header("webhook-signature"), switchboard::signing::sign(&key, call.header("webhook-id"), ts, &call.body));
    let turn: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(turn["message"]["text"], "I want my money back");
    assert_eq!(turn["conversation"]["language"], "en");
    assert_eq!(turn["conversation"]["channel"], "sms");
    sms(&app, "SMwh2", "+14155550104", "order 1234").await;
    let handed = log.next_of("switchboard.conversation.handed_off").await;
    assert_eq!(handed["data"]["reason"], "refund request");
    let assigned = log.next_of("switchboard.conversation.assigned").await;
    assert_eq!(assigned["data"]["queue"], "returns");
    let turn: Value = serde_json::from_slice(&bot.seen()[1].body).unwrap();
    let thread: Vec<&str> = turn["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(thread, ["I want my money back", "Which order, please?", "order 1234"]);
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_bot_that_times_out_or_signs_badly_hands_off() {
    // A bot that never answers: the connection is accepted, nothing comes back.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/bot", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &webhook_bot(&silent_url, 300))).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMto1", "+14155550105", "hello?").await;
    let handed = log.next_of("switchboard.conversation.handed_off").await;
    assert_eq!(handed["data"]["reason"], "the bot did not answer in time");
    log.next_of("switchboard.conversation.assigned").await;
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].form_value("Body").as_deref(), Some("Connecting you to a person, please wait a moment."));
    app.stop().await;
    held.abort();

    // Signed with another secret, then unsigned: both refused.
    for answer in [
        signed(r#"{"action":"reply","text":"forged"}"#, "whsec_c2VjcmV0LXR3by1mb3ItdGVzdHM="),
        (200, vec![], r#"{"action":"reply","text":"unsigned"}"#.to_owned()),
    ] {
        let bot = FakePeer::start(vec![answer]).await;
        let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
        let app = TestApp::spawn_ready(&config(&twilio, &webhook_bot(&format!("{}/bot", bot.base()), 2000))).await;
        let mut log = Log::open(&app).await;
        sms(&app, "SMbad1", "+14155550106", "hello?").await;
        let handed = log.next_of("switchboard.conversation.handed_off").await;
        assert_eq!(handed["data"]["reason"], "the bot's answer is not signed with its secret");
        log.next_of("switchboard.conversation.assigned").await;
        twilio.wait_for(1, WAIT).await;
        assert!(!bodies(&twilio).iter().any(|b| b == "forged" || b == "unsigned"), "{:?}", bodies(&twilio));
        app.stop().await;
    }
}

/// A Shanghai calendar open every day 09:00-18:00 except today (an
/// override) and tomorrow (a holiday): whenever the test runs, the next
/// opening is the day after tomorrow at 09:00.
fn closed_today_and_tomorrow() -> (String, chrono::NaiveDate) {
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let (tomorrow, after) = (today.succ_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
    let day = r#"["09:00-18:00"]"#;
    let toml = format!(
        r#"
        [calendars.office]
        timezone = "Asia/Shanghai"
        hours = {{ mon = {day}, tue = {day}, wed = {day}, thu = {day}, fri = {day}, sat = {day}, sun = {day} }}
        holidays = ["{tomorrow}"]
        overrides = {{ "{today}" = [] }}
        "#
    );
    (toml, after)
}

fn closed_config(twilio: &FakePeer, calendar: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        [queues.general]
        calendar = "office"
        closed_reply = {{ zh = "您好，我们的工作时间已结束，将于{{opens_at}}回复您。", en = "We are closed and will answer {{opens_at}}." }}
        {calendar}
        "#,
        twilio = twilio.base(),
    )
}

#[tokio::test]
async fn a_customer_writing_while_closed_is_told_the_next_opening_once() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let (calendar, opens) = closed_today_and_tomorrow();
    let app = TestApp::spawn_ready(&closed_config(&twilio, &calendar)).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMcl1", "+14155550107", "你好，我的快递到哪里了").await;
    // It still queues: alice, on a 24/7 queue's terms, takes it.
    let assigned = log.next_of("switchboard.conversation.assigned").await;
    let id = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].form_value("Body").as_deref(), Some("您好，我们的工作时间已结束，将于后天 09:00回复您。"));
    sms(&app, "SMcl2", "+14155550107", "还在吗？").await;
    log.next_of("switchboard.conversation.message").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.seen().len(), 1, "once per conversation: {:?}", bodies(&twilio));
    let conv = conversation(&app, &id).await;
    assert_eq!(authors(&conv)[1], ("outbound".to_owned(), "system".to_owned()));
    assert_eq!(conv["messages"][1]["text"], "您好，我们的工作时间已结束，将于后天 09:00回复您。");

    // In English (the customer's language), the weekday of the opening.
    sms(&app, "SMcl3", "+14155550108", "Hello, where is my parcel?").await;
    let sent = twilio.wait_for(2, WAIT).await;
    use chrono::Datelike;
    let weekday = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][opens.weekday().num_days_from_monday() as usize];
    assert_eq!(sent[1].form_value("Body"), Some(format!("We are closed and will answer on {weekday} at 9:00.")));
    app.stop().await;
}

#[tokio::test]
async fn a_waiting_customer_is_told_their_place_once() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let toml = format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ chat = 1 }}
        [queues.general]
        waiting_reply = {{ en = "You are number {{position}} in line; the wait is {{wait}}.", zh = "您前面排在第 {{position}} 位，预计{{wait}}。" }}
        waiting_reply_after_secs = 1
        "#,
        twilio = twilio.base(),
    );
    let app = TestApp::spawn_ready(&toml).await;
    sms(&app, "SMw1", "+14155550109", "hello, anyone there?").await;
    sms(&app, "SMw2", "+14155550110", "你好，有人吗").await;
    let sent = twilio.wait_for(2, WAIT).await;
    let mut got: Vec<(String, String)> = sent.iter().map(|r| (r.form_value("To").unwrap(), r.form_value("Body").unwrap())).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("+14155550109".to_owned(), "You are number 1 in line; the wait is hard to say yet.".to_owned()),
            ("+14155550110".to_owned(), "您前面排在第 2 位，预计暂时无法估计。".to_owned()),
        ]
    );
    // Once: more time and another message send nothing more.
    sms(&app, "SMw3", "+14155550109", "hello?").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(twilio.seen().len(), 2, "{:?}", bodies(&twilio));
    app.stop().await;
}

#[tokio::test]
async fn a_bot_step_taken_again_for_the_same_message_says_nothing_twice() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, FAQ)).await;
    let mut log = Log::open(&app).await;
    sms(&app, "SMre1", "+14155550111", "运费多少").await;
    let replied = log.next_of("switchboard.conversation.bot_replied").await;
    let id = replied["data"]["conversation_id"].as_str().unwrap().to_owned();
    let conv = conversation(&app, &id).await;
    let message_id = conv["messages"][0]["id"].as_str().unwrap().to_owned();
    // What a redelivery of the message (on this replica or another) does:
    // the same step again, this time even with another answer.
    let store = switchboard::store::Store::new(&app.settings.redis).unwrap();
    let say = switchboard::store::BotSay {
        stored: r#"{"id":"X","direction":"outbound","text":"twice","at":"2026-01-01T00:00:00Z"}"#.into(),
        message: "{}".into(),
        outbound_id: "AREDELIVERED0000000000000".into(),
        outbound: "{}".into(),
    };
    let step = switchboard::store::BotStep {
        conversation: &id,
        message_id: &message_id,
        action: "reply",
        reason: "",
        max_misses: 2,
        max_turns: 10,
        then: "",
        channel: "sms",
        ttl_secs: 60,
        deadline_ms: 0,
        queue_json: String::new(),
        say: Some(say),
        notice: None,
        now_ms: chrono::Utc::now().timestamp_millis(),
    };
    let (outcome, entries) = store.bot_step(&step).await.unwrap();
    assert_eq!(outcome.outcome, "duplicate");
    assert!(entries.is_empty(), "nothing appended to the outbox");
    let after = conversation(&app, &id).await;
    assert_eq!(after["messages"].as_array().unwrap().len(), 2, "{after}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.seen().len(), 1);
    app.stop().await;
}
