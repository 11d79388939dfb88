//! A W3C WebDriver client for the browser tests: a chromedriver child on a
//! free port and headless Chromium sessions that record the console.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`
//! (`tests/browser-deps.sh`, run by `tests/run.sh`, installs them); a test
//! using it fails, not skips, without them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::wait_until;

pub const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous: the browser shares two cores with the rest of the suite.
pub const WAIT: Duration = Duration::from_secs(30);
/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// A chromedriver child process on a free port, in its own process group:
/// on drop the group is killed, which takes the browsers it started along
/// (killing chromedriver alone leaves them running).
pub struct Chromedriver {
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
    pub async fn start() -> Chromedriver {
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
    pub async fn session(&self) -> Browser {
        self.session_sized(1280, 900).await
    }

    /// A session whose window is `width`×`height` CSS pixels.
    pub async fn session_sized(&self, width: u32, height: u32) -> Browser {
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", &format!("--window-size={width},{height}")],
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
pub struct Browser {
    http: reqwest::Client,
    url: String,
}

impl Browser {
    /// One command; `Err` carries the WebDriver error.
    pub async fn try_cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
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

    pub async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn refresh(&self) {
        self.cmd(Method::POST, "/refresh", Some(json!({}))).await;
    }

    /// The element `css` matches, waiting for it to exist.
    pub async fn find(&self, css: &str) -> String {
        self.find_by("css selector", css).await
    }

    pub async fn find_xpath(&self, xpath: &str) -> String {
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

    pub async fn displayed(&self, el: &str) -> bool {
        self.cmd(Method::GET, &format!("/element/{el}/displayed"), None).await.as_bool().unwrap()
    }

    pub async fn click(&self, el: &str) {
        self.cmd(Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    pub async fn type_text(&self, el: &str, text: &str) {
        self.cmd(Method::POST, &format!("/element/{el}/value"), Some(json!({ "text": text }))).await;
    }

    /// The rendered text of `el`.
    pub async fn text(&self, el: &str) -> String {
        self.cmd(Method::GET, &format!("/element/{el}/text"), None).await.as_str().unwrap().to_owned()
    }

    pub async fn script(&self, script: &str) -> Value {
        self.cmd(Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// The console messages so far, `level message` (chromedriver's log
    /// endpoint; an error reading it is returned as the one entry).
    pub async fn console(&self) -> Vec<String> {
        match self.try_cmd(Method::POST, "/se/log", Some(json!({ "type": "browser" }))).await {
            Ok(Value::Array(entries)) => entries
                .iter()
                .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
                .collect(),
            Ok(other) => vec![other.to_string()],
            Err(e) => vec![e],
        }
    }

    pub async fn quit(&self) {
        let _ = self.try_cmd(Method::DELETE, "", None).await;
    }

    /// Resizes the window to `width`×`height`.
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(Method::POST, "/window/rect", Some(json!({ "width": width, "height": height }))).await;
    }

    /// Saves a PNG screenshot of the window at `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.cmd(Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Runs `flow` in its own task, so that a failure still shows the
/// browser's console and ends the session: on a panic the console is
/// printed, the session quit and the panic resumed; otherwise the flow's
/// value and the console so far (the session stays open).
pub async fn drive<T: Send + 'static>(browser: &Browser, flow: impl std::future::Future<Output = T> + Send + 'static) -> (T, Vec<String>) {
    let outcome = tokio::spawn(flow).await;
    let console = browser.console().await;
    match outcome {
        Ok(value) => (value, console),
        Err(e) => {
            eprintln!("browser console:\n  {}", console.join("\n  "));
            browser.quit().await;
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// The severe entries of a console log, except a missing favicon (the pages
/// have none): what a test counts as errors of the page.
pub fn severe(console: &[String]) -> Vec<&String> {
    console.iter().filter(|l| l.starts_with("SEVERE") && !l.contains("/favicon.ico")).collect()
}
