//! Bearer tokens: the admin token acts for all, an agent's token only for
//! that agent. Tokens are compared in constant time, and every token is
//! compared so the time does not tell which one nearly matched.
//!
//! Routes state who may call them by their arguments: a [`Principal`]
//! (any known token; what it may touch is checked by the command),
//! [`AdminOnly`], or [`Watcher`] (the admin or the read-only supervisor
//! token: the dashboard and the reports). A route with none of them is
//! public (probes, webhooks, whose own signatures are checked by the
//! channel).

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::app::App;
use crate::config::Settings;

/// Who a request's token names: the admin, or an agent.
pub use crate::commands::Actor as Principal;

/// The token of a request's `Authorization: Bearer` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether `token` is the configured `secret` (constant time in both).
fn is(secret: Option<&secrecy::SecretString>, token: &str) -> bool {
    secret.is_some_and(|s| bool::from(s.expose_secret().as_bytes().ct_eq(token.as_bytes())))
}

/// The principal of a request's `Authorization: Bearer` token.
pub fn authenticate(settings: &Settings, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    let mut found = None;
    if is(settings.server.admin_token.as_ref(), token) {
        found = Some(Principal::Admin);
    }
    for (id, agent) in &settings.agents {
        if is(agent.token.as_ref(), token) && found.is_none() {
            found = Some(Principal::Agent(id.clone()));
        }
    }
    found.ok_or_else(ApiError::unauthorized)
}

/// Only the admin token may go on (403 for an agent's token).
pub fn require_admin(settings: &Settings, headers: &HeaderMap) -> Result<(), ApiError> {
    match authenticate(settings, headers)? {
        Principal::Admin => Ok(()),
        Principal::Agent(_) => Err(ApiError::forbidden("this route needs the admin token")),
    }
}

/// A route taking a [`Principal`] argument answers 401 without a known
/// bearer token before anything else is looked at.
impl axum::extract::FromRequestParts<Arc<App>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        authenticate(&app.live().settings, &parts.headers)
    }
}

/// A route taking an [`AdminOnly`] argument may be called with the admin
/// token only: 401 without a known token, 403 with an agent's.
#[derive(Debug)]
pub struct AdminOnly;

impl axum::extract::FromRequestParts<Arc<App>> for AdminOnly {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        require_admin(&app.live().settings, &parts.headers).map(|()| AdminOnly)
    }
}

/// Who may watch (the supervisor dashboard, its stream and the reports):
/// the admin token or the read-only `server.supervisor_token`. 401 without
/// either (an agent's token included: agents see their own conversations
/// through the API, not the whole floor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watcher {
    /// The admin token.
    Admin,
    /// The supervisor token.
    Supervisor,
}

/// The [`Watcher`] of a request's bearer token, if it is the admin's or the
/// supervisor's (compared in constant time, both always compared).
pub fn watcher(settings: &Settings, headers: &HeaderMap) -> Result<Watcher, ApiError> {
    watcher_of(settings, bearer(headers).ok_or_else(ApiError::unauthorized)?)
}

/// The [`Watcher`] a token names.
fn watcher_of(settings: &Settings, token: &str) -> Result<Watcher, ApiError> {
    let (admin, supervisor) = (is(settings.server.admin_token.as_ref(), token), is(settings.server.supervisor_token.as_ref(), token));
    match (admin, supervisor) {
        (true, _) => Ok(Watcher::Admin),
        (false, true) => Ok(Watcher::Supervisor),
        _ => Err(ApiError::unauthorized()),
    }
}

impl axum::extract::FromRequestParts<Arc<App>> for Watcher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        watcher(&app.live().settings, &parts.headers)
    }
}

/// A [`Watcher`] of an event stream: the bearer header, or else a
/// `?token=` query parameter (a browser's `EventSource` cannot send
/// headers), compared the same way. Only the stream takes it: a token in a
/// URL ends up in logs and histories, so the other routes do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamWatcher(pub Watcher);

/// The `token` query parameter of `query`, if any and not empty.
fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).filter(|t| !t.is_empty())
}

impl axum::extract::FromRequestParts<Arc<App>> for StreamWatcher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let settings = &app.live().settings;
        if let Some(token) = bearer(&parts.headers) {
            return watcher_of(settings, token).map(StreamWatcher);
        }
        let token = query_token(parts.uri.query()).ok_or_else(ApiError::unauthorized)?;
        watcher_of(settings, &token).map(StreamWatcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn the_supervisor_token_watches_but_does_not_act() {
        let settings = crate::config::Loader::new()
            .without_env()
            .overlay("[server]\nadmin_token = \"adm\"\nsupervisor_token = \"sup\"\n[agents.alice]\ntoken = \"ali\"\n".to_owned())
            .load()
            .unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(watcher(&settings, &headers("adm")).unwrap(), Watcher::Admin);
        assert_eq!(watcher(&settings, &headers("sup")).unwrap(), Watcher::Supervisor);
        for refused in ["ali", "nope"] {
            assert_eq!(axum::response::IntoResponse::into_response(watcher(&settings, &headers(refused)).unwrap_err()).status(), axum::http::StatusCode::UNAUTHORIZED);
        }
        assert!(watcher(&settings, &HeaderMap::new()).is_err());
        // The supervisor token is no principal: it acts on nothing.
        assert!(authenticate(&settings, &headers("sup")).is_err());
        assert!(require_admin(&settings, &headers("sup")).is_err());
        assert_eq!(query_token(Some("a=1&token=s%20p")).as_deref(), Some("s p"));
        assert_eq!(query_token(Some("token=")), None);
        assert_eq!(query_token(None), None);
    }
}
