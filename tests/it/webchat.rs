//! Web chat: the widget and its demo page are served (the WebSocket path
//! arrives with the web chat issue).

use crate::support::TestApp;

#[tokio::test]
async fn the_widget_and_its_demo_page_are_served() {
    let app = TestApp::spawn("").await;
    let js = reqwest::get(app.url("/webchat/widget.js")).await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.text().await.unwrap().contains("/webchat/sessions"));
    let page = reqwest::get(app.url("/webchat/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("widget.js"));
    app.stop().await;
}
