//! The audit trail: every admin action through the API (configuration
//! reloads and changes, dead letters listed, replayed or dropped,
//! customers changed, exported or erased) and every read of a conversation
//! or a customer becomes a CloudEvent `switchboard.audit.<action>` on its
//! own stream (`P_audit`, subjects `P.audit.<action>`, kept
//! `retention.audit_days`). It says who (the agent, or the admin token),
//! what (the action, the route, the target id, the answer's status), when,
//! and from where (the client's address, and `X-Forwarded-For` if sent);
//! never a message text or a request body. A customer named by an
//! identity (`phone:…`) is recorded as its keyed hash, so the trail holds
//! no address of an erased customer.

use chrono::Utc;
use serde::Serialize;

use crate::app::App;

/// The audited API operations: (method, route) → action.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/conversations/{id}", "conversation.read"),
    ("GET", "/api/v1/conversations", "conversation.list"),
    (
        "GET",
        "/api/v1/agents/{agent}/conversations",
        "conversation.list",
    ),
    ("GET", "/api/v1/customers/{id}", "customer.read"),
    ("PUT", "/api/v1/customers/{id}", "customer.update"),
    ("DELETE", "/api/v1/customers/{id}", "customer.erase"),
    ("GET", "/api/v1/customers/{id}/export", "customer.export"),
    ("POST", "/api/v1/admin/reload", "config.reload"),
    ("PUT", "/api/v1/admin/{kind}/{name}", "config.change"),
    ("DELETE", "/api/v1/admin/{kind}/{name}", "config.change"),
    ("GET", "/api/v1/admin/dead-letters", "dead_letter.list"),
    (
        "DELETE",
        "/api/v1/admin/dead-letters/{id}",
        "dead_letter.drop",
    ),
    (
        "POST",
        "/api/v1/admin/dead-letters/{id}/replay",
        "dead_letter.replay",
    ),
];

/// The action of an API operation, if it is audited.
pub fn action(method: &str, route: &str) -> Option<&'static str> {
    ACTIONS
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, a)| *a)
}

/// Who acted.
#[derive(Clone, Debug, Serialize)]
pub struct Actor {
    /// `agent`, `admin`, or `signal` (an operator's signal to the process).
    pub kind: &'static str,
    /// The agent id, `admin` for the admin token, or the signal (`SIGHUP`).
    pub id: String,
}

/// One audited request.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// The action (`conversation.read`, `customer.erase`, …).
    pub action: &'static str,
    /// Who.
    pub actor: Actor,
    /// The HTTP method and route template.
    pub method: String,
    /// The route, e.g. `/api/v1/conversations/{id}`.
    pub route: String,
    /// The ids in the path (`id`, `agent`, `kind`, `name`); a customer
    /// identity as its keyed hash.
    pub target: std::collections::BTreeMap<String, String>,
    /// The status answered.
    pub status: u16,
    /// The client's address as seen by this replica.
    pub client: Option<String>,
    /// The `X-Forwarded-For` header, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_for: Option<String>,
}

/// Records `entry` on the audit stream (waits for JetStream's ack); a
/// failure is logged, the request's answer stands.
pub async fn record(app: &App, mut entry: AuditEntry) {
    if entry.route.starts_with("/api/v1/customers/") {
        if let Some(id) = entry
            .target
            .get("id")
            .filter(|id| id.contains(':'))
            .cloned()
        {
            match app
                .store
                .keyed_hash(&crate::privacy::normalize_id(&id))
                .await
            {
                Ok(hash) => entry.target.insert("id".into(), hash),
                Err(_) => entry.target.insert("id".into(), "(identity)".into()),
            };
        }
    }
    let id = ulid::Ulid::new().to_string();
    let subject = entry
        .target
        .get("id")
        .or_else(|| entry.target.get("agent"))
        .cloned()
        .unwrap_or_default();
    let event = serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": app.event_source,
        "type": format!("switchboard.audit.{}", entry.action),
        "subject": subject,
        "time": Utc::now(),
        "datacontenttype": "application/json",
        "data": entry,
    });
    let subjects = app.bus.subjects();
    let published = app
        .bus
        .publish(subjects.audit(entry.action), &id, event.to_string().into())
        .await;
    if let Err(e) = published {
        tracing::warn!(error = %e, action = entry.action, "audit event not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audited_operations_are_routes() {
        for (method, route, _) in ACTIONS {
            let lower = method.to_ascii_lowercase();
            assert!(
                crate::http::ROUTES.contains(&(lower.as_str(), route)),
                "{method} {route}"
            );
        }
        assert_eq!(
            action("DELETE", "/api/v1/customers/{id}"),
            Some("customer.erase")
        );
        assert_eq!(action("POST", "/api/v1/conversations/{id}/reply"), None);
    }
}
