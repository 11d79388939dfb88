//! The one error shape of the HTTP API: `{"error": {"code", "message"}}`.
//! 4xx messages say what was wrong with the request; a 5xx body is
//! generic and the detail goes to the log.

use axum::http::{header, HeaderValue, StatusCode};
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

    /// The message said to the client.
    pub fn message(&self) -> &str {
        &self.message
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

    /// The 4xx for a JSON body axum refused: 413 when it is too large,
    /// 415 without a JSON content type, 400 otherwise.
    pub fn json(rejection: &axum::extract::rejection::JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", rejection.body_text()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported", rejection.body_text()),
            _ if matches!(rejection, axum::extract::rejection::JsonRejection::JsonSyntaxError(_)) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_request", format!("`body`: {}", rejection.body_text()))
            }
            _ => Self::new(StatusCode::BAD_REQUEST, "invalid_request", rejection.body_text()),
        }
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
    /// `forbidden`, `not_found`, `method_not_allowed` (with `Allow`),
    /// `conflict`, `opted_out`, `unsupported`, `too_large`, `timeout` (the
    /// body did not arrive in time), `upgrade_required`, `rate_limited`, `too_many_sockets`,
    /// `rejected` (a webhook refused), `no_source`, `unavailable` (retry
    /// later).
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

/// A response extension for the few error answers whose documented body
/// is not the error shape (`/readyz`'s 503 with its reasons, for probes).
#[derive(Clone, Copy, Debug)]
pub struct AsIs;

/// Gives an error answer that is not JSON the JSON error shape, keeping its
/// status and headers (`Allow` on 405): axum's rejections (path, query,
/// form, multipart, WebSocket upgrade) are plain text, its 405 and the
/// request timeout's 503 are empty. A 4xx keeps the rejection's text as its
/// message; a 5xx gets the generic one.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use http_body_util::BodyExt;
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned());
    let resp = next.run(req).await;
    let status = resp.status();
    if resp.extensions().get::<AsIs>().is_some() {
        return resp;
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // Rejection texts are short; anything longer is cut, not waited for.
    let text = match http_body_util::Limited::new(body, 2048).collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).trim().to_owned(),
        Err(_) => String::new(),
    };
    let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = if status == StatusCode::BAD_REQUEST { name_the_field(&text, route.as_deref()) } else { text };
    let error = framework_error(status, text, &allow);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    let (_, body) = error.into_response().into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, body)
}

/// A framework rejection's text with the offending field named where it is
/// known: a path rejection names the route's parameters (`` `id` ``), a JSON
/// syntax error names `body`. Query and JSON data errors already start with
/// the field (`limit: invalid digit …`, `unknown field `colour``).
fn name_the_field(text: &str, route: Option<&str>) -> String {
    if text.starts_with("Invalid URL") || text.starts_with("Wrong number of path arguments") {
        let params: Vec<String> = route
            .unwrap_or("")
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| format!("`{p}`"))
            .collect();
        if !params.is_empty() {
            return format!("path parameter {}: {text}", params.join(", "));
        }
    }
    if text.starts_with("Failed to parse the request body as JSON") {
        return format!("`body`: {text}");
    }
    text.to_owned()
}

/// The error for a framework answer of `status` with body `text`.
fn framework_error(status: StatusCode, text: String, allow: &str) -> ApiError {
    let or = |default: &str| if text.is_empty() { default.to_owned() } else { text.clone() };
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(status, "method_not_allowed", format!("this route does not take that method; it takes {allow}"))
        }
        StatusCode::NOT_FOUND => ApiError::new(status, "not_found", or("route not found")),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "too_large", or("the request body is too large")),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(status, "timeout", or("the request did not arrive in time")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(status, "unsupported", or("unsupported content type")),
        StatusCode::UPGRADE_REQUIRED => ApiError::new(status, "upgrade_required", or("a WebSocket upgrade is required")),
        StatusCode::TOO_MANY_REQUESTS => ApiError::new(status, "rate_limited", or("too many requests")),
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(),
        StatusCode::FORBIDDEN => ApiError::forbidden(or("forbidden")),
        s if s.is_server_error() => {
            tracing::warn!(status = s.as_u16(), detail = %text, "request failed (timeout or framework error)");
            ApiError::new(s, "unavailable", "temporarily unavailable, retry later")
        }
        s => ApiError::new(s, "invalid_request", or("the request is malformed")),
    }
}

/// The one mapping of command refusals to HTTP: 403, 404, 409 (with the
/// command's code), 400 naming the field, 503.
impl From<crate::commands::CommandError> for ApiError {
    fn from(e: crate::commands::CommandError) -> Self {
        use crate::commands::CommandError as E;
        match e {
            E::Forbidden(message) => ApiError::forbidden(message),
            E::NotFound(what) => ApiError::not_found(what),
            E::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            E::Invalid { field, why } => ApiError::invalid(field, why),
            E::Unavailable(detail) => ApiError::unavailable(&detail),
        }
    }
}
