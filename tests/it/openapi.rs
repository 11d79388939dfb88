//! `GET /openapi.json` from a running instance: an OpenAPI 3.x document
//! that parses, lists every route of the router and nothing else, and
//! whose every operation reaches a handler.

use std::collections::BTreeSet;

use serde_json::Value;
use switchboard::http::ROUTES;

use crate::support::TestApp;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every (method, path) operation of a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for key in item.as_object().expect("path item").keys() {
            if METHODS.contains(&key.as_str()) {
                ops.insert((key.clone(), path.clone()));
            }
        }
    }
    ops
}

/// Fetches and parses `/openapi.json`.
async fn document(app: &TestApp) -> (Value, Vec<u8>) {
    let resp = reqwest::get(app.url("/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body = resp.bytes().await.unwrap().to_vec();
    let doc: Value = serde_json::from_slice(&body).expect("the document is JSON");
    (doc, body)
}

#[tokio::test]
async fn openapi_json_is_served_and_lists_every_route() {
    let app = TestApp::spawn_ready("").await;
    let (doc, body) = document(&app).await;

    let version = doc["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "switchboard");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // A structurally valid OpenAPI 3.1 document (paths, operations,
    // parameters, request bodies, responses, components, security schemes).
    let spec = oas3::from_json(String::from_utf8(body).unwrap()).expect("a valid OpenAPI 3.1 document");
    spec.validate_version().expect("an OpenAPI version oas3 supports (3.1)");
    assert_eq!(spec.info.title, "switchboard");
    assert!(spec.components.as_ref().is_some_and(|c| c.security_schemes.contains_key("bearer")));

    let routes: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert!(routes.contains(&("get".to_owned(), "/openapi.json".to_owned())));
    let parsed: BTreeSet<(String, String)> =
        spec.operations().map(|(path, method, _)| (method.as_str().to_lowercase(), path)).collect();
    assert_eq!(parsed, routes, "the operations as an OpenAPI parser reads them");
    let documented = operations(&doc);
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(missing.is_empty(), "routes missing from /openapi.json: {missing:?}");
    assert!(extra.is_empty(), "operations the router does not serve: {extra:?}");

    // The served document is the one the code generates.
    assert_eq!(doc, serde_json::to_value(switchboard::http::openapi_document()).unwrap());
    app.stop().await;
}

/// Calls every documented operation (path parameters filled in, no token,
/// no body) and checks the router has a handler for it: never 405, never
/// the fallback's `route not found`. No call has an effect: the API wants
/// a token, the webhooks a configured account and a signature, and web
/// chat is not configured here.
#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let app = TestApp::spawn_ready("").await;
    let (doc, _) = document(&app).await;
    let params = regex::Regex::new(r"\{[a-z_]+\}").unwrap();
    let client = reqwest::Client::new();
    let fallback = serde_json::json!({ "error": { "code": "not_found", "message": "route not found" } });
    for (method, path) in operations(&doc) {
        let url = app.url(&params.replace_all(&path, "x"));
        let method_name = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let resp = client.request(method_name, &url).send().await.unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: method not routed");
        let answered: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_ne!(answered, fallback, "{method} {path}: no route");
    }
    app.stop().await;
}
