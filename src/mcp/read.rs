//! The reading tools: `peek_task`, `get_task`, `list_tasks`, `list_streams`.
//!
//! Thin calls into the queue's readers. `list_tasks` answers one short row
//! per task (its summary or error, not its stdout) so a list stays cheap
//! for an agent to read; `get_task` gives everything.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::schemars::JsonSchema;
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};

use super::SparkqServer;
use super::schema::input_schema;
use crate::model::{Name, Task, TaskId, TaskStatus, Timestamp, preview};
use crate::queue::{self, Queue, TaskFilter};

/// Parameters of `peek_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct StreamParams {
    /// Stream name.
    stream: String,
}

/// Parameters of `get_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct IdParams {
    /// Task id.
    id: String,
}

/// Parameters of `list_tasks`, as `sparkq tasks` takes them.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct ListTasksParams {
    /// Only this stream.
    stream: Option<String>,
    /// queued, running, succeeded or failed.
    status: Option<String>,
    /// Only stale running tasks.
    #[serde(default)]
    stale: bool,
    /// How many, 1-1000 (default 50).
    limit: Option<usize>,
    /// Updated since: 8h, 2d or an RFC 3339 time.
    since: Option<String>,
    /// Text in summary, error or payload.
    q: Option<String>,
    /// Only this tool.
    tool: Option<String>,
    /// Only this worker's.
    worker: Option<String>,
}

/// Parameters of `list_streams`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct ListStreamsParams {
    /// Only streams of this session.
    session: Option<String>,
}

/// One task of a `list_tasks` answer.
#[derive(Debug, Serialize)]
struct TaskRow {
    id: TaskId,
    stream: Name,
    tool_name: String,
    status: TaskStatus,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stale: bool,
    attempts: u32,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Sizes of the full outputs; `get_task` has them.
    stdout_bytes: usize,
    stderr_bytes: usize,
}

impl TaskRow {
    fn of(task: Task, now: Timestamp) -> TaskRow {
        TaskRow {
            stale: task.is_stale_at(now),
            summary: task.summary().map(preview),
            stdout_bytes: task.stdout.as_ref().map_or(0, String::len),
            stderr_bytes: task.stderr.as_ref().map_or(0, String::len),
            id: task.id,
            stream: task.stream,
            tool_name: task.tool_name,
            status: task.status,
            attempts: task.attempts,
            created_at: task.created_at,
            finished_at: task.finished_at,
            error: task.error.as_deref().map(preview),
        }
    }
}

/// Parses a status as `sparkq tasks --status` does, with its message.
fn parse_status(s: &str) -> queue::Result<TaskStatus> {
    TaskStatus::parse_filter(s).ok_or_else(|| {
        queue::Error::invalid(
            "status",
            format!("'{s}' is not a status"),
            "Use queued, running, succeeded or failed (or the folder names pending, claimed, done).",
        )
    })
}

#[tool_router(router = read_tools, vis = "pub(super)")]
impl SparkqServer {
    #[tool(
        description = "The next queued task of a stream, unclaimed; null if none.",
        input_schema = input_schema::<StreamParams>()
    )]
    async fn peek_task(&self, Parameters(p): Parameters<StreamParams>) -> CallToolResult {
        self.call(move |queue: &Queue| queue.peek(&p.stream)).await
    }

    #[tool(
        description = "One task in full, stdout and stderr included.",
        input_schema = input_schema::<IdParams>()
    )]
    async fn get_task(&self, Parameters(p): Parameters<IdParams>) -> CallToolResult {
        self.call(move |queue: &Queue| queue.get_task(&p.id)).await
    }

    #[tool(
        description = "Tasks, newest first, with summary or error.",
        input_schema = input_schema::<ListTasksParams>()
    )]
    async fn list_tasks(&self, Parameters(p): Parameters<ListTasksParams>) -> CallToolResult {
        self.call(move |queue: &Queue| -> queue::Result<Vec<TaskRow>> {
            let now = Timestamp::now();
            let filter = TaskFilter {
                status: p.status.as_deref().map(parse_status).transpose()?,
                stream: p.stream,
                stale: p.stale,
                limit: p.limit,
                since: p
                    .since
                    .as_deref()
                    .map(|since| queue::parse_moment("since", since, now))
                    .transpose()?,
                text: p.q,
                tool: p.tool,
                worker: p.worker,
                ..TaskFilter::default()
            };
            let page = queue.list_tasks(&filter)?;
            Ok(page
                .tasks
                .into_iter()
                .map(|t| TaskRow::of(t, now))
                .collect::<Vec<_>>())
        })
        .await
    }

    #[tool(
        description = "Streams with instructions and counts.",
        input_schema = input_schema::<ListStreamsParams>()
    )]
    async fn list_streams(&self, Parameters(p): Parameters<ListStreamsParams>) -> CallToolResult {
        self.call(move |queue: &Queue| queue.list_streams(p.session.as_deref()))
            .await
    }
}
