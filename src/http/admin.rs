//! Admin routes (`server.admin_token` only): customer profiles and their
//! linked identities, and the configuration reload.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::AdminOnly;
use super::error::{ApiError, ErrorBody};
use super::openapi::InvalidConfig;
use crate::model::Customer;
use crate::routing::ReloadReport;
use crate::app::App;
use crate::routing::ReloadError;
use crate::store::CustomerUpdate;

/// One identity to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    /// `phone`, `email`, `visitor`, or `wechat:<account>` (a configured
    /// WeChat account).
    #[schema(example = "phone", pattern = "^(phone|email|visitor|wechat:[A-Za-z0-9_-]{1,64})$")]
    kind: String,
    /// An E.164 number, an email address, a web chat visitor id (`v_…`),
    /// or a WeChat OpenID.
    #[schema(example = "+8613800138000", min_length = 1, max_length = 254)]
    value: String,
}

/// `{"identities": [{"kind": "phone", "value": "+8613800138000"}],
///   "attributes": {"tier": "vip", "language": "zh", "name": "…", "tags": ["…"]}}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    /// Identities to link to the customer, at most 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    identities: Vec<IdentityBody>,
    /// Attributes to set; absent ones are left as they are, `""` clears.
    #[serde(default)]
    attributes: AttributesBody,
}

/// The attributes routing and agents use.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributesBody {
    /// The customer's tier (routing rules match it), at most 32 characters.
    #[schema(max_length = 32, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", example = "vip")]
    tier: Option<String>,
    /// A lower-case language code (routing rules match it).
    #[schema(pattern = "^([a-z-]{2,8})?$", example = "zh")]
    language: Option<String>,
    /// The customer's name, at most 100 characters.
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    name: Option<String>,
    /// At most 20 tags.
    #[schema(max_items = 20)]
    tags: Option<Vec<Tag>>,
}

/// A customer tag: 1 to 32 characters, no `,` and no control characters.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Tag(String);

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A tag: 1 to 32 characters, no `,` and no control characters."))
            .min_length(Some(1))
            .max_length(Some(32))
            .pattern(Some("^[^,\\u0000-\\u001f\\u007f-\\u009f]+$"))
            .into()
    }
}

impl ToSchema for Tag {}

fn plain(value: &str, max: usize) -> bool {
    !value.is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

/// Checks and normalizes one identity; the stored kind and value.
fn identity(app: &App, i: &IdentityBody) -> Result<(String, String), ApiError> {
    let bad = |why: &str| ApiError::invalid("identities", why);
    match i.kind.as_str() {
        "phone" => switchboard_sms::normalize_e164(&i.value)
            .map(|p| ("phone".to_owned(), p))
            .ok_or_else(|| bad("phone values are E.164 numbers such as +8613800138000")),
        "email" if i.value.contains('@') && plain(&i.value, 254) => Ok(("email".into(), i.value.trim().to_lowercase())),
        "email" => Err(bad("email values are addresses")),
        "visitor" if switchboard_webchat::is_visitor_id(&i.value) => Ok(("visitor".into(), i.value.clone())),
        "visitor" => Err(bad("visitor values are web chat visitor ids (v_…)")),
        kind => match kind.strip_prefix("wechat:") {
            Some(account) if app.settings.channels.wechat.contains_key(account) && plain(&i.value, 128) => {
                Ok((format!("wechat-{account}"), i.value.clone()))
            }
            Some(_) => Err(bad("wechat identities name a configured WeChat account: `wechat:<account>` and an OpenID")),
            None => Err(bad("kinds are phone, email, visitor and wechat:<account>")),
        },
    }
}

/// `PUT /api/v1/customers/{id}`: creates or updates the customer whose
/// shop customer id is `id`, links the identities to it (a web chat
/// visitor whose shop identity names `id` joins the same profile), and sets
/// the attributes (`tier` and `language` feed routing rules).
#[utoipa::path(
    put,
    path = "/api/v1/customers/{id}",
    tag = "admin",
    summary = "Create or update a customer profile",
    description = "Creates or updates the customer whose shop customer id is `id`, links the \
        identities to it (a web chat visitor whose shop identity names `id` joins the same \
        profile) and sets the attributes (`tier` and `language` feed routing rules). Admin \
        token only.",
    params(("id" = String, Path, description = "The shop's customer id, 1 to 128 characters without `|`")),
    request_body = CustomerBody,
    responses(
        (status = 200, description = "Updated", body = Customer),
        (status = 201, description = "Created", body = Customer),
        (status = 400, description = "`invalid_request`: not the documented JSON, or a bad id, identity or attribute", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn put_customer(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    req: Result<Json<CustomerBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    if !super::ids::is_shop_customer_id(&id) {
        return Err(ApiError::invalid("id", "must be 1 to 128 characters without `|` or control characters"));
    }
    let req = req.map(|Json(v)| v).map_err(|e| ApiError::json(&e))?;
    if req.identities.len() > 20 {
        return Err(ApiError::invalid("identities", "at most 20 per request"));
    }
    let identities = req.identities.iter().map(|i| identity(&app, i)).collect::<Result<Vec<_>, _>>()?;
    let a = req.attributes;
    let mut attributes = Vec::new();
    if let Some(tier) = a.tier {
        if !tier.is_empty() && !plain(&tier, 32) {
            return Err(ApiError::invalid("attributes.tier", "must be at most 32 characters"));
        }
        attributes.push(("tier".to_owned(), tier));
    }
    if let Some(language) = a.language {
        let ok = language.is_empty()
            || ((2..=8).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        if !ok {
            return Err(ApiError::invalid("attributes.language", "must be a lower-case language code such as `zh`"));
        }
        attributes.push(("language".to_owned(), language));
    }
    if let Some(name) = a.name {
        if !name.is_empty() && !plain(&name, 100) {
            return Err(ApiError::invalid("attributes.name", "must be at most 100 characters"));
        }
        attributes.push(("name".to_owned(), name));
    }
    if let Some(tags) = a.tags {
        let tags: Vec<String> = tags.into_iter().map(|Tag(t)| t).collect();
        if tags.len() > 20 || tags.iter().any(|t| !plain(t, 32) || t.contains(',')) {
            return Err(ApiError::invalid("attributes.tags", "at most 20 tags of 1 to 32 characters without `,`"));
        }
        attributes.push(("tags".to_owned(), tags.join(",")));
    }
    let update = CustomerUpdate { shop_id: id.clone(), identities, attributes };
    let new_id = ulid::Ulid::new().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let (customer, created) = app.store.put_customer(&update, &new_id, now).await.map_err(|e| ApiError::unavailable(&e))?;
    tracing::info!(%customer, created, identities = update.identities.len(), "customer profile updated");
    let body = profile(&app, &id).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(body)).into_response())
}

/// `GET /api/v1/customers/{id}`: the profile of the shop customer `id`.
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}",
    tag = "admin",
    summary = "A customer profile",
    description = "The profile of the shop customer `id`: linked identities, attributes, open \
        conversation and last agent. Admin token only.",
    params(("id" = String, Path, description = "The shop's customer id")),
    responses(
        (status = 200, description = "The profile", body = Customer),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such customer", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_customer(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    if !super::ids::is_shop_customer_id(&id) {
        return Err(ApiError::not_found("customer"));
    }
    Ok(Json(profile(&app, &id).await?))
}

async fn profile(app: &App, shop_id: &str) -> Result<Customer, ApiError> {
    let found = app.store.customer_profile(("shop", shop_id)).await.map_err(|e| ApiError::unavailable(&e))?;
    let (profile, identities) = found.ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Customer::from_stored(shop_id, &profile, &identities))
}

/// `POST /api/v1/admin/reload`: reads the configuration again and puts its
/// routing sections in force; 422 with every problem when it is invalid
/// (the previous configuration stays).
#[utoipa::path(
    post,
    path = "/api/v1/admin/reload",
    tag = "admin",
    summary = "Reload the configuration",
    description = "Reads the configuration again (like SIGHUP) and puts its routing sections \
        (agents, queues, rules, SLA) in force, with the rotated secrets: the admin and agent \
        tokens, delivery secrets, and the secrets of the channel accounts running (webhook \
        verification and the provider senders use them at once). Sections that need a restart \
        are listed (`redis` for a new `redis.url`, `channels` for accounts added or removed or \
        other channel keys). An invalid configuration is refused with every problem and the \
        previous one stays. Admin token only.",
    responses(
        (status = 200, description = "In force", body = ReloadReport),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 409, description = "`no_source`: this instance has no configuration source to reload", body = ErrorBody),
        (status = 422, description = "`invalid_config`: the new configuration's problems", body = InvalidConfig),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn reload(State(app): State<Arc<App>>, _admin: AdminOnly) -> Result<Response, ApiError> {
    match crate::routing::reload(&app).await {
        Ok(report) => Ok(Json(report).into_response()),
        Err(ReloadError::Invalid(problems)) => {
            let list: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
            let body = serde_json::json!({ "error": {
                "code": "invalid_config",
                "message": "the new configuration is invalid; the previous one stays in force",
                "problems": list,
            }});
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Err(ReloadError::NoSource) => {
            Err(ApiError::new(StatusCode::CONFLICT, "no_source", "this instance has no configuration source to reload"))
        }
        Err(ReloadError::Route(e)) => Err(ApiError::unavailable(&e)),
    }
}
