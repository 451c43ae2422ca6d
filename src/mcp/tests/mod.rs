//! In-process tests of every tool: a real rmcp client talks to the server
//! over an in-memory duplex pipe, on a temp project.

mod bounds;
mod errors;
mod tools;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

use super::SparkqServer;
use crate::config::{Config, SetupAnswers, render_config};
use crate::queue::Queue;

/// A temp project with stream `auth` (session `s1`), served over MCP.
struct Harness {
    _dir: tempfile::TempDir,
    queue: Queue,
    /// A clone of the server being served, to look at its calls.
    server: SparkqServer,
    client: RunningService<RoleClient, ()>,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparkq.yml");
        std::fs::write(&path, render_config(&SetupAnswers::defaults("t"))).unwrap();
        let config = Config::load(&path).unwrap();
        let queue = Queue::new(config.clone());
        queue.ensure_layout().unwrap();
        queue.create_session("s1", None).unwrap();
        queue.create_stream("auth", "s1", "Do the thing.").unwrap();
        let server = SparkqServer::new(config.path, "mcp-test".to_owned());
        let served = server.clone();
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let client = ().serve(client_io).await.unwrap();
        Harness {
            _dir: dir,
            queue,
            server: served,
            client,
        }
    }

    /// Waits until `done` holds, checking every few milliseconds; panics
    /// naming `what` if it does not within 10 s.
    async fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Sets time `field` of task `id`, in `folder` of stream `auth`, to
    /// `at`, rewriting its file as another process would: for tests that
    /// need a task last touched long ago without waiting.
    fn set_time(&self, folder: &str, id: &crate::model::TaskId, field: &str, at: std::time::SystemTime) {
        let path = self
            .queue
            .spool_root()
            .join("streams/auth")
            .join(folder)
            .join(id.file_name());
        let mut task: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        task[field] = serde_json::json!(crate::model::Timestamp::from_system(at).to_string());
        std::fs::write(&path, serde_json::to_vec_pretty(&task).unwrap()).unwrap();
    }

    /// Calls `tool` with `args` (a JSON object).
    async fn call(&self, tool: &'static str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object");
        };
        let params = CallToolRequestParams::new(tool).with_arguments(args);
        self.client.call_tool(params).await.unwrap()
    }

    /// Calls `tool`, expects success, and parses the answer as JSON.
    async fn ok(&self, tool: &'static str, args: Value) -> Value {
        let result = self.call(tool, args).await;
        let text = text_of(&result);
        assert_eq!(result.is_error, Some(false), "{tool} failed: {text}");
        assert!(!text.contains('\n'), "{tool} answer is not compact: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Calls `tool`, expects a tool error, and returns its text.
    async fn err(&self, tool: &'static str, args: Value) -> String {
        let result = self.call(tool, args).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should fail: {}",
            text_of(&result)
        );
        text_of(&result)
    }

    /// Enqueues a run-bash task through the queue and returns its id.
    fn enqueue(&self) -> String {
        let new = crate::queue::NewTask {
            tool_name: "run-bash".to_owned(),
            payload: serde_json::json!({"script_path": "scripts/x.sh"}),
            timeout: None,
            task_class: None,
        };
        self.queue.enqueue("auth", new).unwrap().id.to_string()
    }
}

/// The one text block of a tool result.
fn text_of(result: &CallToolResult) -> String {
    assert_eq!(result.content.len(), 1, "{result:?}");
    result.content[0].as_text().expect("text content").text.clone()
}
