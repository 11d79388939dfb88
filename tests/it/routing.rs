//! The routing core against real NATS and Redis: eligibility by skill and
//! language with the decision record, priority across queues, sticky
//! agents and reopening, offers (accept, decline, timeout, away after
//! misses), transfers, wrap-up, customer profiles and linking, reload, and
//! several replicas routing at once without double assignment or capacity
//! overrun.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use crate::support::{sms, unique_prefix, TestApp};

const WAIT: Duration = Duration::from_secs(15);

fn sms_channel() -> &'static str {
    r#"
    [server]
    admin_token = "admin-secret"
    [channels.sms.shop]
    account_sid = "AC0123456789abcdef0123456789abcdef"
    auth_token = "twilio-test-token"
    from = "+15005550006"
    api_base = "http://127.0.0.1:9"
    "#
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, token, Some(body)).await
}

/// Every event of an instance's log, as it is published.
struct Events {
    sub: async_nats::Subscriber,
    seen: Vec<Value>,
}

impl Events {
    async fn new(prefix: &str) -> Events {
        let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
        let sub = nats.subscribe(format!("{prefix}.events.>")).await.unwrap();
        nats.flush().await.unwrap();
        Events { sub, seen: Vec::new() }
    }

    /// The first event (seen before or arriving) matching `pred`.
    async fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.sub.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} within 15 s; saw {:#?}", self.types()))
                .unwrap();
            let event: Value = serde_json::from_slice(&msg.payload).unwrap();
            self.seen.push(event.clone());
            if pred(&event) {
                return event;
            }
        }
    }

    /// Waits for an event of `kind` about `address`'s conversation.
    async fn of(&mut self, kind: &str, address: &str) -> Value {
        let kind = format!("switchboard.{kind}");
        self.wait(&format!("{kind} for {address}"), |e| e["type"] == kind && e["data"]["customer"]["address"] == address)
            .await
    }

    fn types(&self) -> Vec<String> {
        self.seen.iter().map(|e| format!("{} {}", e["type"], e["data"]["customer"]["address"])).collect()
    }
}

fn reasons(event: &Value) -> BTreeMap<String, String> {
    event["data"]["decision"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["agent"].as_str().unwrap().to_owned(), c["reason"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn skills_and_language_decide_eligibility_and_the_decision_says_why() {
    let config = format!(
        r#"{}
        [queues.returns]
        skills = {{ returns = 3 }}
        [[rules]]
        name = "refunds"
        when = {{ text = "退款|退货|refund" }}
        then = {{ queue = "returns" }}
        [agents.alice]
        token = "alice-token"
        skills = {{ returns = 4 }}
        languages = ["zh"]
        capacity = {{ sms = 1 }}
        [agents.bob]
        token = "bob-token"
        skills = {{ returns = 2 }}
        capacity = {{ sms = 1 }}
        [agents.carol]
        token = "carol-token"
        skills = {{ returns = 5 }}
        languages = ["en"]
        capacity = {{ sms = 1 }}
        [agents.dave]
        token = "dave-token"
        capacity = {{ sms = 1 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "我要退款，订单 1024").await;
    let assigned = events.of("conversation.assigned", "+14155550001").await;
    assert_eq!(assigned["data"]["agent"], "alice");
    assert_eq!(assigned["data"]["queue"], "returns");
    assert_eq!(assigned["data"]["decision"]["rule"], "refunds");
    let why = reasons(&assigned);
    assert!(why["alice"].starts_with("chosen"), "{why:?}");
    assert_eq!(why["bob"], "skill returns 2 below 3");
    assert_eq!(why["carol"], "does not speak zh");
    assert_eq!(why["dave"], "lacks skill returns");

    // English refund: carol speaks English and has the skill.
    sms(&app, "SM2", "+14155550002", "I want a refund").await;
    assert_eq!(events.of("conversation.assigned", "+14155550002").await["data"]["agent"], "carol");
    // Another Chinese refund: alice is full, nobody else qualifies.
    sms(&app, "SM3", "+14155550003", "退货").await;
    let queued = events.of("conversation.queued", "+14155550003").await;
    let why = reasons(&queued);
    assert_eq!(why["alice"], "sms capacity full", "{why:?}");
    assert_eq!(why["carol"], "sms capacity full");
    app.stop().await;
}

#[tokio::test]
async fn higher_priority_is_served_first_across_queues() {
    let config = format!(
        r#"{}
        [queues.complaints]
        priority = 20
        [[rules]]
        name = "complaints"
        when = {{ text = "投诉|complaint" }}
        then = {{ queue = "complaints" }}
        [[rules]]
        name = "urgent"
        when = {{ text = "urgent" }}
        then = {{ priority = 50 }}
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 1 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let first = events.of("conversation.assigned", "+14155550001").await;
    // Three wait: general (oldest), complaints (priority 20), general but urgent (priority 50).
    sms(&app, "SM2", "+14155550002", "where is my parcel").await;
    events.of("conversation.queued", "+14155550002").await;
    sms(&app, "SM3", "+14155550003", "我要投诉").await;
    events.of("conversation.queued", "+14155550003").await;
    sms(&app, "SM4", "+14155550004", "urgent: wrong item").await;
    events.of("conversation.queued", "+14155550004").await;

    let mut current = first["data"]["conversation_id"].as_str().unwrap().to_owned();
    for next in ["+14155550004", "+14155550003", "+14155550002"] {
        let (status, _) = post(&app, &format!("/api/v1/conversations/{current}/resolve"), "alice-token", json!({})).await;
        assert_eq!(status, 200);
        let assigned = events.of("conversation.assigned", next).await;
        assert_eq!(assigned["data"]["agent"], "alice");
        current = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    }
    app.stop().await;
}

#[tokio::test]
async fn a_returning_customer_reopens_the_conversation_with_the_same_agent() {
    let config = format!(
        r#"{}
        [agents.pat]
        token = "pat-token"
        capacity = {{ sms = 3 }}
        [agents.quinn]
        token = "quinn-token"
        capacity = {{ sms = 3 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let x = events.of("conversation.assigned", "+14155550001").await;
    let (served, other) = if x["data"]["agent"] == "pat" { ("pat", "quinn") } else { ("quinn", "pat") };
    let conv = x["data"]["conversation_id"].as_str().unwrap().to_owned();
    // The other agent takes the next customer; then the first agent a third.
    sms(&app, "SM2", "+14155550002", "hi").await;
    assert_eq!(events.of("conversation.assigned", "+14155550002").await["data"]["agent"], other);
    let (status, _) = post(&app, &format!("/api/v1/conversations/{conv}/resolve"), &format!("{served}-token"), json!({})).await;
    assert_eq!(status, 200);
    sms(&app, "SM3", "+14155550003", "hey").await;
    assert_eq!(events.of("conversation.assigned", "+14155550003").await["data"]["agent"], served);
    // Both hold one; `other` has been idle longer, so without stickiness it would win.
    sms(&app, "SM4", "+14155550001", "me again").await;
    let reopened = events.of("conversation.reopened", "+14155550001").await;
    assert_eq!(reopened["data"]["conversation_id"], conv.as_str());
    let assigned = events.wait("the reopened conversation assigned", |e| {
        e["type"] == "switchboard.conversation.assigned" && e["data"]["conversation_id"] == conv.as_str()
            && e["id"] != x["id"]
    })
    .await;
    assert_eq!(assigned["data"]["agent"], served);
    assert!(reasons(&assigned)[served].contains("sticky"), "{:?}", reasons(&assigned));
    let (_, detail) = call(&app, reqwest::Method::GET, &format!("/api/v1/conversations/{conv}"), "admin-secret", None).await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn offers_are_accepted_declined_or_time_out_and_missing_them_sets_the_agent_away() {
    let config = format!(
        r#"{}
        [routing]
        offer_misses_away = 2
        sweep_interval_ms = 50
        [queues.sales]
        mode = "offer"
        offer_timeout_secs = 1
        [[rules]]
        name = "sales"
        when = {{ text = "buy" }}
        then = {{ queue = "sales" }}
        [agents.ann]
        token = "ann-token"
        capacity = {{ sms = 2 }}
        [agents.ben]
        token = "ben-token"
        capacity = {{ sms = 2 }}
        [agents.cy]
        token = "cy-token"
        capacity = {{ sms = 2 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "I want to buy").await;
    let offered = events.of("conversation.offered", "+14155550001").await;
    let conv = offered["data"]["conversation_id"].as_str().unwrap().to_owned();
    let first = offered["data"]["agent"].as_str().unwrap().to_owned();
    let path = |action: &str| format!("/api/v1/conversations/{conv}/{action}");
    let someone_else = ["ann", "ben", "cy"].into_iter().find(|a| *a != first).unwrap();
    // Only the agent it is offered to may answer.
    assert_eq!(post(&app, &path("accept"), &format!("{someone_else}-token"), json!({})).await.0, 403);
    let (status, body) = post(&app, &path("decline"), &format!("{first}-token"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let second = events
        .wait("the second offer", |e| e["type"] == "switchboard.conversation.offered" && e["data"]["from_agent"] == first.as_str())
        .await;
    assert_eq!(second["data"]["reason"], "declined");
    let second_agent = second["data"]["agent"].as_str().unwrap().to_owned();
    assert_ne!(second_agent, first);
    // The second agent lets it time out: it goes to the third.
    let third = events
        .wait("the third offer", |e| {
            e["type"] == "switchboard.conversation.offered" && e["data"]["from_agent"] == second_agent.as_str()
        })
        .await;
    assert_eq!(third["data"]["reason"], "offer timed out");
    let third_agent = third["data"]["agent"].as_str().unwrap().to_owned();
    assert!(third_agent != first && third_agent != second_agent);
    assert_eq!(post(&app, &path("accept"), &format!("{third_agent}-token"), json!({})).await.0, 200);
    let accepted = events.wait("accepted", |e| e["type"] == "switchboard.conversation.assigned").await;
    assert_eq!(accepted["data"]["agent"], third_agent.as_str());
    assert_eq!(post(&app, &path("accept"), &format!("{third_agent}-token"), json!({})).await.0, 409);

    // The second agent misses a second offer in a row: set away, with an event.
    let (status, _) = call(&app, reqwest::Method::PUT, &format!("/api/v1/agents/{first}/status"), "admin-secret", Some(json!({"status": "away"}))).await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, reqwest::Method::PUT, &format!("/api/v1/agents/{third_agent}/status"), "admin-secret", Some(json!({"status": "away"}))).await;
    assert_eq!(status, 200);
    sms(&app, "SM2", "+14155550002", "buy buy").await;
    let offered = events.of("conversation.offered", "+14155550002").await;
    assert_eq!(offered["data"]["agent"], second_agent.as_str());
    let away = events.wait("agent away", |e| e["type"] == "switchboard.agent.away").await;
    assert_eq!(away["data"]["agent"], second_agent.as_str());
    let (_, state) =
        call(&app, reqwest::Method::GET, &format!("/api/v1/agents/{second_agent}/conversations"), "admin-secret", None).await;
    assert_eq!(state["state"]["status"], "away");
    // Nobody is left: the conversation waits in its queue.
    events.wait("back in the queue", |e| {
        e["type"] == "switchboard.conversation.queued" && e["data"]["customer"]["address"] == "+14155550002"
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn transfers_move_the_conversation_and_the_capacity() {
    let config = format!(
        r#"{}
        [queues.returns]
        skills = {{ returns = 3 }}
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 2 }}
        [agents.bob]
        token = "bob-token"
        capacity = {{ sms = 2 }}
        [agents.rita]
        token = "rita-token"
        status = "away"
        skills = {{ returns = 4 }}
        capacity = {{ sms = 2 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let assigned = events.of("conversation.assigned", "+14155550001").await;
    let conv = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    let holder = assigned["data"]["agent"].as_str().unwrap().to_owned();
    let other = if holder == "alice" { "bob" } else { "alice" };
    let path = format!("/api/v1/conversations/{conv}/transfer");
    let token = format!("{holder}-token");

    assert_eq!(post(&app, &path, &format!("{other}-token"), json!({"agent": holder})).await.0, 403);
    assert_eq!(post(&app, &path, &token, json!({"agent": "nobody"})).await.0, 400);
    assert_eq!(post(&app, &path, &token, json!({"agent": "alice", "queue": "returns"})).await.0, 400);
    assert_eq!(post(&app, &path, &token, json!({"agent": "rita"})).await.0, 409, "rita is away");
    let (status, body) = post(&app, &path, &token, json!({"agent": other, "note": "VIP, be nice"})).await;
    assert_eq!(status, 200, "{body}");
    let moved = events.of("conversation.transferred", "+14155550001").await;
    assert_eq!((moved["data"]["from_agent"].as_str(), moved["data"]["agent"].as_str()), (Some(holder.as_str()), Some(other)));
    assert_eq!(moved["data"]["reason"], "VIP, be nice");
    let load = |agent: &str| {
        let app = &app;
        let agent = agent.to_owned();
        async move {
            let (_, v) = call(app, reqwest::Method::GET, &format!("/api/v1/agents/{agent}/conversations"), "admin-secret", None).await;
            v["state"]["load_by_channel"]["sms"].as_u64().unwrap_or(0)
        }
    };
    assert_eq!((load(&holder).await, load(other).await), (0, 1));

    // To a queue nobody available can serve: it waits there; rita comes back and takes it.
    let (status, body) = post(&app, &path, &format!("{other}-token"), json!({"queue": "returns"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("queued")), "{body}");
    assert_eq!(load(other).await, 0);
    let (status, _) =
        call(&app, reqwest::Method::PUT, "/api/v1/agents/rita/status", "rita-token", Some(json!({"status": "available"}))).await;
    assert_eq!(status, 200);
    let taken = events
        .wait("rita takes it", |e| e["type"] == "switchboard.conversation.assigned" && e["data"]["agent"] == "rita")
        .await;
    assert_eq!(taken["data"]["conversation_id"], conv.as_str());
    assert_eq!(taken["data"]["queue"], "returns");
    app.stop().await;
}

#[tokio::test]
async fn capacity_returns_after_the_wrap_up() {
    let config = format!(
        r#"{}
        [routing]
        sweep_interval_ms = 50
        reopen_window_secs = 0
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 1 }}
        wrapup_secs = 1
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let conv = events.of("conversation.assigned", "+14155550001").await["data"]["conversation_id"].as_str().unwrap().to_owned();
    let (status, body) = post(&app, &format!("/api/v1/conversations/{conv}/resolve"), "alice-token", json!({})).await;
    assert_eq!((status, body["wrapup"].as_bool()), (200, Some(true)));
    let resolved_at = tokio::time::Instant::now();
    sms(&app, "SM2", "+14155550002", "hi").await;
    events.of("conversation.queued", "+14155550002").await;
    events.of("conversation.assigned", "+14155550002").await;
    assert!(resolved_at.elapsed() >= Duration::from_millis(900), "assigned only after the wrap-up");
    app.stop().await;
}

#[tokio::test]
async fn customer_profiles_link_identities_and_feed_the_rules() {
    let config = format!(
        r#"{}
        [channels.email.support]
        address = "support@shop.example"
        [queues.vip]
        priority = 100
        [[rules]]
        name = "vip"
        when = {{ tier = "vip" }}
        then = {{ queue = "vip" }}
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 2, email = 2 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    let body = json!({
        "identities": [{"kind": "phone", "value": "+1 415 555 0001"}, {"kind": "email", "value": "Jane@Example.com"}],
        "attributes": {"tier": "vip", "language": "en", "name": "Jane Doe", "tags": ["wholesale"]},
    });
    let path = "/api/v1/customers/c-1001";
    assert_eq!(call(&app, reqwest::Method::PUT, path, "alice-token", Some(body.clone())).await.0, 403);
    let (status, profile) = call(&app, reqwest::Method::PUT, path, "admin-secret", Some(body.clone())).await;
    assert_eq!(status, 201, "{profile}");
    assert_eq!(
        profile["identities"],
        json!([
            {"kind": "email", "value": "jane@example.com"},
            {"kind": "phone", "value": "+14155550001"},
            {"kind": "shop", "value": "c-1001"},
        ])
    );
    assert_eq!(profile["attributes"]["tier"], "vip");
    assert_eq!(call(&app, reqwest::Method::PUT, path, "admin-secret", Some(body)).await.0, 200);
    for bad in [
        json!({"identities": [{"kind": "phone", "value": "not a number"}]}),
        json!({"identities": [{"kind": "fax", "value": "1"}]}),
        json!({"attributes": {"language": "English"}}),
        json!({"attributes": {"shoe_size": 42}}),
    ] {
        let (status, error) = call(&app, reqwest::Method::PUT, path, "admin-secret", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
        assert!(error["error"]["message"].is_string());
    }

    // The VIP rule applies to the linked phone.
    sms(&app, "SM1", "+14155550001", "hello").await;
    let assigned = events.of("conversation.assigned", "+14155550001").await;
    assert_eq!(assigned["data"]["queue"], "vip");
    let conv = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    // Mail from the linked address joins the same conversation: one thread across channels.
    let mail = "From: Jane <jane@example.com>\r\nTo: support@shop.example\r\nSubject: order\r\nMessage-ID: <m1@example.com>\r\n\r\nAlso by mail.\r\n";
    let r = reqwest::Client::new()
        .post(app.url("/webhooks/email/support"))
        .header("content-type", "message/rfc822")
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let joined = events.of("conversation.message", "jane@example.com").await;
    assert_eq!(joined["data"]["conversation_id"], conv.as_str());
    let (_, detail) = call(&app, reqwest::Method::GET, &format!("/api/v1/conversations/{conv}"), "admin-secret", None).await;
    assert_eq!(detail["conversation"]["channel"], "email", "replies go out on the channel last used");
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    let (_, profile) = call(&app, reqwest::Method::GET, path, "admin-secret", None).await;
    assert_eq!(profile["open_conversation"], conv.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_reload_puts_new_rules_and_agents_in_force_and_refuses_a_bad_file() {
    let dir = std::env::temp_dir().join(format!("sb-reload-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchboard.toml");
    let agents = |extra: &str| {
        format!(
            "{}\n[agents.alice]\ntoken = \"alice-token\"\ncapacity = {{ sms = 1 }}\n{extra}",
            sms_channel()
        )
    };
    std::fs::write(&file, agents("")).unwrap();
    let loader = switchboard::config::Loader::new().without_env().file(&file);
    let app = TestApp::ready(TestApp::spawn_loader(loader, "", unique_prefix()).await).await;
    let mut events = Events::new(&app.prefix).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    events.of("conversation.assigned", "+14155550001").await;
    sms(&app, "SM2", "+14155550002", "refund please").await;
    events.of("conversation.queued", "+14155550002").await;

    // A broken file is refused with every problem; alice's token still works.
    std::fs::write(&file, agents("[agents.bob]\ncapacity = { sms = \"many\" }\n[[rules]]\nname = \"x\"\nwhen = { text = \"(\" }\n"))
        .unwrap();
    let (status, body) = post(&app, "/api/v1/admin/reload", "admin-secret", json!({})).await;
    assert_eq!(status, 422, "{body}");
    let problems = body["error"]["problems"].as_array().unwrap();
    assert!(problems.len() >= 3, "{problems:?}");
    assert_eq!(post(&app, "/api/v1/admin/reload", "alice-token", json!({})).await.0, 403);

    // A good file: bob arrives with a refunds skill and a rule for it; he takes the waiting one.
    std::fs::write(
        &file,
        agents("[agents.bob]\ntoken = \"bob-token\"\nskills = { returns = 3 }\ncapacity = { sms = 1 }\n[queues.returns]\nskills = { returns = 2 }\n[[rules]]\nname = \"refunds\"\nwhen = { text = \"refund\" }\nthen = { queue = \"returns\" }\n"),
    )
    .unwrap();
    let (status, body) = post(&app, "/api/v1/admin/reload", "admin-secret", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["agents"].as_u64(), body["rules"].as_u64()), (Some(2), Some(1)));
    assert_eq!(events.of("conversation.assigned", "+14155550002").await["data"]["agent"], "bob");
    sms(&app, "SM3", "+14155550003", "refund now").await;
    let (_, conversations) =
        call(&app, reqwest::Method::GET, "/api/v1/agents/bob/conversations", "bob-token", None).await;
    assert_eq!(conversations["agent"], "bob", "bob's token works after the reload");
    let queued = events.of("conversation.queued", "+14155550003").await;
    assert_eq!(queued["data"]["queue"], "returns");
    app.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn replicas_route_at_once_without_double_assignment_or_overrun() {
    let mut config = sms_channel().to_owned();
    for a in 0..5 {
        config.push_str(&format!("[agents.a{a}]\ntoken = \"a{a}-token\"\ncapacity = {{ sms = 2 }}\n"));
    }
    config.push_str("[routing]\nworkers = 8\n");
    let prefix = unique_prefix();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await);
    }
    let mut events = Events::new(&prefix).await;
    // 40 customers at once, spread over the replicas' webhooks.
    let sends = (0..40).map(|i| {
        let app = &replicas[i % 3];
        async move { sms(app, &format!("SM{i}"), &format!("+1415555{i:04}"), "hello").await }
    });
    futures::future::join_all(sends).await;
    let mut assigned = HashMap::new();
    let mut queued = 0;
    while assigned.len() + queued < 40 {
        let e = events
            .wait("routing outcome", |e| {
                let t = e["type"].as_str().unwrap_or("");
                (t.ends_with(".assigned") || t.ends_with(".queued")) && !e["data"]["customer"]["address"].is_null()
            })
            .await;
        events.seen.retain(|s| s["id"] != e["id"]);
        if e["type"] == "switchboard.conversation.assigned" {
            assert!(assigned.insert(e["data"]["conversation_id"].as_str().unwrap().to_owned(), e["data"]["agent"].clone()).is_none());
        } else {
            queued += 1;
        }
    }
    assert_eq!((assigned.len(), queued), (10, 30));
    // Resolve everything assigned, through all replicas at once; exactly ten more are assigned.
    let resolves = assigned.keys().enumerate().map(|(i, conv)| {
        let app = &replicas[i % 3];
        async move { post(app, &format!("/api/v1/conversations/{conv}/resolve"), "admin-secret", json!({})).await.0 }
    });
    assert!(futures::future::join_all(resolves).await.iter().all(|s| *s == 200));
    let mut second = HashMap::new();
    while second.len() < 10 {
        let e = events.wait("drained", |e| e["type"] == "switchboard.conversation.assigned").await;
        events.seen.retain(|s| s["id"] != e["id"]);
        assert!(second.insert(e["data"]["conversation_id"].as_str().unwrap().to_owned(), e["data"]["agent"].clone()).is_none());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !events.seen.iter().any(|e| e["type"] == "switchboard.conversation.assigned"),
        "no more than the freed capacity is assigned"
    );
    let mut total = 0;
    for a in 0..5 {
        let (_, v) = call(&replicas[0], reqwest::Method::GET, &format!("/api/v1/agents/a{a}/conversations"), "admin-secret", None).await;
        let load = v["state"]["load_by_channel"]["sms"].as_u64().unwrap();
        assert_eq!(load as usize, v["conversations"].as_array().unwrap().len(), "load matches open conversations");
        assert!(load <= 2, "a{a} over capacity: {load}");
        total += load;
    }
    assert_eq!(total, 10);
    for r in replicas {
        r.stop().await;
    }
}

#[tokio::test]
async fn bullseye_relaxes_the_skill_then_overflows_keeping_the_wait() {
    let config = format!(
        r#"{}
        [routing]
        sweep_interval_ms = 50
        [queues.returns]
        skills = {{ returns = 4 }}
        overflow = "general"
        bullseye = [ {{ after_secs = 1, relax = 1 }}, {{ after_secs = 2, overflow = true }} ]
        [[rules]]
        name = "refunds"
        when = {{ text = "refund" }}
        then = {{ queue = "returns" }}
        [agents.rita]
        token = "rita-token"
        skills = {{ returns = 3 }}
        capacity = {{ sms = 1 }}
        [agents.gus]
        token = "gus-token"
        capacity = {{ sms = 1 }}
        "#,
        sms_channel()
    );
    let app = TestApp::spawn_ready(&config).await;
    let mut events = Events::new(&app.prefix).await;
    let started = tokio::time::Instant::now();
    sms(&app, "SM1", "+14155550001", "refund please").await;
    events.of("conversation.queued", "+14155550001").await;
    sms(&app, "SM2", "+14155550002", "another refund").await;
    events.of("conversation.queued", "+14155550002").await;
    // Step 1 (1 s): proficiency 3 is enough now, rita takes the older one.
    let relaxed = events.of("conversation.assigned", "+14155550001").await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(relaxed["data"]["agent"], "rita");
    let conv = relaxed["data"]["conversation_id"].as_str().unwrap().to_owned();
    // Step 2 (2 s): the other overflows to general, where gus takes it.
    let moved = events.of("conversation.transferred", "+14155550002").await;
    assert_eq!(moved["data"]["queue"], "general");
    assert!(moved["data"]["reason"].as_str().unwrap().starts_with("overflow from returns"));
    let overflowed = events.of("conversation.assigned", "+14155550002").await;
    assert_eq!(overflowed["data"]["agent"], "gus");
    assert!(started.elapsed() >= Duration::from_millis(1900));

    // The decision is kept on the conversation; notes stay internal.
    let path = format!("/api/v1/conversations/{conv}");
    let (status, note) = post(&app, &format!("{path}/notes"), "rita-token", json!({"text": "customer is nice"})).await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(post(&app, &format!("{path}/notes"), "gus-token", json!({"text": "x"})).await.0, 403);
    assert_eq!(post(&app, &format!("{path}/notes"), "rita-token", json!({"text": " "})).await.0, 400);
    let (_, detail) = call(&app, reqwest::Method::GET, &path, "rita-token", None).await;
    assert_eq!(detail["conversation"]["decision"]["chosen"], "rita");
    assert!(detail["conversation"].get("relax").is_none(), "routing bookkeeping is not exposed");
    assert_eq!(detail["conversation"]["required_skills"]["returns"], 4);
    let directions: Vec<&str> = detail["messages"].as_array().unwrap().iter().map(|m| m["direction"].as_str().unwrap()).collect();
    assert_eq!(directions, ["inbound", "note"]);
    app.stop().await;
}

#[tokio::test]
async fn agents_and_queues_change_at_run_time_on_every_replica() {
    let config = format!(
        r#"{}
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 0, email = 1 }}
        "#,
        sms_channel()
    );
    let prefix = unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let mut events = Events::new(&prefix).await;
    sms(&a, "SM1", "+14155550001", "hello").await;
    events.of("conversation.queued", "+14155550001").await;

    // Bad bodies: every problem listed, nothing changes.
    let (status, body) =
        call(&a, reqwest::Method::PUT, "/api/v1/admin/agents/bob", "admin-secret", Some(json!({"capacity": {"sms": "many"}}))).await;
    assert_eq!(status, 422, "{body}");
    let problems = body["error"]["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p.as_str().unwrap().starts_with("agents.bob.capacity")), "{problems:?}");
    assert!(problems.iter().any(|p| p.as_str().unwrap().starts_with("agents.bob.token")), "{problems:?}");
    assert_eq!(call(&a, reqwest::Method::PUT, "/api/v1/admin/agents/Bob!", "admin-secret", Some(json!({}))).await.0, 400);
    assert_eq!(call(&a, reqwest::Method::PUT, "/api/v1/admin/agents/bob", "alice-token", Some(json!({}))).await.0, 403);

    // Bob is added through replica A: he takes the waiting conversation.
    let bob = json!({"name": "Bob", "token": "bob-token", "skills": {"returns": 3}, "capacity": {"sms": 2}});
    let (status, body) = call(&a, reqwest::Method::PUT, "/api/v1/admin/agents/bob", "admin-secret", Some(bob)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(events.of("conversation.assigned", "+14155550001").await["data"]["agent"], "bob");
    // Replica B knows him too.
    let known = crate::support::wait_until(WAIT, || {
        let b = &b;
        async move {
            let (s, _) = call(b, reqwest::Method::GET, "/api/v1/agents/bob/conversations", "bob-token", None).await;
            (s == 200).then_some(())
        }
    })
    .await;
    assert!(known.is_some(), "replica B accepts bob's token");
    let (_, listed) = call(&b, reqwest::Method::GET, "/api/v1/admin/agents", "admin-secret", None).await;
    assert_eq!(listed["agents"]["bob"]["skills"]["returns"], 3);
    assert!(listed["agents"]["bob"].get("token").is_none(), "tokens are never listed");

    // Queues: added, refused deletion while referred to, deleted.
    let (status, _) = call(&a, reqwest::Method::PUT, "/api/v1/admin/queues/vip", "admin-secret", Some(json!({"priority": 50}))).await;
    assert_eq!(status, 201);
    let (status, body) = call(&a, reqwest::Method::DELETE, "/api/v1/admin/queues/general", "admin-secret", None).await;
    assert_eq!(status, 404, "the implicit default queue is not a configured one: {body}");
    let seen = crate::support::wait_until(WAIT, || {
        let b = &b;
        async move {
            let (_, queues) = call(b, reqwest::Method::GET, "/api/v1/admin/queues", "admin-secret", None).await;
            (queues["queues"]["vip"]["priority"] == 50).then_some(())
        }
    })
    .await;
    assert!(seen.is_some(), "replica B has the new queue");

    // A replica started later picks the run-time entries up from Redis.
    let c = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let (_, listed) = call(&c, reqwest::Method::GET, "/api/v1/admin/agents", "admin-secret", None).await;
    assert_eq!(listed["agents"]["bob"]["name"], "Bob");

    // Bob is deleted: offline everywhere, his token refused.
    assert_eq!(call(&b, reqwest::Method::DELETE, "/api/v1/admin/agents/bob", "admin-secret", None).await.0, 204);
    let gone = crate::support::wait_until(WAIT, || {
        let a = &a;
        async move {
            let (s, _) = call(a, reqwest::Method::GET, "/api/v1/agents/bob/conversations", "bob-token", None).await;
            (s == 401).then_some(())
        }
    })
    .await;
    assert!(gone.is_some(), "replica A forgot bob");
    assert_eq!(call(&a, reqwest::Method::DELETE, "/api/v1/admin/queues/vip", "admin-secret", None).await.0, 204);
    for r in [a, b, c] {
        r.stop().await;
    }
}
