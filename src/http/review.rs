//! The morning review's reads: `GET /api/since` (what finished since a
//! moment, grouped by stream) and `GET /api/stats` (the dashboard's
//! charts). Both are computed by the queue; this only parses the query.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::error::{ApiError, ApiResult, Json, query_error};
use super::tasks::{parse_status, parse_window};
use super::{AppState, blocking};
use crate::queue::{MAX_STATS_HOURS, SinceReport, Stats, TaskFilter};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/since", get(since))
        .route("/api/stats", get(stats))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinceQuery {
    since: Option<String>,
    until: Option<String>,
    stream: Option<String>,
    status: Option<String>,
    q: Option<String>,
    tool: Option<String>,
    worker: Option<String>,
}

/// What finished in `[since, until)`, failures first, grouped by stream.
async fn since(
    State(state): State<AppState>,
    query: Result<Query<SinceQuery>, QueryRejection>,
) -> ApiResult<Json<SinceReport>> {
    let Query(query) = query.map_err(query_error)?;
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    if non_empty(query.since.clone()).is_none() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "since is missing\n  Pass since: an age such as since=8h (meaning 8 hours ago) or an RFC 3339 time.",
        ));
    }
    let (since, until) = parse_window(query.since, query.until)?;
    let filter = TaskFilter {
        status: parse_status(non_empty(query.status))?,
        stream: non_empty(query.stream),
        text: non_empty(query.q),
        tool: non_empty(query.tool),
        worker: non_empty(query.worker),
        since,
        until,
        ..TaskFilter::default()
    };
    if let Some(status) = filter.status.filter(|s| !s.is_finished()) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "status '{}' has not finished\n  This view lists finished tasks: give status=succeeded or status=failed, or none.",
                status.as_str()
            ),
        ));
    }
    Ok(Json(blocking(&state, move |q| q.since(&filter)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    hours: Option<String>,
    stream: Option<String>,
}

/// Tasks finished per hour, durations per tool, queue depth per stream;
/// of one stream with `stream=NAME`.
async fn stats(
    State(state): State<AppState>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult<Json<Stats>> {
    let Query(query) = query.map_err(query_error)?;
    let hours = match query.hours.filter(|h| !h.is_empty()) {
        None => 24,
        Some(h) => match h.parse::<u32>() {
            Ok(n) if (1..=MAX_STATS_HOURS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "hours '{h}' is not a number from 1 to {MAX_STATS_HOURS}\n  Ask for 1 to {MAX_STATS_HOURS} hours (a week); 24 if absent."
                    ),
                ));
            }
        },
    };
    let stream = query.stream.filter(|s| !s.is_empty());
    Ok(Json(
        blocking(&state, move |q| q.stats(hours, stream.as_deref())).await?,
    ))
}
