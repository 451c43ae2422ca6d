//! The orchestrator's tools: `enqueue_task` and `requeue_task`.
//!
//! Thin calls into [`Queue::enqueue`] and [`Queue::requeue`]; the answer is
//! a short receipt, not the task, so a large payload is not echoed back.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::schemars::JsonSchema;
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SparkqServer;
use super::schema::{input_schema, object_from_text};
use crate::model::{Name, Task, TaskId, TaskStatus};
use crate::queue::{self, NewTask, Queue, RequeueOptions};

/// Parameters of `enqueue_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct EnqueueParams {
    /// Stream to queue into.
    stream: String,
    /// Registered tool, e.g. run-bash.
    tool_name: String,
    /// The tool's input.
    #[schemars(with = "rmcp::model::JsonObject")]
    payload: Value,
    /// Seconds before a claim goes stale.
    timeout: Option<u64>,
}

/// Parameters of `requeue_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(super) struct RequeueParams {
    /// A finished task's id.
    id: String,
    /// Target stream (default: the task's).
    stream: Option<String>,
    /// New payload (default: the task's).
    #[schemars(with = "Option<rmcp::model::JsonObject>")]
    payload: Option<Value>,
}

/// What `enqueue_task` and `requeue_task` answer.
#[derive(Debug, Serialize)]
struct Receipt {
    id: TaskId,
    stream: Name,
    status: TaskStatus,
    task_class: String,
    timeout: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    requeued_from: Option<String>,
    /// Set when the original had been requeued before, as this task.
    #[serde(skip_serializing_if = "Option::is_none")]
    already_requeued_as: Option<TaskId>,
}

impl Receipt {
    fn of(task: Task, requeued_from: Option<String>) -> Receipt {
        Receipt {
            id: task.id,
            stream: task.stream,
            status: task.status,
            task_class: task.task_class,
            timeout: task.timeout,
            requeued_from,
            already_requeued_as: None,
        }
    }
}

#[tool_router(router = queue_tools, vis = "pub(super)")]
impl SparkqServer {
    #[tool(
        description = "Queue a task in a stream; returns its id.",
        input_schema = input_schema::<EnqueueParams>()
    )]
    async fn enqueue_task(&self, Parameters(p): Parameters<EnqueueParams>) -> CallToolResult {
        self.call(move |queue: &Queue| -> queue::Result<Receipt> {
            let new = NewTask {
                tool_name: p.tool_name,
                payload: object_from_text(p.payload),
                timeout: p.timeout,
                task_class: None,
            };
            Ok(Receipt::of(queue.enqueue(&p.stream, new)?, None))
        })
        .await
    }

    #[tool(
        description = "Queue a finished task again as a new task.",
        input_schema = input_schema::<RequeueParams>()
    )]
    async fn requeue_task(&self, Parameters(p): Parameters<RequeueParams>) -> CallToolResult {
        self.call(move |queue: &Queue| -> queue::Result<Receipt> {
            let options = RequeueOptions {
                stream: p.stream,
                payload: p.payload.map(object_from_text),
            };
            let requeued = queue.requeue(&p.id, &options)?;
            let mut receipt = Receipt::of(requeued.task, Some(p.id));
            receipt.already_requeued_as = requeued.already_requeued_as;
            Ok(receipt)
        })
        .await
    }
}
