//! WeChat sends with the account's access token, cached in Redis for all
//! replicas. Exactly one replica fetches a token at a time (a Redis lock);
//! the others wait for its token and reuse it. The token is refreshed five
//! minutes before WeChat's expiry, and at once when WeChat says it expired
//! (40001/40014/42001), after which the send is retried once.

use std::time::Duration;

use secrecy::ExposeSecret;
use switchboard_core::{OutboundMessage, SendError, SendReceipt};
use switchboard_wechat::{WechatApi, WechatSendError};

use crate::app::App;
use crate::store::StoreError;

/// Refresh this long before WeChat's own expiry.
const EARLY: Duration = Duration::from_secs(300);
/// A fetching replica that dies frees the lock after this.
const LOCK_TTL: Duration = Duration::from_secs(10);
/// How long a replica waits for another one's token.
const WAIT_FOR_PEER: Duration = Duration::from_secs(8);

pub(super) async fn send(app: &App, api: &WechatApi, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
    let mut token = token(app, api, &msg.account, None).await?;
    for attempt in 0..2 {
        match api.send_text(&token, msg).await {
            Ok(receipt) => return Ok(receipt),
            Err(WechatSendError::Send(e)) => return Err(e),
            Err(WechatSendError::TokenExpired) if attempt == 0 => {
                token = self::token(app, api, &msg.account, Some(&token)).await?;
            }
            Err(WechatSendError::TokenExpired) => break,
        }
    }
    Err(SendError::Retryable { reason: "WeChat rejected a freshly fetched access token".into(), retry_after: None })
}

fn retryable(e: StoreError) -> SendError {
    SendError::Retryable { reason: e.to_string(), retry_after: None }
}

/// A usable token: the cached one unless it is `stale` (the one WeChat just
/// refused), else one fetched by this replica or by whichever holds the lock.
async fn token(app: &App, api: &WechatApi, account: &str, stale: Option<&str>) -> Result<String, SendError> {
    let usable = |t: Option<String>| t.filter(|t| Some(t.as_str()) != stale);
    if let Some(t) = usable(app.store.wechat_token(account).await.map_err(retryable)?) {
        return Ok(t);
    }
    let lock = app.store.keys().wechat_token_lock(account);
    let deadline = tokio::time::Instant::now() + WAIT_FOR_PEER;
    loop {
        if app.store.first_seen(&lock, LOCK_TTL).await.map_err(retryable)? {
            let fetched = fetch(app, api, account, stale).await;
            if let Err(e) = app.store.release(&lock).await {
                tracing::warn!(error = %e, "cannot release the WeChat token lock; it expires by itself");
            }
            return fetched;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(t) = usable(app.store.wechat_token(account).await.map_err(retryable)?) {
            return Ok(t);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SendError::Retryable {
                reason: "another replica is fetching the WeChat access token".into(),
                retry_after: None,
            });
        }
    }
}

/// Fetches and caches a token, unless a peer cached a fresh one meanwhile.
async fn fetch(app: &App, api: &WechatApi, account: &str, stale: Option<&str>) -> Result<String, SendError> {
    if let Some(t) = app.store.wechat_token(account).await.map_err(retryable)? {
        if Some(t.as_str()) != stale {
            return Ok(t);
        }
    }
    let fresh = api.fetch_access_token().await?;
    let ttl = fresh.expires_in.saturating_sub(EARLY).max(Duration::from_secs(1));
    let value = fresh.token.expose_secret().to_owned();
    app.store.set_wechat_token(account, Some((&value, ttl))).await.map_err(retryable)?;
    tracing::info!(%account, ttl_secs = ttl.as_secs(), "WeChat access token refreshed");
    Ok(value)
}
