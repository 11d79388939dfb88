//! The supervisor's live view (`/api/v1/supervisor/…`, the admin or the
//! supervisor token): a snapshot of the floor, and the same as a stream of
//! Server-Sent Events. What the figures are is in `crate::supervisor`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;

use super::super::auth::{StreamWatcher, Watcher};
use super::super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::supervisor::Snapshot;

/// The name of the stream's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamEventName {
    /// The floor now.
    Snapshot,
}

/// One event of `GET /api/v1/supervisor/stream`, as its `event:` and
/// `data:` lines carry it.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct StreamEvent {
    /// Always `snapshot`.
    pub event: StreamEventName,
    /// The snapshot's JSON, as `GET /api/v1/supervisor/snapshot` answers it
    /// (`{"stale": true}` while Redis cannot be read and none was taken).
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

impl From<StreamEvent> for Event {
    fn from(e: StreamEvent) -> Event {
        let name = match e.event {
            StreamEventName::Snapshot => "snapshot",
        };
        Event::default().event(name).data(e.data)
    }
}

/// `GET /api/v1/supervisor/snapshot`
#[utoipa::path(
    get,
    path = "/api/v1/supervisor/snapshot",
    tag = "supervisor",
    summary = "The floor now",
    description = "Per queue (every configured queue, by name) the conversations waiting, the \
        longest wait and the SLA clocks at risk (running past their policy's `warn_at`); per agent \
        (every configured agent) its status and its load and capacity per channel; agents by \
        status; the clocks at risk, oldest due first (at most `supervisor.at_risk_limit`); the \
        peak alerts firing. Read from Redis in one step: every replica answers the same. \
        The admin token or `server.supervisor_token`.",
    responses(
        (status = 200, description = "The snapshot", body = Snapshot),
        (status = 401, description = "`unauthorized`: no token, an unknown one, or an agent's", body = ErrorBody),
        (status = 503, description = "`unavailable`: Redis cannot be read; retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn snapshot(State(app): State<Arc<App>>, _who: Watcher) -> Result<impl IntoResponse, ApiError> {
    let snapshot = crate::supervisor::snapshot(&app).await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(snapshot))
}

/// `GET /api/v1/supervisor/stream`
#[utoipa::path(
    get,
    path = "/api/v1/supervisor/stream",
    tag = "supervisor",
    summary = "The floor, live (Server-Sent Events)",
    description = "`text/event-stream`: an `event: snapshot` whose `data` is the snapshot's JSON \
        (as `GET /api/v1/supervisor/snapshot` answers it) at once, then every \
        `supervisor.stream_every_secs`. While Redis cannot be read the stream stays open and \
        sends the last snapshot with `\"stale\": true` (`{\"stale\": true}` before any). It ends \
        when the daemon shuts down; reconnect then. The admin token or \
        `server.supervisor_token`, as a bearer header or, for a browser's `EventSource`, as the \
        `token` query parameter.",
    params(("token" = Option<String>, Query, description = "The token, when no `Authorization` header can be sent")),
    responses(
        (status = 200, description = "The stream of `snapshot` events; the schema is one event's", body = StreamEvent, content_type = "text/event-stream"),
        (status = 401, description = "`unauthorized`: no token, an unknown one, or an agent's", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn stream(State(app): State<Arc<App>>, _who: StreamWatcher) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let every = app.settings.supervisor.stream_every();
    let closing = app.closing.clone();
    let events = futures::stream::unfold((app, None::<Snapshot>, true), move |(app, last, first)| {
        let closing = closing.clone();
        async move {
            if !first {
                tokio::select! {
                    _ = closing.cancelled() => return None,
                    _ = tokio::time::sleep(every) => {}
                }
            }
            if closing.is_cancelled() {
                return None;
            }
            let (data, last) = match crate::supervisor::snapshot(&app).await {
                Ok(now) => (serde_json::to_string(&now).unwrap_or_default(), Some(now)),
                Err(e) => {
                    tracing::debug!(error = %e, "supervisor stream: Redis unavailable; sending the last snapshot as stale");
                    let data = match &last {
                        Some(s) => serde_json::to_string(&Snapshot { stale: true, ..s.clone() }).unwrap_or_default(),
                        None => r#"{"stale":true}"#.to_owned(),
                    };
                    (data, last)
                }
            };
            Some((Ok(StreamEvent { event: StreamEventName::Snapshot, data }.into()), (app, last, false)))
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
