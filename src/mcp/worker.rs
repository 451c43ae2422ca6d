//! The worker's tools: `claim_task`, `complete_task`, `fail_task`,
//! `heartbeat_task`.
//!
//! Thin calls into [`Queue::claim`], [`Queue::complete`], [`Queue::fail`]
//! and [`Queue::heartbeat`]. Reports answer a short receipt rather than the
//! finished task, so a worker does not pay to read its own stdout back.

use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::schemars::JsonSchema;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SparkqServer;
use super::schema::{input_schema, object_from_text};
use super::server::tool_error;
use super::wait::claim_waiting;
use crate::model::{MAX_WAIT_SECS, Task, TaskId, TaskStatus, Timestamp};
use crate::queue::{Queue, Report};
use crate::watch::Shutdown;

/// Parameters of `claim_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct ClaimParams {
    /// Stream to claim from.
    stream: String,
    /// Seconds to wait for a task (default 0).
    #[schemars(range(max = 43200))]
    wait_seconds: Option<u64>,
    /// Worker name (default: host:pid).
    worker: Option<String>,
}

/// Parameters of `complete_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct CompleteParams {
    /// Task id.
    id: String,
    /// JSON object with a non-empty "summary" string.
    #[schemars(with = "rmcp::model::JsonObject")]
    result: Value,
    /// Task stdout.
    stdout: Option<String>,
    /// Task stderr.
    stderr: Option<String>,
    /// From claim_task.
    token: Option<String>,
}

/// Parameters of `fail_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct FailParams {
    /// Task id.
    id: String,
    /// What went wrong and what you tried.
    error: String,
    /// Task stdout.
    stdout: Option<String>,
    /// Task stderr.
    stderr: Option<String>,
    /// From claim_task.
    token: Option<String>,
}

/// Parameters of `heartbeat_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct HeartbeatParams {
    /// Task id.
    id: String,
    /// From claim_task.
    token: Option<String>,
}

/// What a report answers: the task's id and where it now stands.
#[derive(Debug, Serialize)]
struct Receipt {
    id: TaskId,
    status: TaskStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    heartbeat_at: Option<Timestamp>,
}

impl Receipt {
    /// The receipt of a report: id and status.
    fn of(task: Task) -> Receipt {
        Receipt {
            id: task.id,
            status: task.status,
            heartbeat_at: None,
        }
    }

    /// The receipt of a heartbeat, which also says when it was recorded.
    fn of_heartbeat(task: Task) -> Receipt {
        Receipt {
            heartbeat_at: task.heartbeat_at,
            ..Receipt::of(task)
        }
    }
}

#[tool_router(router = worker_tools, vis = "pub(super)")]
impl SparkqServer {
    #[tool(
        description = "Claim a stream's oldest queued task: task, instructions, claim_token; null if none.",
        input_schema = input_schema::<ClaimParams>()
    )]
    async fn claim_task(
        &self,
        Parameters(p): Parameters<ClaimParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let wait_seconds = p.wait_seconds.unwrap_or(0);
        if wait_seconds > MAX_WAIT_SECS {
            return tool_error(format!(
                "wait_seconds is not valid: {wait_seconds} is over the ceiling of {MAX_WAIT_SECS} seconds (12 hours)\n  Wait at most {MAX_WAIT_SECS} seconds, and call claim_task again if nothing came."
            ));
        }
        let worker = p.worker.unwrap_or_else(|| self.default_worker().to_owned());
        let wait = Duration::from_secs(wait_seconds);
        // The client's cancellation, or its going away, fires the wait's
        // shutdown switch; the relay is aborted once the call is answered.
        let shutdown = Shutdown::new();
        let relay = {
            let (shutdown, cancelled, gone) = (shutdown.clone(), context.ct, self.client_gone());
            tokio::spawn(async move {
                tokio::select! {
                    () = cancelled.cancelled() => {}
                    () = gone.wait() => {}
                }
                shutdown.fire();
            })
        };
        let answer = self
            .call(move |queue: &Queue| claim_waiting(queue, &p.stream, &worker, wait, &shutdown))
            .await;
        relay.abort();
        answer
    }

    #[tool(
        description = "Finish a running task with a result; the task moves to done.",
        input_schema = input_schema::<CompleteParams>()
    )]
    async fn complete_task(&self, Parameters(p): Parameters<CompleteParams>) -> CallToolResult {
        self.call(move |queue: &Queue| {
            let report = Report {
                token: p.token,
                stdout: p.stdout,
                stderr: p.stderr,
            };
            queue
                .complete(&p.id, object_from_text(p.result), report)
                .map(Receipt::of)
        })
        .await
    }

    #[tool(
        description = "Finish a running task as failed, with an error.",
        input_schema = input_schema::<FailParams>()
    )]
    async fn fail_task(&self, Parameters(p): Parameters<FailParams>) -> CallToolResult {
        self.call(move |queue: &Queue| {
            let report = Report {
                token: p.token,
                stdout: p.stdout,
                stderr: p.stderr,
            };
            queue.fail(&p.id, &p.error, report).map(Receipt::of)
        })
        .await
    }

    #[tool(
        description = "Mark a running task alive so it is not taken back.",
        input_schema = input_schema::<HeartbeatParams>()
    )]
    async fn heartbeat_task(&self, Parameters(p): Parameters<HeartbeatParams>) -> CallToolResult {
        self.call(move |queue: &Queue| {
            queue
                .heartbeat(&p.id, p.token.as_deref())
                .map(Receipt::of_heartbeat)
        })
        .await
    }
}
