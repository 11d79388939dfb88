//! WeChat sends with the account's access token, cached in Redis for all
//! replicas: fetched when absent, refreshed five minutes before it expires,
//! and dropped and fetched again once when the API says it expired.

use std::time::Duration;

use secrecy::ExposeSecret;
use switchboard_core::{OutboundMessage, SendError, SendReceipt};
use switchboard_wechat::{WechatApi, WechatSendError};

use crate::app::App;

/// Refresh this long before WeChat's own expiry.
const EARLY: Duration = Duration::from_secs(300);

pub(super) async fn send(app: &App, api: &WechatApi, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
    let mut token = token(app, api, &msg.account, false).await?;
    for attempt in 0..2 {
        match api.send_text(&token, msg).await {
            Ok(receipt) => return Ok(receipt),
            Err(WechatSendError::Send(e)) => return Err(e),
            Err(WechatSendError::TokenExpired) if attempt == 0 => {
                token = self::token(app, api, &msg.account, true).await?;
            }
            Err(WechatSendError::TokenExpired) => break,
        }
    }
    Err(SendError::Retryable { reason: "WeChat rejected a freshly fetched access token".into(), retry_after: None })
}

async fn token(app: &App, api: &WechatApi, account: &str, refresh: bool) -> Result<String, SendError> {
    let retryable = |e: crate::store::StoreError| SendError::Retryable { reason: e.to_string(), retry_after: None };
    if !refresh {
        if let Some(t) = app.store.wechat_token(account).await.map_err(retryable)? {
            return Ok(t);
        }
    }
    let fresh = api.fetch_access_token().await?;
    let ttl = fresh.expires_in.saturating_sub(EARLY).max(Duration::from_secs(1));
    let value = fresh.token.expose_secret().to_owned();
    app.store.set_wechat_token(account, Some((&value, ttl))).await.map_err(retryable)?;
    Ok(value)
}
