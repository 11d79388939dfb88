//! A web chat visitor: opens a session (with the shop's signed identity
//! for known customers), holds the WebSocket, sends `message` frames and
//! waits for their `ack`; agent messages pushed on the socket are replies
//! received.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::SplitSink;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ctx::Ctx;
use crate::plan::Customer;
use crate::sign;

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// An open visitor socket.
#[derive(Debug)]
pub struct Visitor {
    pub visitor_id: String,
    sink: Sink,
    acks: mpsc::UnboundedReceiver<String>,
    sent: u32,
}

/// Opens a session and its socket; `None` (counted) when the daemon
/// refuses. `identity`: the customer is known to the shop (VIP or linked).
pub async fn open(ctx: &Ctx, c: &Customer, identity: bool) -> Option<Visitor> {
    let body = match (identity, ctx.target.webchat.as_ref().and_then(Option::as_ref)) {
        (true, Some(secret)) => {
            let (id, tier, ts) = (ctx.shop_id(c), if c.vip { "vip" } else { "" }, chrono::Utc::now().timestamp());
            let signature = sign::identity(secret, &id, &c.name, tier, ts);
            json!({"identity": {"customer_id": id, "name": c.name, "tier": tier, "timestamp": ts, "signature": signature}})
        }
        _ => json!({"name": c.name}),
    };
    let session: Value = match ctx.http.post(ctx.url("/webchat/sessions")).json(&body).send().await {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(v) => v,
            Err(_) => {
                ctx.stats.error("webchat_session_body");
                return None;
            }
        },
        Ok(r) => {
            ctx.stats.error(format!("webchat_session_{}", r.status().as_u16()));
            return None;
        }
        Err(_) => {
            ctx.stats.error("webchat_session_transport");
            return None;
        }
    };
    let (Some(token), Some(visitor_id)) = (session["session_token"].as_str(), session["visitor_id"].as_str()) else {
        ctx.stats.error("webchat_session_body");
        return None;
    };
    let ws = format!("{}/webchat/ws?token={token}", ctx.base.replacen("http", "ws", 1));
    let socket = match tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(ws)).await {
        Ok(Ok((socket, _))) => socket,
        _ => {
            ctx.stats.error("webchat_connect");
            return None;
        }
    };
    let (sink, stream) = socket.split();
    let (ack_tx, acks) = mpsc::unbounded_channel();
    tokio::spawn(read(stream, ack_tx, visitor_id.to_owned(), ctx.inbox.clone(), ctx.stats.clone()));
    Some(Visitor { visitor_id: visitor_id.to_owned(), sink, acks, sent: 0 })
}

/// Reads frames until the socket closes: acks go to the sender, agent
/// messages to the inbox, error frames are counted.
async fn read(
    mut stream: futures::stream::SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    acks: mpsc::UnboundedSender<String>,
    visitor: String,
    inbox: Arc<crate::inbox::Inbox>,
    stats: Arc<crate::stats::Stats>,
) {
    while let Some(frame) = stream.next().await {
        let Ok(Message::Text(text)) = frame else {
            if frame.is_err() {
                return;
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            stats.error("webchat_bad_frame");
            continue;
        };
        match v["type"].as_str() {
            Some("ack") => {
                let _ = acks.send(v["client_id"].as_str().unwrap_or_default().to_owned());
            }
            Some("message") if v["from"] == "agent" => inbox.deliver("webchat", &visitor),
            Some("error") => stats.error(format!("webchat_error_{}", v["code"].as_str().unwrap_or("frame"))),
            _ => {}
        }
    }
}

impl Visitor {
    /// Sends `text` and waits for its ack (5 s).
    pub async fn say(&mut self, ctx: &Ctx, text: &str) -> bool {
        self.sent += 1;
        let client_id = format!("m{}", self.sent);
        let frame = json!({"type": "message", "client_id": client_id, "text": text}).to_string();
        if self.sink.send(Message::Text(frame.into())).await.is_err() {
            ctx.stats.error("webchat_send");
            return false;
        }
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(id) = self.acks.recv().await {
                if id == client_id {
                    return true;
                }
            }
            false
        })
        .await;
        if waited != Ok(true) {
            ctx.stats.error("webchat_no_ack");
            return false;
        }
        true
    }

    /// Keeps the socket alive while the visitor reads or thinks.
    pub async fn ping(&mut self) {
        let _ = self.sink.send(Message::Text(json!({"type": "ping"}).to_string().into())).await;
    }

    /// Leaves the page.
    pub async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
    }
}
