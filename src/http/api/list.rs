//! `GET /api/v1/conversations`: the conversations an agent's tool or a
//! supervisor lists, filtered, in pages with an opaque cursor.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchboard_core::Channel;

use super::unreadable;
use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::query::ApiQuery;
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
    #[param(pattern = "^YzE6([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$")]
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

/// The pattern of a cursor (documented on the `cursor` parameter): `c1:`
/// and a position, base64url. Every string of this pattern is a cursor (a
/// position between two ids continues after it), so a client never holds a
/// well-formed cursor the API refuses.
#[cfg(test)]
const CURSOR_PATTERN: &str = "^YzE6([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$";

/// base64url, padding optional, extra bits of the last character ignored.
const CURSOR: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The cursor for the page after conversation `id`: opaque to clients.
fn encode_cursor(id: &str) -> String {
    use base64::Engine as _;
    CURSOR.encode(format!("c1:{id}"))
}

/// The position (a conversation id, or a string between two) a cursor
/// continues after.
fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::invalid("cursor", "is not a cursor this API gave out");
    let raw = CURSOR.decode(cursor).map_err(|_| bad())?;
    let position = raw.strip_prefix(b"c1:").ok_or_else(bad)?;
    Ok(String::from_utf8_lossy(position).into_owned())
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
    ApiQuery(mut q): ApiQuery<ConversationQuery>,
) -> Result<Json<ConversationPage>, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_gives_back_its_position() {
        let id = "01JF0000000000000000000000";
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
    }

    #[test]
    fn every_string_of_the_documented_pattern_is_a_cursor() {
        let doc = serde_json::to_value(crate::http::openapi::document()).unwrap();
        let params = doc["paths"]["/api/v1/conversations"]["get"]["parameters"].as_array().unwrap();
        let cursor = params.iter().find(|p| p["name"] == "cursor").unwrap();
        assert_eq!(cursor["schema"]["pattern"], CURSOR_PATTERN, "the documented pattern");
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        for c in ["YzE6", "YzE6AB", "YzE6ABC", "YzE6ABCD", "YzE6_-_-z9", "YzE6zzzzzzz"] {
            assert!(pattern.is_match(c), "{c}");
            assert!(decode_cursor(c).is_ok(), "{c}");
        }
        assert!(pattern.is_match(&encode_cursor("01JF0000000000000000000000")));
        for c in ["zz", "YzE6A", "Yz", "!!!!"] {
            assert!(decode_cursor(c).is_err(), "{c}");
            assert!(!pattern.is_match(c), "{c}");
        }
    }
}
