//! Admin routes for customer data protection: erase a customer (right to
//! be forgotten) and export everything held about one (see
//! `crate::privacy`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Path, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;

use super::auth::AdminOnly;
use super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::privacy::audit::{Actor, AuditEntry};
use crate::privacy::{CustomerExport, ErasureReceipt, PrivacyError};

/// A customer reference: the switchboard customer id, the shop's customer
/// id, or an identity `kind:value`.
fn checked(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > 300 || id.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "id",
            "must be 1 to 300 characters without control characters",
        ));
    }
    Ok(())
}

fn failed(e: &PrivacyError) -> ApiError {
    ApiError::unavailable(e)
}

/// `DELETE /api/v1/customers/{id}`
#[utoipa::path(
    delete,
    path = "/api/v1/customers/{id}",
    tag = "admin",
    summary = "Erase a customer",
    description = "Erases everything held about the customer: the profile, every identity, every \
        conversation with its messages, notes, SLA clocks and timers, email thread maps, web chat \
        history, send states, the dead letters that carry them, and the customer's messages and \
        events on the JetStream streams. An open conversation is first withdrawn from its agent \
        (a `resolved` event with `reason: \"erased\"` and no personal data); \
        `switchboard.customer.erased` carries the customer id only. An SMS opt-out of the \
        customer's number is kept as a keyed hash, so a STOP stays honoured. Idempotent: a \
        second call (within 30 days, by any id the customer was known by) answers the same \
        receipt with zero counts; an id that never named a customer is 404. Admin token only.",
    params(("id" = String, Path, description = "The switchboard customer id, the shop's customer id, or an identity `kind:value` (`phone:+8613800138000`, `email:…`, `visitor:v_…`, `wechat:<account>:<openid>`)")),
    responses(
        (status = 200, description = "The receipt: what was removed", body = ErasureReceipt),
        (status = 400, description = "`invalid_request`: not a usable id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 404, description = "`not_found`: the id names no customer, now or erased in the last 30 days", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later (the erase is safe to repeat)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn erase_customer(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<Json<ErasureReceipt>, ApiError> {
    checked(&id)?;
    let receipt = crate::privacy::erase(&app, &id)
        .await
        .map_err(|e| failed(&e))?;
    Ok(Json(
        receipt.ok_or_else(|| ApiError::not_found("customer"))?,
    ))
}

/// `GET /api/v1/customers/{id}/export`
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}/export",
    tag = "admin",
    summary = "Export a customer's data",
    description = "Everything held about the customer as one JSON document, for an access \
        request: the profile, the identities, and every conversation with its messages, notes and \
        SLA clocks as `GET /api/v1/conversations/{id}` shows them. Admin token only.",
    params(("id" = String, Path, description = "The switchboard customer id, the shop's customer id, or an identity `kind:value`")),
    responses(
        (status = 200, description = "The export", body = CustomerExport),
        (status = 400, description = "`invalid_request`: not a usable id", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such customer", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn export_customer(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<Json<CustomerExport>, ApiError> {
    checked(&id)?;
    let export = crate::privacy::export(&app, &id)
        .await
        .map_err(|e| failed(&e))?;
    Ok(Json(export.ok_or_else(|| ApiError::not_found("customer"))?))
}

/// The audit trail's layer (see `crate::privacy::audit`): an audited
/// operation called with a known token is recorded once answered.
pub(super) async fn audit(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let Some(action) = crate::privacy::audit::action(req.method().as_str(), &route) else { return next.run(req).await };
    let Ok(who) = super::auth::authenticate(&app.live().settings, req.headers()) else { return next.run(req).await };
    let actor = match who {
        super::auth::Principal::Admin => Actor { kind: "admin", id: "admin".into() },
        super::auth::Principal::Agent(id) => Actor { kind: "agent", id },
    };
    let method = req.method().to_string();
    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    let forwarded_for = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (mut parts, body) = req.into_parts();
    let target = Path::<BTreeMap<String, String>>::from_request_parts(&mut parts, &app).await.map(|p| p.0).unwrap_or_default();
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status().as_u16();
    let entry = AuditEntry { action, actor, method, route, target, status, client, forwarded_for };
    crate::privacy::audit::record(&app, entry).await;
    response
}
