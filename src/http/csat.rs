//! `GET /csat/{token}`: the email survey's link. One click records the
//! score the link stands for and answers a small HTML page; a forged,
//! reused or expired link answers a 4xx page and changes nothing (see
//! `crate::csat`). The page is for a customer's browser, so its errors
//! are HTML too, not the API's JSON shape.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::app::App;
use crate::csat::{record_link, LinkOutcome};

/// Records the score of a survey link.
#[utoipa::path(
    get,
    path = "/csat/{token}",
    tag = "csat",
    summary = "Answer the satisfaction survey from its email link",
    description = "The email survey carries one signed, single-use, expiring link per score. \
        Opening one records that score on the conversation (`csat`, the \
        `switchboard.conversation.rated` event) and answers a thank-you page. A forged or altered \
        link answers 404, an expired one (or one of an earlier resolve) 410, a link of a \
        conversation that was rated already 409; nothing changes.",
    params(("token" = String, Path, description = "The link's signed token")),
    responses(
        (status = 200, description = "Recorded: a thank-you page", body = String, content_type = "text/html"),
        (status = 404, description = "Not a valid link", body = String, content_type = "text/html"),
        (status = 409, description = "The survey was answered already", body = String, content_type = "text/html"),
        (status = 410, description = "The link has expired", body = String, content_type = "text/html"),
        (status = 503, description = "Try again later", body = String, content_type = "text/html"),
    ),
)]
pub async fn answer(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let (status, zh, en) = match record_link(&app, &token).await {
        Ok(LinkOutcome::Recorded(_)) => (StatusCode::OK, "感谢您的评价！", "Thank you for your feedback!"),
        Ok(LinkOutcome::Forged) => (StatusCode::NOT_FOUND, "该链接无效。", "This link is not valid."),
        Ok(LinkOutcome::Expired) => (StatusCode::GONE, "该链接已过期。", "This link has expired."),
        Ok(LinkOutcome::Used) => (StatusCode::CONFLICT, "您已评价过，谢谢！", "You have already rated this conversation, thank you."),
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a survey link's score");
            (StatusCode::SERVICE_UNAVAILABLE, "服务暂时不可用，请稍后再试。", "Please try again in a moment.")
        }
    };
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{en}</title></head><body style=\"font-family:sans-serif;text-align:center;margin-top:4em\">\
         <p>{zh}</p><p>{en}</p></body></html>"
    );
    // The page as it is: the JSON error layer leaves it alone.
    (status, axum::Extension(super::error::AsIs), Html(page)).into_response()
}
