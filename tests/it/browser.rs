//! The web chat demo page in a real headless Chromium, driven over W3C
//! WebDriver (chromedriver, plain HTTP): a visitor opens the chat, writes,
//! sees the message acked, gets the agent's reply live, and finds both
//! again after a reload.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`
//! (`tests/browser-deps.sh`, run by `tests/run.sh`, installs them); the test
//! fails, not skips, without them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{wait_until, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous: the browser shares two cores with the rest of the suite.
const WAIT: Duration = Duration::from_secs(30);
/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const CONFIG: &str = r#"
    [channels.webchat]
    session_secret = "a-session-secret-of-32-bytes!!!!"
    [agents.alice]
    name = "Alice"
    token = "alice-token"
    capacity = { chat = 3 }
    deliver = [ { kind = "nats" } ]
"#;

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// A chromedriver child process on a free port, in its own process group:
/// on drop the group is killed, which takes the browsers it started along
/// (killing chromedriver alone leaves them running).
struct Chromedriver {
    base: String,
    child: tokio::process::Child,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Chromedriver {
    async fn start() -> Chromedriver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser test needs the Debian packages `chromium` and `chromium-driver` \
                 (tests/browser-deps.sh installs them; tests/run.sh runs it)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let client = http();
        let ready = wait_until(WAIT, || {
            let req = client.get(format!("{base}/status")).send();
            async move {
                let status: Value = req.await.ok()?.json().await.ok()?;
                status["value"]["ready"].as_bool().filter(|r| *r)
            }
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not answer /status on port {port}");
        Chromedriver { base, child }
    }

    /// A new headless Chromium session that records the console.
    async fn session(&self) -> Browser {
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let resp = http().post(format!("{}/session", self.base)).json(&caps).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "creating a chromium session: {status} {body}");
        let id = body["value"]["sessionId"].as_str().unwrap();
        Browser { http: http(), url: format!("{}/session/{id}", self.base) }
    }
}

/// One WebDriver session.
#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    url: String,
}

impl Browser {
    /// One command; `Err` carries the WebDriver error.
    async fn try_cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let mut answer: Value = resp.json().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if status.is_success() {
            Ok(answer["value"].take())
        } else {
            Err(format!("{method} {path}: {status} {}", answer["value"]))
        }
    }

    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body).await.unwrap_or_else(|e| panic!("{e}"))
    }

    async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn refresh(&self) {
        self.cmd(Method::POST, "/refresh", Some(json!({}))).await;
    }

    /// The element `css` matches, waiting for it to exist.
    async fn find(&self, css: &str) -> String {
        self.find_by("css selector", css).await
    }

    async fn find_xpath(&self, xpath: &str) -> String {
        self.find_by("xpath", xpath).await
    }

    async fn find_by(&self, using: &str, value: &str) -> String {
        let found = wait_until(WAIT, || async {
            let el = self.try_cmd(Method::POST, "/element", Some(json!({ "using": using, "value": value }))).await;
            el.ok()?[ELEMENT].as_str().map(str::to_owned)
        })
        .await;
        found.unwrap_or_else(|| panic!("no element matches {value}"))
    }

    async fn displayed(&self, el: &str) -> bool {
        self.cmd(Method::GET, &format!("/element/{el}/displayed"), None).await.as_bool().unwrap()
    }

    async fn click(&self, el: &str) {
        self.cmd(Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    async fn type_text(&self, el: &str, text: &str) {
        self.cmd(Method::POST, &format!("/element/{el}/value"), Some(json!({ "text": text }))).await;
    }

    /// The rendered text of `el`.
    async fn text(&self, el: &str) -> String {
        self.cmd(Method::GET, &format!("/element/{el}/text"), None).await.as_str().unwrap().to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.cmd(Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// The console messages so far, `level message` (chromedriver's log
    /// endpoint; an error reading it is returned as the one entry).
    async fn console(&self) -> Vec<String> {
        match self.try_cmd(Method::POST, "/se/log", Some(json!({ "type": "browser" }))).await {
            Ok(Value::Array(entries)) => entries
                .iter()
                .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
                .collect(),
            Ok(other) => vec![other.to_string()],
            Err(e) => vec![e],
        }
    }

    async fn quit(&self) {
        let _ = self.try_cmd(Method::DELETE, "", None).await;
    }
}

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
    // The flow runs in its own task so that a failure still shows the
    // browser's console and ends the browser session.
    let outcome = tokio::spawn({
        let browser = browser.clone();
        async move {
            chat(&app, &browser).await;
            app
        }
    })
    .await;
    let console = browser.console().await;
    browser.quit().await;
    match outcome {
        Ok(app) => {
            // The page has no favicon; anything else severe is a widget error.
            let errors: Vec<_> =
                console.iter().filter(|l| l.starts_with("SEVERE") && !l.contains("/favicon.ico")).collect();
            assert!(errors.is_empty(), "errors in the browser console: {errors:#?}");
            app.stop().await;
        }
        Err(e) => {
            eprintln!("browser console:\n  {}", console.join("\n  "));
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
