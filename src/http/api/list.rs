//! `GET /api/v1/conversations`: the conversations an agent's tool or a
//! supervisor lists, filtered, in pages with an opaque cursor.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchboard_core::Channel;

use super::unreadable;
use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::model::{
    Conversation, ConversationPage, ConversationState,
};

/// The largest page of `GET /api/v1/conversations`.
const MAX_PAGE: u32 = 200;

/// How many index entries one page examines at most while filtering; a
/// page may come back short, with a cursor to go on from.
const MAX_EXAMINED: usize = 2000;

/// `?state=&queue=&agent=&channel=&customer=&cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Only conversations in this state.
    state: Option<ConversationState>,
    /// Only conversations of this queue.
    queue: Option<String>,
    /// Only conversations with this agent (an agent's token: its own id, implied).
    agent: Option<String>,
    /// Only conversations on this channel.
    #[param(value_type = Option<Channel>)]
    channel: Option<Channel>,
    /// Only conversations of this customer (the router's customer id).
    customer: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl ConversationQuery {
    fn matches(&self, c: &Conversation) -> bool {
        self.state.is_none_or(|s| s == c.state)
            && self.queue.as_ref().is_none_or(|q| *q == c.queue)
            && self.agent.as_ref().is_none_or(|a| c.agent.as_ref() == Some(a))
            && self.channel.is_none_or(|ch| ch == c.channel)
            && self.customer.as_ref().is_none_or(|cu| c.customer.as_ref() == Some(cu))
    }
}

/// The cursor for the page after conversation `id`: opaque to clients.
fn encode_cursor(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{id}"))
}

/// The conversation id a cursor continues after.
fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::invalid("cursor", "is not a cursor this API gave out");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let id = text.strip_prefix("c1:").ok_or_else(bad)?;
    crate::http::ids::conversation(id).map_err(|_| bad())?;
    Ok(id.to_owned())
}

/// `GET /api/v1/conversations`
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    tag = "agent",
    summary = "List conversations",
    description = "Conversations in id order (oldest first), filtered, a page at a time: pass \
        `next_cursor` as `cursor` for the next page (absent on the last). The admin token sees \
        every conversation; an agent's token only its own (`agent` is implied; another agent's \
        is 403). A page may hold fewer than `limit` while more follow.",
    params(ConversationQuery),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationPage),
        (status = 400, description = "`invalid_request`: a bad filter, `cursor` or `limit`, naming it", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: another agent's conversations", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_conversations(
    State(app): State<Arc<App>>,
    who: Principal,
    query: Result<axum::extract::Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationPage>, ApiError> {
    let mut q = query.map(|axum::extract::Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 200"));
    }
    let mut after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    if let Principal::Agent(me) = &who {
        match &q.agent {
            Some(a) if a != me => return Err(ApiError::forbidden("an agent may only list its own conversations")),
            _ => q.agent = Some(me.clone()),
        }
    }
    let mut conversations = Vec::new();
    let mut examined = 0;
    let batch = (limit as usize).max(50);
    loop {
        let (ids, found) = app.store.conversations_after(after.as_deref(), batch).await.map_err(|e| ApiError::unavailable(&e))?;
        let exhausted = ids.len() < batch;
        for (id, record) in found {
            let c = match record {
                Ok(c) => c,
                Err(e) => {
                    unreadable(&id, &e);
                    continue;
                }
            };
            if q.matches(&c) {
                conversations.push(c);
                if conversations.len() == limit as usize {
                    return Ok(Json(ConversationPage { conversations, next_cursor: Some(encode_cursor(&id)) }));
                }
            }
        }
        examined += ids.len();
        if exhausted {
            return Ok(Json(ConversationPage { conversations, next_cursor: None }));
        }
        // Ids whose hash is gone still move the cursor on.
        after = ids.last().cloned();
        if examined >= MAX_EXAMINED {
            return Ok(Json(ConversationPage { conversations, next_cursor: after.as_deref().map(encode_cursor) }));
        }
    }
}
