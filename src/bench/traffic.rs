//! The benchmark's customers: Twilio-signed inbound SMS webhooks, one
//! distinct customer per message index, so every message opens its own
//! conversation and its `assigned` event can be matched back to the
//! request by the customer's number.

use anyhow::Context;
use chrono::Utc;
use switchboard_sms::{compute_signature, normalize, Verified};

/// The first customer number; message `i` comes from `+1` `BASE + i`.
const BASE: u64 = 2_000_000_000;

/// A realistic message: an order question, in English and Chinese, about
/// the size of what a support team receives by SMS.
const TEXT: &str = "Hi, my order has not arrived yet and the tracking page has not moved for three days. \
                    Where is it? 你好，我的快递三天没有更新了，请帮我查一下。";

/// One SMS account's signed traffic.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// The configured account name (the webhook path's last segment).
    pub account: String,
    /// Its Twilio auth token (signs the webhooks).
    pub token: String,
    /// The public URL of the webhook, as signed.
    pub url: String,
    /// Makes provider message ids unique to this run.
    pub run: String,
}

impl Traffic {
    /// The customer number of message `i`.
    pub fn phone(i: u64) -> String {
        format!("+1{}", BASE + i)
    }

    /// The message index of a customer number, if it is one of ours.
    pub fn index_of(address: &str) -> Option<u64> {
        address.strip_prefix("+1")?.parse::<u64>().ok()?.checked_sub(BASE)
    }

    /// The webhook parameters of message `i`, as Twilio sends them.
    pub fn params(&self, i: u64) -> Vec<(String, String)> {
        [
            ("MessageSid", format!("SM{}{i:010}", self.run)),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef".to_owned()),
            ("From", Self::phone(i)),
            ("To", "+15005550006".to_owned()),
            ("Body", TEXT.to_owned()),
            ("NumMedia", "0".to_owned()),
            ("NumSegments", "1".to_owned()),
            ("SmsStatus", "received".to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The form body and `X-Twilio-Signature` of message `i`.
    pub fn request(&self, i: u64) -> (String, String) {
        let params = self.params(i);
        let signature = compute_signature(&self.token, &self.url, &params);
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            form.append_pair(k, v);
        }
        (form.finish(), signature)
    }

    /// Message `i` as the webhook handler publishes it to JetStream: its
    /// `Nats-Msg-Id` and the normalized JSON (verified and normalized by the
    /// same code the handler uses).
    pub fn inbound(&self, i: u64) -> anyhow::Result<(String, Vec<u8>)> {
        let (body, signature) = self.request(i);
        let verified = Verified::check(&self.token, &self.url, body.as_bytes(), Some(&signature))
            .context("the benchmark's own signature does not verify")?;
        let msg = normalize(&self.account, &verified, ulid::Ulid::new().to_string(), Utc::now())
            .context("the benchmark's own message does not normalize")?;
        let json = serde_json::to_vec(&msg)?;
        Ok((format!("sms:{}:{}", self.account, msg.provider_message_id), json))
    }
}

#[cfg(test)]
mod tests {
    use super::Traffic;

    #[test]
    fn numbers_map_back_to_indexes_and_messages_verify() {
        assert_eq!(Traffic::index_of(&Traffic::phone(42)), Some(42));
        assert_eq!(Traffic::index_of("+11005550006"), None);
        assert_eq!(Traffic::index_of("alice@example.com"), None);
        let t = Traffic {
            account: "bench".into(),
            token: "secret".into(),
            url: "http://127.0.0.1:1/webhooks/sms/bench".into(),
            run: "r1".into(),
        };
        let (id, json) = t.inbound(7).unwrap();
        assert_eq!(id, "sms:bench:SMr10000000007");
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["customer"], "+12000000007");
    }
}
