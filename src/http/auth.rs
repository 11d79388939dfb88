//! Bearer tokens: the admin token acts for all, an agent's token only for
//! that agent. Tokens are compared in constant time, and every token is
//! compared so the time does not tell which one nearly matched.

use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::Settings;

/// Who a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The admin token.
    Admin,
    /// An agent's token.
    Agent(String),
}

impl Principal {
    /// Whether this principal may act for `agent`.
    pub fn may_act_for(&self, agent: &str) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Agent(a) => a == agent,
        }
    }
}

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
