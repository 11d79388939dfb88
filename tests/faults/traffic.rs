//! The traffic of a fault run: signed inbound messages (Twilio SMS and
//! safe-mode WeChat pushes) posted until a replica answers 200, as the
//! providers retry, and the agents' side: a reply with an Idempotency-Key,
//! then a resolve, both retried until answered.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::suite::{Fleet, Ledger};

pub const TWILIO_TOKEN: &str = "twilio-fault-token";
pub const WECHAT_TOKEN: &str = "wechat-fault-token";
pub const WECHAT_APP_ID: &str = "wxfault0000000001";
/// 43 characters of base64 (the AES-256 key with its `=` dropped).
pub const WECHAT_AES_KEY: &str = "ZmF1bHQtc3VpdGUtYWVzLWtleS0wMTIzNDU2Nzg5YWI";

/// Message `i` from customer `customer`: every fourth on WeChat, the rest
/// by SMS.
pub async fn send(fleet: &Fleet, ledger: &Mutex<Ledger>, http: &reqwest::Client, i: usize, customer: usize) {
    if i % 4 == 3 {
        send_wechat(fleet, ledger, http, i, customer).await;
    } else {
        send_sms(fleet, ledger, http, i, customer).await;
    }
}

/// Posts until a replica answers 200 or four minutes pass; records every
/// answer and, on 200, the text as acknowledged.
async fn post_until_taken(
    fleet: &Fleet,
    ledger: &Mutex<Ledger>,
    i: usize,
    text: String,
    mut attempt_once: impl FnMut(String) -> reqwest::RequestBuilder,
    path: &str,
) {
    let until = Instant::now() + Duration::from_secs(240);
    let mut attempt = 0;
    while Instant::now() < until {
        let url = format!("{}{path}", fleet.pick(i + attempt));
        attempt += 1;
        let ok = matches!(attempt_once(url).send().await, Ok(r) if r.status() == 200);
        {
            let mut l = ledger.lock().unwrap();
            l.intake.push((Instant::now(), ok));
            if ok {
                l.inbound.insert(text);
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Inbound SMS `i`, Twilio-signed.
async fn send_sms(fleet: &Fleet, ledger: &Mutex<Ledger>, http: &reqwest::Client, i: usize, customer: usize) {
    let sid = format!("SM{i:032x}");
    let from = format!("+1415{customer:07}");
    let text = format!("m{i} where is my parcel");
    let params = [("MessageSid", sid.as_str()), ("From", from.as_str()), ("To", "+15005550006"), ("Body", text.as_str())];
    let body = form(&params);
    let request = |url: String| {
        http.post(&url)
            .header("x-twilio-signature", twilio_signature(&url, &params))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
    };
    post_until_taken(fleet, ledger, i, text.clone(), request, "/webhooks/sms/shop").await;
}

/// Inbound WeChat message `i` in safe mode: the XML sealed under the
/// account's EncodingAESKey, signed with `signature` and `msg_signature`.
/// Every retry is the same request, as WeChat's are.
async fn send_wechat(fleet: &Fleet, ledger: &Mutex<Ledger>, http: &reqwest::Client, i: usize, customer: usize) {
    let open_id = format!("oFault{customer:022}");
    let text = format!("m{i} where is my parcel");
    let now = chrono::Utc::now().timestamp();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_fault]]></ToUserName><FromUserName><![CDATA[{open_id}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>{}</MsgId></xml>",
        7_000_000_000_000_000_000u64 + i as u64
    );
    let sealed = wechat_seal(&xml, i);
    let (ts, nonce) = (now.to_string(), format!("{}", 100_000 + i));
    let query = format!(
        "?signature={}&timestamp={ts}&nonce={nonce}&openid={open_id}&encrypt_type=aes&msg_signature={}",
        sha1_sorted(&[WECHAT_TOKEN, &ts, &nonce]),
        sha1_sorted(&[WECHAT_TOKEN, &ts, &nonce, &sealed])
    );
    let body = format!("<xml><ToUserName><![CDATA[gh_fault]]></ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>");
    let request = |url: String| http.post(url).header("content-type", "text/xml").body(body.clone());
    post_until_taken(fleet, ledger, i, text.clone(), request, &format!("/webhooks/wechat/shop{query}")).await;
}

/// The agent's side of one assignment: a reply (with an Idempotency-Key,
/// retried until answered), then a resolve.
pub async fn work_assignment(fleet: &Fleet, ledger: &Mutex<Ledger>, http: &reqwest::Client, event: &Value) {
    let conv = event["data"]["conversation_id"].as_str().unwrap_or_default().to_owned();
    let agent = event["data"]["agent"].as_str().unwrap_or_default().to_owned();
    let Some(n) = agent.strip_prefix('a') else { return };
    let token = format!("agent-token-{n}");
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let text = format!("reply to {id}");
    let key = format!("k-{id}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let until = Instant::now() + Duration::from_secs(200);
    let mut attempt = 0;
    let mut replied = false;
    while Instant::now() < until {
        attempt += 1;
        let url = format!("{}/api/v1/conversations/{conv}/reply", fleet.pick(attempt));
        let r = http.post(url).bearer_auth(&token).header("idempotency-key", &key).json(&serde_json::json!({ "text": text })).send().await;
        match r.map(|r| r.status().as_u16()) {
            Ok(200..=299) => {
                ledger.lock().unwrap().replies.push((conv.clone(), text.clone()));
                replied = true;
                break;
            }
            // Not (or no longer) this agent's: nothing was queued.
            Ok(403 | 404 | 409 | 422) => break,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    if !replied {
        return;
    }
    while Instant::now() < until {
        attempt += 1;
        let url = format!("{}/api/v1/conversations/{conv}/resolve", fleet.pick(attempt));
        match http.post(url).bearer_auth(&token).json(&serde_json::json!({})).send().await.map(|r| r.status().as_u16()) {
            Ok(200..=299) => {
                *ledger.lock().unwrap().resolves.entry(conv.clone()).or_default() += 1;
                return;
            }
            Ok(403 | 404 | 409 | 422) => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}


/// `hex(sha1(concat(sort(parts))))`: WeChat's signatures.
fn sha1_sorted(parts: &[&str]) -> String {
    use sha1::Digest;
    let mut sorted = parts.to_vec();
    sorted.sort();
    sha1::Sha1::digest(sorted.concat().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// WeChat's safe-mode sealing, written from its documentation: AES-256-CBC
/// under `base64(EncodingAESKey + "=")`, the IV its first 16 bytes, over
/// `random(16) ‖ len(xml) as u32 big-endian ‖ xml ‖ AppID`, padded PKCS#7
/// to a multiple of 32; base64.
fn wechat_seal(xml: &str, i: usize) -> String {
    use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.decode(format!("{WECHAT_AES_KEY}=")).unwrap();
    let mut plain = format!("{i:016}").into_bytes();
    plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(WECHAT_APP_ID.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &key[..16]).unwrap();
    let sealed = cipher.encrypt_padded_vec_mut::<NoPadding>(&plain);
    base64::engine::general_purpose::STANDARD.encode(sealed)
}
