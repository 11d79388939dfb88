//! `GET /api/v1/reports/summary`: the team's figures over a time range,
//! grouped by queue, agent, channel, day or hour, as JSON or CSV (see
//! `crate::reports` for what is counted).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::http::auth::Watcher;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::query::ApiQuery;
use crate::reports::query::{self, GroupBy, CLOCKS};
use crate::reports::{Percentiles, Row};

/// The longest range of `group_by=hour` (744 rows).
const MAX_HOURLY_DAYS: i64 = 31;

/// `?from=&to=&group_by=&format=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Start of the range, RFC 3339 (default: `to` − 24 h). Within
    /// `reports.retention_days` of now.
    #[param(format = DateTime)]
    from: Option<String>,
    /// End of the range (exclusive), RFC 3339 (default: now). At most a day
    /// ahead of now.
    #[param(format = DateTime)]
    to: Option<String>,
    /// `queue`, `agent`, `channel`, `day` (default; days in
    /// `reports.timezone`) or `hour` (a range of at most 31 days).
    group_by: Option<GroupBy>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[param(inline)]
    format: Option<ReportFormat>,
}

/// The form of a summary's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// JSON ([`Summary`]).
    Json,
    /// CSV with a header line.
    Csv,
}

/// The answer of `GET /api/v1/reports/summary`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// How the rows are grouped.
    pub group_by: GroupBy,
    /// One row per group, in group order.
    pub rows: Vec<Row>,
}

/// A validated query.
#[derive(Debug, PartialEq)]
struct Range {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
    csv: bool,
}

fn instant(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|s| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 date-time (e.g. 2026-01-31T00:00:00Z)"))
    })
    .transpose()
}

/// Checks the query against `now` and the retention; every refusal names
/// its field.
fn range(q: &SummaryQuery, accept_csv: bool, now: DateTime<Utc>, retention_days: u32) -> Result<Range, ApiError> {
    let to = instant("to", q.to.as_deref())?.unwrap_or(now);
    let from = instant("from", q.from.as_deref())?.unwrap_or(to - Duration::hours(24));
    let group_by = q.group_by.unwrap_or(GroupBy::Day);
    let csv = q.format.map_or(accept_csv, |f| f == ReportFormat::Csv);
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    if to > now + Duration::days(1) {
        return Err(ApiError::invalid("to", "must not be more than a day ahead of now"));
    }
    if from < now - Duration::days(i64::from(retention_days)) {
        let why = format!("is older than what is kept (reports.retention_days = {retention_days})");
        return Err(ApiError::invalid("from", &why));
    }
    if group_by == GroupBy::Hour && to - from > Duration::days(MAX_HOURLY_DAYS) {
        return Err(ApiError::invalid("to", "must be within 31 days of `from` for group_by=hour"));
    }
    Ok(Range { from, to, group_by, csv })
}

/// Whether the `Accept` header prefers CSV (names `text/csv` before any
/// JSON type).
fn accepts_csv(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let csv = accept.find("text/csv");
    let json = accept.find("application/json");
    match (csv, json) {
        (Some(c), Some(j)) => c < j,
        (Some(_), None) => true,
        _ => false,
    }
}

/// `GET /api/v1/reports/summary`
#[utoipa::path(
    get,
    path = "/api/v1/reports/summary",
    tag = "reports",
    summary = "The team's figures over a time range",
    description = "Conversations opened, resolved, reopened, transferred and tagged `complaint`; \
        first-response, next-response and resolution times (p50/p90 in seconds, within ±19 %); \
        the rates over the conversations opened; SLA attainment per clock; satisfaction. Counted \
        per UTC hour from the event log: every hour that overlaps `[from, to)` is in. \
        `format=csv` or `Accept: text/csv` gives the same rows as CSV (nested fields flattened, \
        e.g. `first_response_p50`; an empty cell for `null`). The admin or the supervisor token.",
    params(SummaryQuery),
    responses(
        (status = 200, description = "The rows, as JSON or (`format=csv`, `Accept: text/csv`) as CSV with a header line",
            content((Summary = "application/json"), (String = "text/csv"))),
        (status = 400, description = "`invalid_request`: a bad `from`, `to`, `group_by` or `format`, a range beyond the retention or (hourly) over 31 days; the message names the field", body = ErrorBody),
        (status = 401, description = "`unauthorized`: neither the admin nor the supervisor token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn summary(
    State(app): State<Arc<App>>,
    _watcher: Watcher,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Response, ApiError> {
    let r = range(&q, accepts_csv(&headers), Utc::now(), app.settings.reports.retention_days)?;
    let rows = query::summary(&app, r.from, r.to, r.group_by).await.map_err(|e| ApiError::unavailable(&e))?;
    if r.csv {
        let body = csv(&rows);
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(Summary { from: r.from, to: r.to, group_by: r.group_by, rows }).into_response())
}

/// The CSV header: the row's fields, nested ones flattened.
fn csv_header() -> String {
    let mut h = String::from(
        "group,conversations,resolved,reopened,transferred,complaints,first_response_p50,first_response_p90,\
         next_response_p50,next_response_p90,resolution_p50,resolution_p90,resolution_rate,reopen_rate,transfer_rate",
    );
    for clock in CLOCKS {
        let _ = write!(h, ",sla_{clock}_met,sla_{clock}_breached,sla_{clock}_attainment");
    }
    h.push_str(",csat_responses,csat_average,complaint_rate");
    h
}

/// The rows as CSV (RFC 4180, CRLF line ends).
fn csv(rows: &[Row]) -> String {
    let mut out = csv_header();
    out.push_str("\r\n");
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let pct = |p: Option<Percentiles>| format!("{},{}", opt(p.map(|p| p.p50)), opt(p.map(|p| p.p90)));
    for r in rows {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            cell(&r.group),
            r.conversations,
            r.resolved,
            r.reopened,
            r.transferred,
            r.complaints,
            pct(r.first_response_secs),
            pct(r.next_response_secs),
            pct(r.resolution_secs),
            r.resolution_rate,
            r.reopen_rate,
            r.transfer_rate
        );
        for clock in CLOCKS {
            let s = r.sla_attainment.get(clock).copied().unwrap_or_default();
            let _ = write!(out, ",{},{},{}", s.met, s.breached, opt(s.attainment));
        }
        let _ = write!(out, ",{},{},{}\r\n", r.csat.responses, opt(r.csat.average), r.complaint_rate);
    }
    out
}

/// One text cell: quoted when it holds a comma, quote or line break, and
/// with a leading `'` when a spreadsheet would read it as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn q(from: Option<&str>, to: Option<&str>, group_by: Option<&str>, format: Option<&str>) -> SummaryQuery {
        let pairs = [("from", from), ("to", to), ("group_by", group_by), ("format", format)];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter_map(|(k, v)| v.map(|v| (*k, v))))
            .finish();
        crate::http::query::parse(&query).unwrap()
    }

    fn message(e: ApiError) -> String {
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        format!("{resp:?}")
    }

    #[test]
    fn defaults_are_the_last_day_by_day_as_json() {
        let now = Utc::now();
        let r = range(&q(None, None, None, None), false, now, 400).unwrap();
        assert_eq!(r, Range { from: now - Duration::hours(24), to: now, group_by: GroupBy::Day, csv: false });
        assert!(range(&q(None, None, None, None), true, now, 400).unwrap().csv);
        assert!(!range(&q(None, None, None, Some("json")), true, now, 400).unwrap().csv, "format wins over Accept");
    }

    #[test]
    fn every_refusal_is_a_400() {
        let now = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap().with_timezone(&Utc);
        for bad in [
            q(Some("yesterday"), None, None, None),
            q(None, Some("2026-13-01T00:00:00Z"), None, None),
            q(Some("2026-05-31T00:00:00Z"), Some("2026-05-30T00:00:00Z"), None, None),
            q(Some("2025-01-01T00:00:00Z"), None, None, None),
            q(Some("2026-04-01T00:00:00Z"), None, Some("hour"), None),
            q(None, Some("2027-01-01T00:00:00Z"), None, None),
        ] {
            let e = range(&bad, false, now, 400).expect_err("refused");
            message(e);
        }
        assert!(range(&q(Some("2026-05-01T00:00:00Z"), None, Some("hour"), None), false, now, 400).is_ok(), "31 days hourly");
    }

    #[test]
    fn an_unknown_grouping_or_format_is_refused_by_name() {
        for (query, field) in [("group_by=week", "`group_by`"), ("format=xml", "`format`")] {
            let e = crate::http::query::parse::<SummaryQuery>(query).expect_err(query);
            assert!(e.message().starts_with(field), "{}", e.message());
        }
        assert_eq!(q(None, None, Some("queue"), Some("csv")).group_by, Some(GroupBy::Queue));
    }

    #[test]
    fn accept_text_csv_asks_for_csv() {
        let mut h = HeaderMap::new();
        assert!(!accepts_csv(&h));
        h.insert(header::ACCEPT, "text/csv".parse().unwrap());
        assert!(accepts_csv(&h));
        h.insert(header::ACCEPT, "application/json, text/csv".parse().unwrap());
        assert!(!accepts_csv(&h));
    }

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(cell("general"), "general");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv(&[]), format!("{}\r\n", csv_header()));
        assert_eq!(csv_header().split(',').count(), 15 + 9 + 3);
    }
}
