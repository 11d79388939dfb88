//! The one error shape of the HTTP API: `{"error": {"code", "message"}}`.
//! 4xx messages say what was wrong with the request; a 5xx body is
//! generic and the detail goes to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<serde_json::Value>,
}

impl ApiError {
    /// A client error with a stable code and a message naming the cause.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: None }
    }

    /// A client error with extra fields in the `error` object (e.g. the
    /// list of configuration problems).
    pub fn with_details(status: StatusCode, code: &'static str, message: impl Into<String>, details: serde_json::Value) -> Self {
        ApiError { status, code, message: message.into(), details: Some(details) }
    }

    /// 400 about one field of the body.
    pub fn invalid(field: &str, why: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", format!("`{field}` {why}"))
    }

    /// 401: no or unknown token.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
    }

    /// 403: the token may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 503 for a dependency failure; `detail` is logged, not answered.
    pub fn unavailable(detail: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "request failed on a dependency");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "temporarily unavailable, retry later")
    }
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "conversation not found"}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: `invalid_request`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `opted_out`, `unsupported`,
    /// `too_large`, `rejected` (a webhook refused), `no_source`,
    /// `unavailable` (retry later).
    pub code: &'static str,
    /// What was wrong with the request, for people; generic for 5xx.
    pub message: String,
    /// More fields for some codes (`invalid_config`: `problems`, the list
    /// of every configuration problem).
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let extra = match self.details {
            Some(serde_json::Value::Object(extra)) => extra,
            _ => serde_json::Map::new(),
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message, extra } };
        (self.status, Json(body)).into_response()
    }
}
