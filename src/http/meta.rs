//! The project-wide endpoints: health, status, tools, scripts, reload and
//! the OpenAPI description.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, Json, query_error};
use super::{AppState, blocking};
use crate::config::Tool;
use crate::model::Session;
use crate::queue::StreamInfo;
use crate::runtime::PidFile;
use crate::scripts::Script;

const OPENAPI: &str = include_str!("openapi.json");

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/status", get(status))
        .route("/api/tools", get(tools))
        .route("/api/scripts", get(scripts))
        .route("/api/reload", post(reload))
        .route("/api/openapi.json", get(openapi))
}

async fn health() -> Json<Value> {
    Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

#[derive(Serialize)]
struct Status {
    project: String,
    server: Option<PidFile>,
    sessions: Vec<Session>,
    streams: Vec<StreamInfo>,
}

/// Active sessions and their active streams with counts, like `sparkq status`.
async fn status(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    let status = blocking(&state, |queue| {
        let status = queue.status()?;
        Ok(Status {
            project: status.project,
            server: status.server,
            sessions: status.sessions,
            streams: status.streams,
        })
    })
    .await?;
    Ok(Json(status))
}

#[derive(Serialize)]
struct Tools {
    tools: Vec<Tool>,
}

async fn tools(State(state): State<AppState>) -> Json<Tools> {
    let tools = state.queue().config().tools.values().cloned().collect();
    Json(Tools { tools })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptQuery {
    q: Option<String>,
}

#[derive(Serialize)]
struct Scripts {
    scripts: Vec<Script>,
}

/// The script index; `?q=TERM` filters it like `sparkq scripts search`.
async fn scripts(
    State(state): State<AppState>,
    query: Result<Query<ScriptQuery>, QueryRejection>,
) -> ApiResult<Json<Scripts>> {
    let Query(query) = query.map_err(query_error)?;
    let index = state.scripts();
    let scripts = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(term) => index.search(term).into_iter().cloned().collect(),
        None => index.all().to_vec(),
    };
    Ok(Json(Scripts { scripts }))
}

/// Re-reads `sparkq.yml` and rescans scripts; a broken config is refused
/// and the running one kept.
async fn reload(State(state): State<AppState>, Json(_): Json<Value>) -> ApiResult<Json<Value>> {
    let reloader = state.clone();
    let counts = tokio::task::spawn_blocking(move || reloader.reload())
        .await
        .map_err(|e| ApiError::internal(format!("reload failed: {e}")))?;
    match counts {
        Ok((tools, scripts)) => Ok(Json(
            json!({"reloaded": true, "tools": tools, "scripts": scripts}),
        )),
        Err(err) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_config",
            format!("{err}\n  The running configuration is unchanged; fix the file and reload again."),
        )),
    }
}

async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
