//! Tasks: list with filters and cursor paging, enqueue, show, and the
//! worker's reports (complete, fail, heartbeat) plus requeue.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ApiResult, Json, query_error};
use super::{AppState, blocking};
use crate::model::{Task, TaskId, TaskStatus, Timestamp, excerpt};
use crate::queue::{
    ListingPage, MAX_PAGE, NewTask, Report, RequeueOptions, Requeued, TaskFilter, check_window, parse_moment,
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tasks", get(list).post(create))
        .route("/api/tasks/{id}", get(show))
        .route("/api/tasks/{id}/stdout", get(stdout))
        .route("/api/tasks/{id}/stderr", get(stderr))
        .route("/api/tasks/{id}/complete", post(complete))
        .route("/api/tasks/{id}/fail", post(fail))
        .route("/api/tasks/{id}/requeue", post(requeue))
        .route("/api/tasks/{id}/heartbeat", post(heartbeat))
        .route("/api/streams/{name}/requeue", post(requeue_queued))
}

/// A task as the API shows it: the file's fields plus `stale`, so clients
/// need not redo the clock arithmetic of SPEC 4.6.
#[derive(Serialize)]
pub(crate) struct TaskView {
    #[serde(flatten)]
    task: Task,
    stale: bool,
    /// Only in the preview view (`?outputs=preview`).
    #[serde(flatten)]
    outputs: Option<OutputSizes>,
}

/// What the preview view says of the outputs it cut.
#[derive(Serialize)]
struct OutputSizes {
    stdout_bytes: usize,
    stderr_bytes: usize,
    stdout_truncated: bool,
    stderr_truncated: bool,
}

impl From<Task> for TaskView {
    fn from(task: Task) -> TaskView {
        let stale = task.is_stale_at(Timestamp::now());
        TaskView {
            task,
            stale,
            outputs: None,
        }
    }
}

impl TaskView {
    /// The view with stdout and stderr cut to their head and tail when long
    /// (see [`excerpt`]), saying their full sizes and whether they were cut.
    fn preview(task: Task) -> TaskView {
        let mut view = TaskView::from(task);
        let cut = |text: &mut Option<String>| -> (usize, bool) {
            let bytes = text.as_ref().map_or(0, String::len);
            match text.as_deref().and_then(excerpt) {
                Some(short) => {
                    *text = Some(short);
                    (bytes, true)
                }
                None => (bytes, false),
            }
        };
        let (stdout_bytes, stdout_truncated) = cut(&mut view.task.stdout);
        let (stderr_bytes, stderr_truncated) = cut(&mut view.task.stderr);
        view.outputs = Some(OutputSizes {
            stdout_bytes,
            stderr_bytes,
            stdout_truncated,
            stderr_truncated,
        });
        view
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    stream: Option<String>,
    stale: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    q: Option<String>,
    tool: Option<String>,
    worker: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// A bad query parameter, as a 400 `invalid_query` carrying the queue's
/// words for it (what is wrong and what to give instead).
pub(crate) fn bad_param(err: crate::queue::Error) -> ApiError {
    ApiError::bad_request("invalid_query", err.to_string())
}

/// `since` and `until` of a query (RFC 3339 or an age such as `8h`),
/// checked to be in order.
pub(crate) fn parse_window(
    since: Option<String>,
    until: Option<String>,
) -> ApiResult<(Option<Timestamp>, Option<Timestamp>)> {
    let now = Timestamp::now();
    let moment = |what, given: Option<String>| {
        given
            .filter(|s| !s.is_empty())
            .map(|s| parse_moment(what, &s, now))
            .transpose()
            .map_err(bad_param)
    };
    let (since, until) = (moment("since", since)?, moment("until", until)?);
    check_window(since, until).map_err(bad_param)?;
    Ok((since, until))
}

/// A `status` parameter: a status or the name of its folder.
pub(crate) fn parse_status(given: Option<String>) -> ApiResult<Option<TaskStatus>> {
    given
        .map(|s| {
            TaskStatus::parse_filter(&s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "status '{s}' is not a task status\n  Use queued, running, succeeded or failed (or the folder names pending, claimed, done)."
                    ),
                )
            })
        })
        .transpose()
}

fn parse_filter(query: ListQuery) -> ApiResult<TaskFilter> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let status = parse_status(non_empty(query.status))?;
    let stale = match non_empty(query.stale).as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("stale '{other}' is not a boolean\n  Use stale=true or stale=false."),
            ));
        }
    };
    let limit = match non_empty(query.limit) {
        None => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("limit '{l}' is not a whole number from 1 to {MAX_PAGE}\n  Ask for 1 to {MAX_PAGE} tasks per page."),
            )
        })?),
    };
    if let Some(limit) = limit
        && !(1..=MAX_PAGE).contains(&limit)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit {limit} is out of range\n  Ask for 1 to {MAX_PAGE} tasks per page."),
        ));
    }
    let (since, until) = parse_window(query.since, query.until)?;
    Ok(TaskFilter {
        status,
        stream: non_empty(query.stream),
        stale,
        limit,
        before: non_empty(query.cursor),
        text: non_empty(query.q),
        tool: non_empty(query.tool),
        worker: non_empty(query.worker),
        since,
        until,
    })
}

/// Newest first, one page at a time. Paging is by id, so a page reads only
/// the task files it returns.
async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<ListingPage>> {
    let Query(query) = query.map_err(query_error)?;
    let filter = parse_filter(query)?;
    let page = blocking(&state, move |q| q.list_listings(&filter, Timestamp::now())).await?;
    Ok(Json(page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTask {
    stream: String,
    tool_name: String,
    payload: Value,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    task_class: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateTask>,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    let new = NewTask {
        tool_name: body.tool_name,
        payload: body.payload,
        timeout: body.timeout,
        task_class: body.task_class,
    };
    let stream = body.stream;
    // Gives waiting claims their turn first: see `turns`.
    let _turn = state.turns().enqueue(&stream).await;
    let task = blocking(&state, move |q| q.enqueue(&stream, new)).await?;
    Ok((StatusCode::CREATED, Json(task.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    outputs: Option<String>,
}

/// One task, whole; with `?outputs=preview` its stdout and stderr are cut
/// to their first and last lines when long, so a page stays responsive
/// with megabytes of output (`/stdout` and `/stderr` have them whole).
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> ApiResult<Json<TaskView>> {
    let Query(query) = query.map_err(query_error)?;
    let preview = match query.outputs.as_deref() {
        None | Some("" | "full") => false,
        Some("preview") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "outputs '{other}' is not a view\n  Use outputs=preview (first and last lines of long outputs) or outputs=full."
                ),
            ));
        }
    };
    let task = blocking(&state, move |q| q.get_task(&id)).await?;
    Ok(Json(if preview {
        TaskView::preview(task)
    } else {
        task.into()
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputQuery {
    download: Option<String>,
}

/// `GET /api/tasks/{id}/stdout`: the whole stdout as text.
async fn stdout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, QueryRejection>,
) -> ApiResult<Response> {
    output(state, id, query, "stdout").await
}

/// `GET /api/tasks/{id}/stderr`: the whole stderr as text.
async fn stderr(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, QueryRejection>,
) -> ApiResult<Response> {
    output(state, id, query, "stderr").await
}

/// One output of a task as `text/plain` (empty when it has none); with
/// `?download=1`, as a file named `<id>.<which>.txt`.
async fn output(
    state: AppState,
    id: String,
    query: Result<Query<OutputQuery>, QueryRejection>,
    which: &'static str,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(query_error)?;
    let download = match query.download.as_deref() {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("download '{other}' is not a boolean\n  Use download=1 to get the output as a file."),
            ));
        }
    };
    let task = blocking(&state, move |q| q.get_task(&id)).await?;
    let text = match which {
        "stdout" => task.stdout,
        _ => task.stderr,
    }
    .unwrap_or_default();
    let mut headers = vec![(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    )];
    if download {
        // The id is checked ([a-z0-9_-] only), so it is safe in the header.
        let disposition = format!("attachment; filename=\"{}.{which}.txt\"", task.id);
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.push((header::CONTENT_DISPOSITION, value));
        }
    }
    let mut response = text.into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteRequest {
    result: Value,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
}

async fn complete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CompleteRequest>,
) -> ApiResult<Json<TaskView>> {
    let report = Report {
        token: body.token,
        stdout: body.stdout,
        stderr: body.stderr,
    };
    let task = blocking(&state, move |q| q.complete(&id, body.result, report)).await?;
    Ok(Json(task.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailRequest {
    error: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
}

async fn fail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<FailRequest>,
) -> ApiResult<Json<TaskView>> {
    let report = Report {
        token: body.token,
        stdout: body.stdout,
        stderr: body.stderr,
    };
    let task = blocking(&state, move |q| q.fail(&id, &body.error, report)).await?;
    Ok(Json(task.into()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    #[serde(default)]
    token: Option<String>,
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<TokenRequest>,
) -> ApiResult<Json<TaskView>> {
    let task = blocking(&state, move |q| q.heartbeat(&id, body.token.as_deref())).await?;
    Ok(Json(task.into()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RequeueRequest {
    /// Queue the copy into this stream instead of the original's.
    #[serde(default)]
    stream: Option<String>,
    /// Give the copy this payload instead of the original's.
    #[serde(default)]
    payload: Option<Value>,
}

/// A requeue's answer: the new task, and `already_requeued_as` when the
/// original had been requeued before (so a double click shows).
#[derive(Serialize)]
struct RequeueView {
    #[serde(flatten)]
    task: TaskView,
    #[serde(skip_serializing_if = "Option::is_none")]
    already_requeued_as: Option<TaskId>,
}

impl From<Requeued> for RequeueView {
    fn from(r: Requeued) -> RequeueView {
        RequeueView {
            task: r.task.into(),
            already_requeued_as: r.already_requeued_as,
        }
    }
}

/// A new queued task with the same tool, payload and timeout (or those the
/// request gives), recording `requeued_from`; the original gains
/// `requeued_as` and otherwise stays as it is.
async fn requeue(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(request): Json<RequeueRequest>,
) -> ApiResult<(StatusCode, Json<RequeueView>)> {
    let options = RequeueOptions {
        stream: request.stream,
        payload: request.payload,
    };
    let requeued = blocking(&state, move |q| q.requeue(&id, &options)).await?;
    Ok((StatusCode::CREATED, Json(requeued.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveQueuedRequest {
    /// The active stream to queue the copies into.
    stream: String,
}

/// Requeues every queued task of the ended stream `name` into another
/// stream: `{"tasks": [...]}`, oldest first.
async fn requeue_queued(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<MoveQueuedRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let done = blocking(&state, move |q| q.requeue_all_queued(&name, &request.stream)).await?;
    let tasks: Vec<RequeueView> = done.into_iter().map(RequeueView::from).collect();
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "tasks": tasks }))))
}
