//! What the derives cannot say, added to the generated document: the bearer
//! scheme, the optional web chat session body, the closed provider bodies
//! and the framework's refusals of a JSON body.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::Modify;

use super::BEARER;

/// Adds the bearer token scheme.
pub(super) struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An agent's token (`agents.<id>.token`), the admin token (`server.admin_token`), or for the reports the read-only supervisor token (`server.supervisor_token`).",
            ))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Marks the body of `POST /webchat/sessions` optional (an empty body is
/// `{}`), which `#[utoipa::path]` cannot say without also allowing `null`.
pub(super) struct OptionalSessionBody;

impl Modify for OptionalSessionBody {
    fn modify(&self, doc: &mut Document) {
        let operation = doc.paths.paths.get_mut("/webchat/sessions").and_then(|item| item.post.as_mut());
        if let Some(body) = operation.and_then(|op| op.request_body.as_mut()) {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

/// The web chat's request types live in the channel crate, which refuses
/// unknown fields; their described schemas say so.
pub(super) struct ClosedProviderBodies;

impl Modify for ClosedProviderBodies {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        use utoipa::openapi::RefOr;
        let Some(components) = doc.components.as_mut() else { return };
        for name in ["WebchatSessionRequest", "WebchatIdentity"] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// Every operation with a JSON request body may answer the framework's
/// refusals of it, in the error shape: 415 without a JSON content type,
/// 413 over the body limit (added where the operation does not describe
/// them itself).
pub(super) struct JsonBodyRefusals;

impl Modify for JsonBodyRefusals {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
        let error = || {
            ResponseBuilder::new()
                .content("application/json", ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody"))).build())
        };
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.post, &mut item.put, &mut item.patch].into_iter().flatten() {
                let json = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
                if !json {
                    continue;
                }
                let responses = &mut op.responses.responses;
                responses.entry("415".to_owned()).or_insert_with(|| {
                    RefOr::T(error().description("`unsupported`: the body is not sent as `Content-Type: application/json`").build())
                });
                responses
                    .entry("413".to_owned())
                    .or_insert_with(|| RefOr::T(error().description("`too_large`: the body is over the route's limit").build()));
            }
        }
    }
}
