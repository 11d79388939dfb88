//! Customer messages through the providers' real webhook formats: a
//! Twilio-signed SMS form, a WeChat push (safe mode when the account has an
//! EncodingAESKey, with `msg_signature`), and an email as raw MIME or as a
//! Mailgun-signed form. Each returns whether the daemon took it; a refusal
//! is counted as an error by kind.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::Rng as _;

use crate::ctx::Ctx;
use crate::plan::Customer;
use crate::sign;

/// Posts `request`; true on 2xx, else counts `<what>_<status>` (or
/// `<what>_transport`).
async fn post(ctx: &Ctx, what: &str, request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            ctx.stats.error(format!("{what}_webhook_{}", r.status().as_u16()));
            false
        }
        Err(e) if e.is_timeout() => {
            ctx.stats.error(format!("{what}_webhook_timeout"));
            false
        }
        Err(_) => {
            ctx.stats.error(format!("{what}_webhook_transport"));
            false
        }
    }
}

fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// An inbound SMS on the first SMS account.
pub async fn sms(ctx: &Ctx, c: &Customer, text: &str) -> bool {
    let Some(account) = ctx.target.sms.first() else { return false };
    let path = format!("/webhooks/sms/{}", account.name);
    let sid = format!("SM{:08x}{:024x}", ctx.salt, ctx.next_id());
    let from = ctx.phone(c);
    let params = [
        ("MessageSid", sid.as_str()),
        ("SmsMessageSid", sid.as_str()),
        ("AccountSid", account.account_sid.as_str()),
        ("From", from.as_str()),
        ("To", account.from.as_str()),
        ("Body", text),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
    ];
    // Twilio signs the URL it calls, the daemon's public one.
    let signature = sign::twilio(&account.auth_token, &format!("{}{path}", ctx.target.public_url), &params);
    let request = ctx
        .http
        .post(ctx.url(&path))
        .header("x-twilio-signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&params));
    post(ctx, "sms", request).await
}

/// An inbound WeChat text push on the first WeChat account.
pub async fn wechat(ctx: &Ctx, c: &Customer, text: &str) -> bool {
    let Some(account) = ctx.target.wechat.first() else { return false };
    let open_id = ctx.open_id(c);
    let now = chrono::Utc::now().timestamp();
    let id = ctx.next_id();
    let msg_id = u64::from(ctx.salt) * 1_000_000_000_000 + id;
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_simulate0001]]></ToUserName><FromUserName><![CDATA[{open_id}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>"
    );
    let (ts, nonce) = (now.to_string(), format!("{}{id}", rand::thread_rng().gen_range(100_000..999_999)));
    let signature = sign::wechat(&[&account.token, &ts, &nonce]);
    let path = format!("/webhooks/wechat/{}", account.name);
    let (query, body) = match &account.encoding_aes_key {
        Some(key) => {
            let sealed = match sign::wechat_seal(key, &account.app_id, rand::thread_rng().gen(), &xml) {
                Ok(s) => s,
                Err(_) => {
                    ctx.stats.error("wechat_bad_aes_key");
                    return false;
                }
            };
            let msg_signature = sign::wechat(&[&account.token, &ts, &nonce, &sealed]);
            (
                format!("signature={signature}&timestamp={ts}&nonce={nonce}&openid={open_id}&encrypt_type=aes&msg_signature={msg_signature}"),
                format!("<xml><ToUserName><![CDATA[gh_simulate0001]]></ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>"),
            )
        }
        None => (format!("signature={signature}&timestamp={ts}&nonce={nonce}&openid={open_id}"), xml),
    };
    let request = ctx.http.post(ctx.url(&format!("{path}?{query}"))).header("content-type", "text/xml").body(body);
    post(ctx, "wechat", request).await
}

/// An RFC 2047 encoded-word for a header with non-ASCII text.
fn encoded_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
    }
}

/// The MIME of message `k` of the customer's thread (`k > 0` replies to
/// the first, so it threads).
pub fn mime(ctx: &Ctx, c: &Customer, k: usize, text: &str, to: &str) -> String {
    let from = ctx.email(c);
    let first_id = format!("<sim-{}-{}-0@{}>", ctx.salt, c.n, from.split('@').nth(1).unwrap_or("mail.example"));
    let this_id = first_id.replace("-0@", &format!("-{k}@"));
    let subject = c.topic.subject(c.lang);
    let mut head = format!(
        "From: {} <{from}>\r\nTo: {to}\r\nSubject: {}{}\r\nDate: {}\r\nMessage-ID: {this_id}\r\n",
        encoded_word(&c.name),
        if k > 0 { "Re: " } else { "" },
        encoded_word(subject),
        chrono::Utc::now().to_rfc2822(),
    );
    if k > 0 {
        head.push_str(&format!("In-Reply-To: {first_id}\r\nReferences: {first_id}\r\n"));
    }
    let body = STANDARD.encode(format!("{text}\r\n\r\n-- \r\n{}\r\n", c.name));
    let wrapped: Vec<&str> = body.as_bytes().chunks(76).filter_map(|l| std::str::from_utf8(l).ok()).collect();
    format!(
        "{head}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        wrapped.join("\r\n")
    )
}

/// An inbound email on the first email account: raw MIME and
/// Mailgun-signed forms alternate when the account takes both.
pub async fn email(ctx: &Ctx, c: &Customer, k: usize, text: &str) -> bool {
    let Some(account) = ctx.target.email.first() else { return false };
    let path = format!("/webhooks/email/{}", account.name);
    let raw = mime(ctx, c, k, text, &account.address);
    let use_mailgun = match (&account.mailgun_signing_key, &account.raw_mime_token) {
        (Some(_), Some(_)) => (c.n + k) % 2 == 0,
        (Some(_), None) => true,
        _ => false,
    };
    let request = match (&account.mailgun_signing_key, use_mailgun) {
        (Some(key), true) => {
            let timestamp = chrono::Utc::now().timestamp().to_string();
            let token = format!("{:08x}{:016x}{:026x}", ctx.salt, ctx.next_id(), rand::thread_rng().gen::<u64>());
            let signature = sign::mailgun(key, &timestamp, &token);
            let from = ctx.email(c);
            let params = [
                ("recipient", account.address.as_str()),
                ("sender", from.as_str()),
                ("timestamp", timestamp.as_str()),
                ("token", token.as_str()),
                ("signature", signature.as_str()),
                ("body-mime", raw.as_str()),
            ];
            ctx.http.post(ctx.url(&path)).header("content-type", "application/x-www-form-urlencoded").body(form(&params))
        }
        _ => {
            let mut r = ctx.http.post(ctx.url(&path)).header("content-type", "message/rfc822").body(raw);
            if let Some(token) = &account.raw_mime_token {
                r = r.header("x-switchboard-mail-token", token);
            }
            r
        }
    };
    post(ctx, "email", request).await
}
