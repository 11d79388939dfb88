//! The web chat demo page in a real headless Chromium, driven over W3C
//! WebDriver (chromedriver, plain HTTP): a visitor opens the chat, writes,
//! sees the message acked, gets the agent's reply live, and finds both
//! again after a reload.
//!
//! The browser and its driver: [`crate::webdriver`].

use serde_json::{json, Value};

use crate::support::{wait_until, TestApp};
use crate::webdriver::{drive, http, severe, Browser, Chromedriver, WAIT};

const CONFIG: &str = r#"
    [channels.webchat]
    session_secret = "a-session-secret-of-32-bytes!!!!"
    [agents.alice]
    name = "Alice"
    token = "alice-token"
    capacity = { chat = 3 }
    deliver = [ { kind = "nats" } ]
"#;

/// The chat panel's parts, as a visitor finds them by their label or
/// text: the message box, its Send button and the message list.
struct Widget {
    input: String,
    send: String,
    log: String,
}

impl Widget {
    /// Finds the widget and opens the panel (the "Chat with us" button) if
    /// it is closed.
    async fn open(browser: &Browser) -> Widget {
        let input = browser.find(r#"textarea[aria-label="Message"]"#).await;
        if !browser.displayed(&input).await {
            let launcher = browser.find_xpath(r#"//button[starts-with(normalize-space(), "Chat with us")]"#).await;
            browser.click(&launcher).await;
            assert!(browser.displayed(&input).await, "the launcher opens the chat panel");
        }
        let send = browser.find_xpath(r#"//textarea[@aria-label="Message"]/following-sibling::button[normalize-space()="Send"]"#).await;
        let log = browser.find(r#"[role="log"]"#).await;
        Widget { input, send, log }
    }

    /// Waits until the message list shows `needles`, in that order.
    async fn wait_for(&self, browser: &Browser, needles: &[&str]) -> String {
        let shown = wait_until(WAIT, || async {
            let text = browser.text(&self.log).await;
            let mut at = 0;
            for n in needles {
                at += text[at..].find(n)? + n.len();
            }
            Some(text)
        })
        .await;
        match shown {
            Some(text) => text,
            None => panic!("the chat shows {needles:?} within {WAIT:?}; it shows:\n{}", browser.text(&self.log).await),
        }
    }
}

async fn alice_conversation(app: &TestApp) -> String {
    let client = http();
    let found = wait_until(WAIT, || {
        let req = client.get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send();
        async move {
            let body: Value = req.await.ok()?.json().await.ok()?;
            body["conversations"].as_array()?.first()?["id"].as_str().map(str::to_owned)
        }
    })
    .await;
    found.expect("the chat is assigned to alice")
}

const QUESTION: &str = "请问我的订单什么时候发货？ (order 1024)";
const ANSWER: &str = "您好！It ships today, 今天发货。";

/// The visitor's side in the page, the agent's side through the API.
async fn chat(app: &TestApp, browser: &Browser) {
    browser.goto(&app.url("/webchat/")).await;
    let widget = Widget::open(browser).await;
    browser.type_text(&widget.input, QUESTION).await;
    browser.click(&widget.send).await;
    widget.wait_for(browser, &[QUESTION]).await;

    let conversation = alice_conversation(app).await;
    let client = http();
    let detail: Value = client
        .get(app.url(&format!("/api/v1/conversations/{conversation}")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inbound: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(inbound, [QUESTION], "the visitor's message reached the conversation once: {detail}");

    // Acked: the message left the widget's unacked queue and its bubble
    // no longer says "Sending…".
    let acked = wait_until(WAIT, || async {
        let pending = browser.script("return localStorage.getItem('switchboard.webchat.pending');").await;
        let text = browser.text(&widget.log).await;
        (pending == "[]" && !text.contains("Sending")).then_some(())
    })
    .await;
    assert!(acked.is_some(), "the message is acked; the chat shows:\n{}", browser.text(&widget.log).await);

    let resp = client
        .post(app.url(&format!("/api/v1/conversations/{conversation}/reply")))
        .bearer_auth("alice-token")
        .json(&json!({ "text": ANSWER }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let shown = widget.wait_for(browser, &[QUESTION, "Alice", ANSWER]).await;
    assert_eq!(shown.matches(QUESTION).count(), 1, "{shown}");

    // After a reload the widget keeps its visitor id and shows the history.
    let visitor = browser.script("return localStorage.getItem('switchboard.webchat.visitor_id');").await;
    assert!(visitor.as_str().is_some_and(|v| v.contains("v_")), "a visitor id in localStorage: {visitor}");
    browser.refresh().await;
    let widget = Widget::open(browser).await;
    let shown = widget.wait_for(browser, &[QUESTION, "Alice", ANSWER]).await;
    assert_eq!((shown.matches(QUESTION).count(), shown.matches(ANSWER).count()), (1, 1), "{shown}");
    assert!(!shown.contains("Sending"), "{shown}");
    let after = browser.script("return localStorage.getItem('switchboard.webchat.visitor_id');").await;
    assert_eq!(after, visitor, "the same visitor after the reload");
}

#[tokio::test]
async fn a_visitor_chats_with_an_agent_in_a_real_browser() {
    let driver = Chromedriver::start().await;
    let app = TestApp::spawn_ready(CONFIG).await;
    let browser = driver.session().await;
    let flow = {
        let browser = browser.clone();
        async move {
            chat(&app, &browser).await;
            app
        }
    };
    let (app, console) = drive(&browser, flow).await;
    browser.quit().await;
    let errors = severe(&console);
    assert!(errors.is_empty(), "errors in the browser console: {errors:#?}");
    app.stop().await;
}
