//! The supervisor dashboard in a real headless Chromium: without a token
//! it shows only the sign-in box; a wrong token is refused; with the
//! supervisor token it goes live and its figures and charts follow the
//! traffic; it reads in Chinese; it fits a phone's width; when the daemon
//! goes away it says it is stale. Screenshots are kept under
//! `target/tmp/dashboard/`.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{sms, wait_until, TestApp};
use crate::webdriver::{drive, http, severe, Browser, Chromedriver, WAIT};

const SUPERVISOR: &str = "supervisor-token-for-the-dashboard";

const CONFIG: &str = r#"
    [server]
    supervisor_token = "supervisor-token-for-the-dashboard"
    [channels.sms.shop]
    account_sid = "AC0123456789abcdef0123456789abcdef"
    auth_token = "twilio-test-token"
    from = "+15005550006"
    api_base = "http://127.0.0.1:9"
    [agents.alice]
    name = "Alice"
    token = "alice-token"
    capacity = { sms = 2 }
    deliver = [ { kind = "nats" } ]
"#;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
}

/// The text of the element `css` matches.
async fn text_of(browser: &Browser, css: &str) -> String {
    let el = browser.find(css).await;
    browser.text(&el).await
}

/// Waits until `probe` (a script returning a value) answers `want`.
async fn wait_script(browser: &Browser, script: &str, want: impl Fn(&Value) -> bool, what: &str) -> Value {
    let seen = wait_until(WAIT, || async {
        let v = browser.script(script).await;
        want(&v).then_some(v)
    })
    .await;
    match seen {
        Some(v) => v,
        None => panic!("{what}: `{script}` answers {} after {WAIT:?}", browser.script(script).await),
    }
}

/// Sets alice's status through the agent API.
async fn alice(app: &TestApp, status: &str) {
    let r = http()
        .put(app.url("/api/v1/agents/alice/status"))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "status": status }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn dashboard(app: &TestApp, browser: &Browser) {
    alice(app, "away").await;
    browser.goto(&app.url("/dashboard")).await;

    // No token: the sign-in box, and no figures anywhere.
    let signin = browser.find("#signin").await;
    assert!(browser.displayed(&signin).await, "the sign-in box is shown without a token");
    let board = browser.find("#board").await;
    assert!(!browser.displayed(&board).await, "no data is shown without a token");
    let filled = browser.script("return document.getElementById('k-waiting').textContent").await;
    assert_eq!(filled, "–", "no figure is filled in without a token");
    // The data routes refuse the page's requests without the token.
    let r = http().get(app.url("/api/v1/supervisor/snapshot")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // A wrong token is refused and the box stays.
    let input = browser.find("#token").await;
    browser.type_text(&input, "not-the-token\n").await;
    wait_script(browser, "return document.getElementById('signin-error').textContent", |v| v.as_str().is_some_and(|s| s.contains("refused")), "a wrong token is refused").await;
    assert!(!browser.displayed(&board).await, "still no data after a wrong token");
    let stored = browser.script("return sessionStorage.getItem('switchboard.dashboard.token')").await;
    assert!(stored.is_null(), "a refused token is not kept: {stored}");

    // The supervisor token: live, with the configured queue and agent.
    browser.script("document.getElementById('token').value = ''").await;
    browser.type_text(&input, &format!("{SUPERVISOR}\n")).await;
    wait_script(browser, "return document.body.dataset.state", |v| v == "live", "the page goes live").await;
    assert!(browser.displayed(&board).await);
    let queues = text_of(browser, "#queues").await;
    assert!(queues.contains("general"), "the queue table lists the configured queue: {queues}");
    let agents = text_of(browser, "#agents").await;
    assert!(agents.contains("alice") && agents.contains("away"), "alice is listed, away: {agents}");
    assert_eq!(text_of(browser, "#k-waiting").await, "0");

    // Traffic with nobody available: the waiting figure and the inbound
    // chart follow, without a reload.
    for (i, body) in ["Where is my order 1024?", "请问什么时候发货？", "I want to return a jacket"].iter().enumerate() {
        sms(app, &format!("SM{i:032}"), &format!("+861380013800{i}"), body).await;
    }
    wait_script(browser, "return document.getElementById('k-waiting').textContent", |v| v == "3", "three conversations waiting").await;
    wait_script(
        browser,
        "return Number(document.querySelector('#inbound-chart svg').dataset.total)",
        |v| v.as_u64().is_some_and(|n| n >= 3),
        "the inbound chart counts the three messages",
    )
    .await;
    let longest = text_of(browser, "#k-longest").await;
    assert!(longest.ends_with(" s") || longest.contains(" m "), "a longest wait is shown: {longest}");

    // Alice comes back: two are assigned (her capacity), one waits.
    alice(app, "available").await;
    wait_script(browser, "return document.getElementById('k-waiting').textContent", |v| v == "1", "one left waiting").await;
    let agents = text_of(browser, "#agents").await;
    assert!(agents.contains("sms") && agents.contains("2/2"), "alice's load against her capacity: {agents}");
    browser.screenshot(&shots().join("dashboard-1280x800.png")).await;

    // In Chinese.
    let lang = browser.find("#lang").await;
    browser.click(&lang).await;
    let heading = text_of(browser, "h1").await;
    assert_eq!(heading, "主管看板");
    assert!(text_of(browser, "#queues").await.contains("排队"), "the queue table reads in Chinese");
    browser.screenshot(&shots().join("dashboard-zh-1280x800.png")).await;

    // A phone's width: one column, nothing wider than the screen.
    browser.resize(390, 844).await;
    wait_script(
        browser,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
        |v| v == true,
        "the page fits a phone's width",
    )
    .await;
    browser.screenshot(&shots().join("dashboard-phone.png")).await;
}

#[tokio::test]
async fn the_dashboard_signs_in_goes_live_and_follows_the_traffic_in_a_real_browser() {
    let driver = Chromedriver::start().await;
    let app = TestApp::spawn_ready(CONFIG).await;
    let browser = driver.session_sized(1280, 800).await;
    let flow = {
        let browser = browser.clone();
        async move {
            dashboard(&app, &browser).await;
            app
        }
    };
    let (app, console) = drive(&browser, flow).await;
    // The sign-in with a wrong token is a 401 the browser reports as a
    // failed resource load; anything else is a page error.
    let errors: Vec<_> = severe(&console).into_iter().filter(|l| !l.contains("401")).collect();
    assert!(errors.is_empty(), "errors in the browser console: {errors:#?}");
    // The daemon goes away: the page says its figures are stale.
    app.stop().await;
    let stale = wait_until(WAIT, || async { (browser.script("return document.body.dataset.state").await == "stale").then_some(()) }).await;
    let state = text_of(&browser, "#state").await;
    browser.quit().await;
    assert!(stale.is_some(), "the page says it is stale once the daemon is gone: {state}");
}
