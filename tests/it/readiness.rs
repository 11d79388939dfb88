//! `/readyz` follows Redis: 503 with the reason while it is unreachable,
//! 200 when it comes back. `/readyz/intake` stays 200 throughout: intake
//! needs NATS alone.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::support::{wait_until, TestApp};

/// Forwards connections on `listener` to the real Redis; the returned
/// token closes the listener and every forwarded connection.
fn proxy(listener: TcpListener) -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Ok(mut upstream) = TcpStream::connect("127.0.0.1:6379").await {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream) => {}
                    }
                }
            });
        }
    });
    token
}

async fn readyz(app: &TestApp) -> (u16, String) {
    probe(app, "/readyz").await
}

async fn probe(app: &TestApp, path: &str) -> (u16, String) {
    match reqwest::get(app.url(path)).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

#[tokio::test]
async fn readyz_follows_redis() {
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::spawn(&format!("[redis]\nurl = \"redis://127.0.0.1:{port}\"\ntimeout_ms = 300\n")).await;
    let down = wait_until(Duration::from_secs(10), || async {
        let (s, body) = readyz(&app).await;
        (s == 503 && body.contains("Redis")).then_some(body)
    })
    .await;
    assert!(down.is_some(), "503 naming Redis while it is unreachable");
    let intake = wait_until(Duration::from_secs(10), || async { (probe(&app, "/readyz/intake").await.0 == 200).then_some(()) }).await;
    assert!(intake.is_some(), "intake is ready without Redis: {:?}", probe(&app, "/readyz/intake").await);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "still 503 while Redis is away: {body}");
    assert_eq!(reqwest::get(app.url("/healthz")).await.unwrap().status(), 200);

    // Redis appears on that port.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let proxy_stop = proxy(listener);
    let up = wait_until(Duration::from_secs(15), || async { (readyz(&app).await.0 == 200).then_some(()) }).await;
    assert!(up.is_some(), "200 once Redis answers");

    // And goes away again.
    proxy_stop.cancel();
    let down_again = wait_until(Duration::from_secs(15), || async { (readyz(&app).await.0 == 503).then_some(()) }).await;
    assert!(down_again.is_some(), "503 again when Redis goes away");
    assert_eq!(probe(&app, "/readyz/intake").await.0, 200);
    app.stop().await;
}
