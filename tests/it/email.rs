//! Email end to end: raw MIME and Mailgun posts, threading of replies by
//! Message-ID and by the reply token, the agent's reply over SMTP in the
//! customer's thread, replays and garbage refused, bounces marking the
//! reply failed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::Mac;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::{wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const KEY: &str = "mailgun-signing-key";
const RAW_TOKEN: &str = "mta-shared-secret-0123";

/// A minimal SMTP relay that accepts everything and records each DATA.
pub(crate) async fn fake_smtp() -> (u16, Arc<Mutex<Vec<String>>>) {
    let mails = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(buf) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(data.take().unwrap());
                            w.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            buf.push_str(&line);
                            buf.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

fn config(smtp: u16, hook: &FakePeer) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        [channels.email.support]
        address = "support@shop.example"
        smtp_url = "smtp://127.0.0.1:{smtp}"
        mailgun_signing_key = "{KEY}"
        raw_mime_token = "{RAW_TOKEN}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ email = 8 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#,
        hook = hook.base(),
    )
}

async fn post_raw(app: &TestApp, mime: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/webhooks/email/support"))
        .header("content-type", "message/rfc822")
        .header("x-switchboard-mail-token", RAW_TOKEN)
        .body(mime.to_owned())
        .send()
        .await
        .unwrap()
}

fn mailgun_form(mime: &str, timestamp: i64, token: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    crate::support::form(&[
        ("timestamp", &timestamp.to_string()),
        ("token", token),
        ("signature", &signature),
        ("body-mime", mime),
    ])
}

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

const FIRST: &str = "From: Li Wei <li.wei@customer.example>\r\nTo: support@shop.example\r\nSubject: =?UTF-8?B?6K6i5Y2V5Zyo5ZOq?=\r\nMessage-ID: <first-1@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is order 1234?\r\n\r\nSent from my iPhone\r\n";

#[tokio::test]
async fn email_threads_replies_and_refuses_bad_posts() {
    let (smtp, mails) = fake_smtp().await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(smtp, &hook)).await;

    // Raw MIME in; the agent sees the text without the signature.
    assert_eq!(post_raw(&app, FIRST).await.status(), 200);
    let seen = hook.wait_for(1, WAIT).await;
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(event["type"], "switchboard.conversation.assigned");
    assert_eq!(event["data"]["customer"]["address"], "li.wei@customer.example");
    assert_eq!(event["data"]["message"]["text"], "Where is order 1234?");
    let conv = event["data"]["conversation_id"].as_str().unwrap().to_owned();

    // The agent replies: SMTP gets it in the customer's thread.
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "text": "It left the warehouse today." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let reply_id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    wait_until(WAIT, || {
        let n = mails.lock().unwrap().len();
        async move { (n >= 1).then_some(()) }
    })
    .await
    .expect("a mail at the relay");
    let sent = mails.lock().unwrap()[0].clone();
    assert!(sent.contains("In-Reply-To: <first-1@customer.example>"), "{sent}");
    assert!(sent.contains("<first-1@customer.example>"), "{sent}");
    assert!(sent.contains(&format!("Message-ID: <{reply_id}@shop.example>")), "{sent}");
    assert!(sent.contains(&format!("support+{conv}@shop.example")), "{sent}");
    assert!(sent.contains("It left the warehouse today."));

    // The customer answers from another mailbox, quoting us: same conversation.
    let answer = format!(
        "From: li.wei.work@other.example\r\nTo: support@shop.example\r\nSubject: Re: order\r\nMessage-ID: <second-2@other.example>\r\nIn-Reply-To: <{reply_id}@shop.example>\r\nReferences: <first-1@customer.example> <{reply_id}@shop.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks!\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Support <support@shop.example> wrote:\r\n> It left the warehouse today.\r\n"
    );
    // Through the Mailgun route this time.
    let now = chrono::Utc::now().timestamp();
    let form = mailgun_form(&answer, now, "token-1");
    let client = reqwest::Client::new();
    let post_form = |body: String| {
        client
            .post(app.url("/webhooks/email/support"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(post_form(form.clone()).await.unwrap().status(), 200);
    let thread = wait_until(WAIT, || async {
        let c = conversation(&app, &conv).await;
        let inbound = c["messages"].as_array()?.iter().filter(|m| m["direction"] == "inbound").count();
        (inbound >= 2).then_some(c)
    })
    .await
    .expect("the answer joins the conversation");
    let last = thread["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["text"], "Thanks!");

    // A third mail with only the reply token (lower-cased by the customer's
    // mail system) in the address, no threading headers: same conversation.
    let third = format!(
        "From: liwei@third.example\r\nTo: support+{}@shop.example\r\nSubject: one more thing\r\nMessage-ID: <third-3@third.example>\r\n\r\nAlso a gift wrap please.\r\n",
        conv.to_lowercase()
    );
    assert_eq!(post_raw(&app, &third).await.status(), 200);
    wait_until(WAIT, || async {
        let c = conversation(&app, &conv).await;
        let inbound = c["messages"].as_array()?.iter().filter(|m| m["direction"] == "inbound").count();
        (inbound >= 3).then_some(())
    })
    .await
    .expect("the token joins the conversation");

    // The same Mailgun post again is a replay; stale and forged ones are refused.
    assert_eq!(post_form(form).await.unwrap().status(), 403);
    assert_eq!(post_form(mailgun_form(&answer, now - 600, "token-2")).await.unwrap().status(), 403);
    let forged = mailgun_form(&answer, now, "token-3").replace("token-3", "token-4");
    assert_eq!(post_form(forged).await.unwrap().status(), 403);
    // Garbage is refused with a reason.
    let r = post_raw(&app, "\u{0}\u{1}not a mail").await;
    assert_eq!(r.status(), 400);

    // A bounce of our reply marks it failed and tells the agent.
    let bounce = format!(
        "From: MAILER-DAEMON@mx.customer.example\r\nTo: support@shop.example\r\nSubject: Undelivered Mail\r\nMessage-ID: <bounce-1@mx.customer.example>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\nFinal-Recipient: rfc822; li.wei@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{reply_id}@shop.example>\r\nFrom: support@shop.example\r\n--b--\r\n"
    );
    let r = post_raw(&app, &bounce).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["bounce"], true, "{answer}");
    assert_eq!(answer["known"], true, "{answer}");
    let failed = wait_until(WAIT, || {
        let found = hook.events().into_iter().find(|e| e["type"] == "switchboard.conversation.send_failed");
        async move { found }
    })
    .await
    .expect("a send_failed event for the bounce");
    assert_eq!(failed["data"]["message"]["id"], reply_id.as_str());
    app.stop().await;
}

/// The `email` delivery target and the agent's answer by email: the
/// assigned SMS conversation is mailed to alice with a signed reply
/// address; her emailed reply (quote stripped) goes to the customer by SMS;
/// the same token from another sender, or a forged token, sends nothing.
#[tokio::test]
async fn an_agent_answers_by_email_and_the_customer_gets_an_sms() {
    let (smtp, mails) = fake_smtp().await;
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid": "SM-out-1", "status": "queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.email.support]
        address = "support@shop.example"
        smtp_url = "smtp://127.0.0.1:{smtp}"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 2 }}
        deliver = [ {{ kind = "email", address = "alice@shop.example" }} ]
        [agents.bob]
        token = "bob-token"
        capacity = {{ sms = 0 }}
        deliver = [ {{ kind = "email", address = "bob@shop.example" }} ]
        "#,
        twilio = twilio.base()
    ))
    .await;
    let url = app.url("/webhooks/sms/shop");
    let params = [("MessageSid", "SM1"), ("From", "+14155550001"), ("To", "+15005550006"), ("Body", "Where is order 77?")];
    let r = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", crate::support::twilio_signature("twilio-test-token", &url, &params))
        .body(crate::support::form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mail = wait_until(WAIT, || {
        let m = mails.lock().unwrap().iter().find(|m| m.contains("Where is order 77?")).cloned();
        async move { m }
    })
    .await
    .expect("alice is mailed the conversation");
    assert!(mail.contains("To: alice@shop.example"), "{mail}");
    let reply_to = mail
        .lines()
        .find_map(|l| l.strip_prefix("Reply-To: "))
        .expect("a Reply-To")
        .trim()
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    assert!(reply_to.starts_with("support+a."), "{reply_to}");

    let answer = |from: &str, to: &str, text: &str| {
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: Re: [switchboard]\r\nMessage-ID: <{}@shop.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, support@shop.example wrote:\r\n> Where is order 77?\r\n",
            ulid::Ulid::new()
        )
    };
    // Another sender with alice's token, and alice with a forged token: nothing goes out.
    assert_eq!(post_raw(&app, &answer("mallory@evil.example", &reply_to, "Refund granted!")).await.status(), 200);
    let forged = format!("{}0000000000000000@shop.example", &reply_to[..reply_to.find('@').unwrap() - 16]);
    assert_eq!(post_raw(&app, &answer("alice@shop.example", &forged, "Refund granted!")).await.status(), 200);
    assert_eq!(post_raw(&app, &answer("bob@shop.example", &reply_to, "Refund granted!")).await.status(), 200);
    // Alice's own answer goes to the customer by SMS, without the quote.
    assert_eq!(post_raw(&app, &answer("Alice <alice@shop.example>", &reply_to, "It ships today.")).await.status(), 200);
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].form_value("Body").as_deref(), Some("It ships today."));
    assert_eq!(sent[0].form_value("To").as_deref(), Some("+14155550001"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(twilio.seen().len(), 1, "the refused mails sent nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_mailgun_account_refuses_unsigned_raw_mime() {
    // The account has a Mailgun key and no raw_mime_token: raw MIME is
    // refused however it comes; with a token, only with that token.
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&format!(
        r#"
        [channels.email.support]
        address = "support@shop.example"
        mailgun_signing_key = "{KEY}"
        [channels.email.relay]
        address = "relay@shop.example"
        mailgun_signing_key = "{KEY}"
        raw_mime_token = "{RAW_TOKEN}"
        [channels.email.mta]
        address = "mta@shop.example"
        "#
    ))
    .await;
    let client = reqwest::Client::new();
    let post = |account: &str, auth: Option<(&str, &str)>| {
        let mut req = client.post(app.url(&format!("/webhooks/email/{account}"))).header("content-type", "message/rfc822").body(FIRST);
        if let Some((name, value)) = auth {
            req = req.header(name, value);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post("support", None).await, 403);
    assert_eq!(post("support", Some(("x-switchboard-mail-token", RAW_TOKEN))).await, 403, "no token is configured there");
    assert_eq!(post("relay", None).await, 403);
    assert_eq!(post("relay", Some(("x-switchboard-mail-token", "mta-shared-secret-0124"))).await, 403);
    assert_eq!(post("relay", Some(("x-switchboard-mail-token", RAW_TOKEN))).await, 200);
    use base64::Engine as _;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("mta:{RAW_TOKEN}")));
    assert_eq!(post("relay", Some(("authorization", &basic))).await, 200);
    // A separate account without a Mailgun key is the MTA's raw route.
    assert_eq!(post("mta", None).await, 200);
    drop(hook);
    app.stop().await;
}

#[tokio::test]
async fn a_mailgun_retry_after_a_503_is_not_a_replay() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let outage = crate::support::proxy(listener, "127.0.0.1:4222");
    let app = TestApp::spawn_ready(&format!(
        r#"
        [nats]
        url = "nats://127.0.0.1:{port}"
        publish_timeout_ms = 500
        [channels.email.support]
        address = "support@shop.example"
        mailgun_signing_key = "{KEY}"
        "#
    ))
    .await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let form = mailgun_form(FIRST, chrono::Utc::now().timestamp(), "token-retry");
    let post = || {
        client
            .post(app.url("/webhooks/email/support"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
    };
    // NATS away: not durable, 503, so Mailgun retries with the same token.
    outage.cancel();
    wait_until(Duration::from_secs(10), || async {
        let r = client.get(app.url("/readyz")).send().await.ok()?;
        (r.status() == 503).then_some(())
    })
    .await
    .expect("not ready while NATS is away");
    assert_eq!(post().await.unwrap().status(), 503);
    let back = crate::support::proxy(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap(), "127.0.0.1:4222");
    // The retry is taken (it was refused as a replay before the fix)...
    let ok = wait_until(Duration::from_secs(10), || async { (post().await.ok()?.status() == 200).then_some(()) }).await;
    assert!(ok.is_some(), "Mailgun's retry was never taken");
    // ...and once taken, the same post again is a replay.
    assert_eq!(post().await.unwrap().status(), 403);
    app.stop().await;
    back.cancel();
}
