//! `GET /openapi.json`: the OpenAPI 3.1 description of the HTTP API,
//! generated from the handlers' `#[utoipa::path]` annotations and the
//! request types' `ToSchema` derives, never written by hand. The tests
//! check that it lists exactly the routes of [`super::ROUTES`], the table
//! the router is built from.
//!
//! The request bodies of the API are the handlers' own types; what the
//! handlers answer, and the provider forms, are described in [`described`].

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use super::error::ErrorBody;

mod described;
mod modifiers;

use modifiers::{BearerScheme, ClosedProviderBodies, JsonBodyRefusals, OptionalSessionBody};

pub use described::*;

/// The name of the bearer token scheme the `/api/v1` operations require.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "switchboard",
        version = env!("CARGO_PKG_VERSION"),
        description = "The HTTP API of switchboard, the omnichannel message router: probes, \
            provider webhooks, the web chat, and the agent and admin API (`/api/v1`, \
            `Authorization: Bearer <token>`; an agent's token acts only for that agent and \
            its conversations, the admin token for all). Errors are \
            `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::probes::healthz,
        super::probes::readyz,
        super::probes::readyz_intake,
        super::probes::metrics,
        serve,
        super::sms::inbound,
        super::sms::status,
        super::wechat::verify,
        super::wechat::push,
        super::email::inbound,
        super::slack::events,
        super::slack::interactivity::interactivity,
        super::slack::commands::commands,
        super::widget_js,
        super::widget_demo,
        super::csat::answer,
        super::dashboard::page,
        super::dashboard::script,
        super::webchat::sessions,
        super::webchat::preflight,
        super::webchat::socket,
        super::api::set_status,
        super::api::agent_conversations,
        super::api::list_conversations,
        super::api::conversation,
        super::api::reply,
        super::api::resolve,
        super::api::typing,
        super::api::accept,
        super::api::decline,
        super::api::transfer,
        super::api::note,
        super::admin::put_customer,
        super::admin::get_customer,
        super::privacy::erase_customer,
        super::privacy::export_customer,
        super::admin::reload,
        super::ops::dead_letters,
        super::ops::drop_dead_letter,
        super::ops::replay_dead_letter,
        super::ops::stats,
        super::ops::list_agents,
        super::ops::list_queues,
        super::entries::put_entry,
        super::entries::delete_entry,
        super::api::summary,
        super::api::supervisor::snapshot,
        super::api::supervisor::stream,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme, &OptionalSessionBody, &ClosedProviderBodies, &JsonBodyRefusals),
    tags(
        (name = "probes", description = "Liveness, readiness and Prometheus metrics"),
        (name = "meta", description = "This description"),
        (name = "webhooks", description = "Provider webhooks, each verified by the provider's own signature"),
        (name = "webchat", description = "The embeddable web chat: widget, visitor sessions, the visitor's WebSocket"),
        (name = "agent", description = "The agent API: presence, conversations, replies (agent or admin token)"),
        (name = "admin", description = "Admin routes (admin token only)"),
        (name = "supervisor", description = "The supervisor dashboard, its live figures and the reports (admin or supervisor token)"),
        (name = "reports", description = "The team's figures (admin or supervisor token)"),
        (name = "csat", description = "The satisfaction survey's email links (no token: the link is signed)"),
    ),
)]
struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<Document> = LazyLock::new(ApiDoc::openapi);

/// The OpenAPI description of the HTTP API.
pub fn document() -> Document {
    DOCUMENT.clone()
}

/// The OpenAPI description of this HTTP API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    summary = "This API's OpenAPI 3.1 description",
    description = "Generated from the code at build time; lists every route of this listener.",
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json")),
)]
pub async fn serve() -> Json<&'static Document> {
    Json(&DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::http::ROUTES;

    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    fn json() -> Value {
        serde_json::to_value(document()).expect("the document serializes")
    }

    /// Every (method, path) operation of the document.
    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let paths = doc["paths"].as_object().expect("paths");
        let mut ops = BTreeSet::new();
        for (path, item) in paths {
            for (key, _) in item.as_object().expect("path item") {
                if METHODS.contains(&key.as_str()) {
                    ops.insert((key.clone(), path.clone()));
                }
            }
        }
        ops
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routes: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        assert_eq!(routes.len(), ROUTES.len(), "a route is registered twice");
        let documented = operations(&json());
        let missing: Vec<_> = routes.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routes).collect();
        assert!(missing.is_empty(), "routes without an OpenAPI operation (add #[utoipa::path] and list it in ApiDoc): {missing:?}");
        assert!(extra.is_empty(), "documented operations the router does not serve: {extra:?}");
    }

    /// `ROUTES` is complete only if every route goes through
    /// `route_table!`: the router's source registers nothing else.
    #[test]
    fn routes_are_registered_only_through_the_table() {
        let source = include_str!("mod.rs");
        assert_eq!(source.matches(".route(").count(), 1, "a `.route(` outside `route_table!` in src/http/mod.rs");
        for call in [".nest(", ".nest_service(", ".merge(", ".route_service(", ".route_layer("] {
            assert!(!source.contains(call), "src/http/mod.rs uses `{call}`: list those routes in ROUTES and the document");
        }
    }

    #[test]
    fn document_is_openapi_3_1_about_this_build() {
        let doc = json();
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
        assert_eq!(doc["info"]["title"], "switchboard");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let scheme = &doc["components"]["securitySchemes"][BEARER];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
    }

    /// `/api/v1` needs the bearer token; nothing else names a scheme.
    #[test]
    fn only_the_api_requires_the_bearer_token() {
        let doc = json();
        for (method, path) in operations(&doc) {
            let op = &doc["paths"][&path][&method];
            let security = op.get("security").cloned().unwrap_or(Value::Null);
            if path.starts_with("/api/v1/") {
                assert_eq!(security, serde_json::json!([{ BEARER: [] }]), "{method} {path}");
            } else {
                assert_eq!(security, Value::Null, "{method} {path}");
            }
        }
    }

    #[test]
    fn operations_have_unique_ids_tags_and_responses() {
        let doc = json();
        let mut ids = BTreeSet::new();
        for (method, path) in operations(&doc) {
            let op = &doc["paths"][&path][&method];
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path}: no tag");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: no summary");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path}: no responses");
        }
    }

    /// Request bodies are required, except the web chat session request's.
    #[test]
    fn request_bodies_are_required_but_the_session_request() {
        let doc = json();
        let mut bodies = 0;
        for (method, path) in operations(&doc) {
            let body = &doc["paths"][&path][&method]["requestBody"];
            if body.is_null() {
                continue;
            }
            bodies += 1;
            let optional = method == "post" && path == "/webchat/sessions";
            assert_eq!(body["required"].as_bool(), Some(!optional), "{method} {path}");
            for (content_type, media) in body["content"].as_object().expect("content") {
                assert!(media["schema"].is_object(), "{method} {path} {content_type}: no schema");
                assert!(media["schema"]["oneOf"].is_null(), "{method} {path} {content_type}: nullable body");
            }
        }
        assert!(bodies >= 11, "{bodies} request bodies");
    }

    /// Each `{param}` of a path is declared as a path parameter, and no
    /// other.
    #[test]
    fn path_parameters_match_the_templates() {
        let doc = json();
        let template = regex::Regex::new(r"\{([a-z_]+)\}").expect("regex");
        for (method, path) in operations(&doc) {
            let expected: BTreeSet<&str> = template.captures_iter(&path).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect();
            let op = &doc["paths"][&path][&method];
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, expected, "{method} {path}");
        }
    }

    /// What the framework refuses before a handler runs is documented: every
    /// operation with a JSON body answers 415 and 413 in the error shape, and
    /// the web chat's bodies are closed like the types that read them.
    #[test]
    fn framework_refusals_are_documented() {
        let doc = json();
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op["requestBody"]["content"].get("application/json").is_none() {
                    continue;
                }
                bodies += 1;
                for status in ["413", "415"] {
                    let schema = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
        }
        assert!(bodies >= 8, "JSON-body operations: {bodies}");
        for name in ["WebchatSessionRequest", "WebchatIdentity"] {
            assert_eq!(doc["components"]["schemas"][name]["additionalProperties"], false, "{name}");
        }
        let stream = &doc["paths"]["/api/v1/supervisor/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"];
        assert_eq!(stream["$ref"], "#/components/schemas/StreamEvent");
    }

    /// Every `$ref` points at a component that exists.
    #[test]
    fn every_reference_resolves() {
        fn walk(v: &Value, doc: &Value, seen: &mut usize) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
                        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
                        *seen += 1;
                    }
                    map.values().for_each(|x| walk(x, doc, seen));
                }
                Value::Array(items) => items.iter().for_each(|x| walk(x, doc, seen)),
                _ => {}
            }
        }
        let doc = json();
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 10, "expected the bodies to be referenced components, found {seen} $refs");
    }

    /// The API's errors are the `ErrorBody` schema: what `ApiError` answers
    /// has exactly its fields.
    #[tokio::test]
    async fn error_schema_is_what_api_error_answers() {
        use axum::response::IntoResponse;
        let doc = json();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["ErrorBody"]["required"], serde_json::json!(["error"]));
        assert_eq!(properties(&schemas["ErrorBody"]), BTreeSet::from(["error".to_owned()]));
        assert_eq!(schemas["ErrorDetail"]["required"], serde_json::json!(["code", "message"]));
        let resp = crate::http::ApiError::not_found("conversation").into_response();
        #[allow(clippy::disallowed_methods)] // a test reading its own small answer, capped
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.expect("body");
        let answered: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(object_keys(&answered), properties(&schemas["ErrorBody"]));
        assert_eq!(object_keys(&answered["error"]), properties(&schemas["ErrorDetail"]));
    }

    /// The described types that stand for other crates' types say what
    /// those types accept and answer.
    #[test]
    fn described_types_match_the_real_ones() {
        let doc = json();
        let schemas = &doc["components"]["schemas"];
        let request = serde_json::json!({
            "visitor_id": "v_01J0000000000000000000000",
            "name": "Ann",
            "identity": {"customer_id": "c1", "name": "Ann", "tier": "vip", "timestamp": 1, "signature": "ab"},
        });
        assert_eq!(properties(&schemas["WebchatSessionRequest"]), object_keys(&request));
        assert_eq!(properties(&schemas["WebchatIdentity"]), object_keys(&request["identity"]));
        switchboard_webchat::SessionRequest::parse(request.to_string().as_bytes()).expect("the described request parses");

        let issuer = switchboard_webchat::SessionIssuer::new(
            secrecy::SecretString::from("a-secret-of-at-least-32-bytes-long-0123456789"),
            std::time::Duration::from_secs(60),
        )
        .expect("issuer");
        let session = issuer.issue(None, None, None, chrono::Utc::now());
        let answered = serde_json::to_value(&session).expect("json");
        assert_eq!(properties(&schemas["WebchatSession"]), object_keys(&answered));
    }

    fn properties(schema: &Value) -> BTreeSet<String> {
        object_keys(&schema["properties"])
    }

    fn object_keys(v: &Value) -> BTreeSet<String> {
        v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    }
}
