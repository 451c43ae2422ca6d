//! Sessions and streams: list, create, end; and the worker's side of a
//! stream, peek and claim.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiResult, Json};
use super::{AppState, blocking};
use crate::model::{Session, Stream};
use crate::queue::{StreamInfo, TaskBrief};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(list_sessions).post(create_session))
        .route("/api/sessions/{name}/end", post(end_session))
        .route("/api/streams", get(list_streams).post(create_stream))
        .route("/api/streams/{name}/end", post(end_stream))
        .route("/api/streams/{name}/peek", get(peek))
        .route("/api/streams/{name}/claim", post(claim))
}

#[derive(Serialize)]
struct Sessions {
    sessions: Vec<Session>,
}

async fn list_sessions(State(state): State<AppState>) -> ApiResult<Json<Sessions>> {
    let sessions = blocking(&state, |q| q.list_sessions()).await?;
    Ok(Json(Sessions { sessions }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

async fn create_session(
    State(state): State<AppState>,
    Json(new): Json<NewSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let description = new.description.filter(|d| !d.trim().is_empty());
    let session = blocking(&state, move |q| q.create_session(&new.name, description)).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

async fn end_session(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Session>> {
    Ok(Json(blocking(&state, move |q| q.end_session(&name)).await?))
}

#[derive(Serialize)]
struct Streams {
    streams: Vec<StreamInfo>,
}

async fn list_streams(State(state): State<AppState>) -> ApiResult<Json<Streams>> {
    let streams = blocking(&state, |q| q.list_streams(None)).await?;
    Ok(Json(Streams { streams }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStream {
    name: String,
    session: String,
    #[serde(default)]
    instructions: String,
}

async fn create_stream(
    State(state): State<AppState>,
    Json(new): Json<NewStream>,
) -> ApiResult<(StatusCode, Json<Stream>)> {
    let stream = blocking(&state, move |q| {
        q.create_stream(&new.name, &new.session, &new.instructions)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(stream)))
}

async fn end_stream(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Stream>> {
    Ok(Json(blocking(&state, move |q| q.end_stream(&name)).await?))
}

/// The next task a claim would take, or `{"task": null}`.
async fn peek(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let task: Option<TaskBrief> = blocking(&state, move |q| q.peek(&name)).await?;
    Ok(Json(json!({ "task": task })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    #[serde(default)]
    worker: Option<String>,
}

/// What a claim answers.
#[derive(Serialize)]
struct Claimed {
    task: Option<TaskBrief>,
}

/// Claims the oldest pending task: `{"task": {...with stream brief...}}`, or
/// `{"task": null}` when nothing is pending. Serialized straight from the
/// task, not through a `Value` (the same bytes: maps keep their order).
async fn claim(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<ClaimRequest>,
) -> ApiResult<Json<Claimed>> {
    let worker = request
        .worker
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "http".to_owned());
    // Not starved by a flood of enqueues: see `turns`.
    let _turn = state.turns().claim(&name).await;
    let task = blocking(&state, move |q| q.claim(&name, &worker)).await?;
    Ok(Json(Claimed { task }))
}
