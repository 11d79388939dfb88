//! Bearer tokens: the admin token acts for all, an agent's token only for
//! that agent. Tokens are compared in constant time, and every token is
//! compared so the time does not tell which one nearly matched.
//!
//! Routes state who may call them by their arguments: a [`Principal`]
//! (any known token; what it may touch is checked by the command) or
//! [`AdminOnly`]. A route with neither is public (probes, webhooks, whose
//! own signatures are checked by the channel).

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

/// The principal of a request's `Authorization: Bearer` token.
pub fn authenticate(settings: &Settings, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let mut found = None;
    if let Some(admin) = &settings.server.admin_token {
        if bool::from(admin.expose_secret().as_bytes().ct_eq(token.as_bytes())) {
            found = Some(Principal::Admin);
        }
    }
    for (id, agent) in &settings.agents {
        if let Some(t) = &agent.token {
            if bool::from(t.expose_secret().as_bytes().ct_eq(token.as_bytes())) && found.is_none() {
                found = Some(Principal::Agent(id.clone()));
            }
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
