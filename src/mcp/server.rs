//! The MCP server: its identity, its tool router, and the one path every
//! tool call takes into [`crate::queue`].
//!
//! Each call loads `sparkq.yml` afresh and runs the queue operation on the
//! blocking pool, exactly as a CLI command would; a queue error becomes a
//! tool error (`isError`) whose text is the CLI's message without the
//! `Error: ` prefix. Nothing here decides a queue rule, and nothing here
//! writes to stdout: stdout belongs to the protocol.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};
use serde::Serialize;

use crate::config::Config;
use crate::queue::{Index, Queue};

/// What the client is told once, at `initialize`, about using the tools.
const INSTRUCTIONS: &str = "SparkQ job queue. Worker loop: claim_task, do the task as its payload and the \
stream instructions say, then complete_task with result {\"summary\": ...} or fail_task; always pass \
the claim_token as token. Repeat until claim_task returns null.";

/// The `sparkq mcp` server: the worker and orchestrator operations as tools.
#[derive(Debug, Clone)]
pub(crate) struct SparkqServer {
    config_file: PathBuf,
    default_worker: String,
    /// Fired when the client has closed its end: waits stop at once.
    client_gone: ClientGone,
    /// Queue calls running on the blocking pool (a waiting claim among
    /// them): a call ends only when its blocking work has.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// The spool index every call's queue shares (see `queue::Index`):
    /// started by the first call, so claims and peeks do not read whole
    /// folders. `None` inside until then, or if it cannot be started.
    index: Arc<std::sync::Mutex<Option<Arc<Index>>>>,
    tool_router: ToolRouter<SparkqServer>,
}

impl SparkqServer {
    /// A server for the project whose `sparkq.yml` is `config_file`; claims
    /// without a `worker` are made as `default_worker`.
    pub(crate) fn new(config_file: PathBuf, default_worker: String) -> SparkqServer {
        SparkqServer {
            config_file,
            default_worker,
            client_gone: ClientGone::default(),
            in_flight: Arc::default(),
            index: Arc::default(),
            tool_router: Self::queue_tools() + Self::read_tools() + Self::worker_tools(),
        }
    }

    /// The switch that says the client has gone (its input ended); a
    /// waiting `claim_task` stops when it fires.
    pub(crate) fn client_gone(&self) -> ClientGone {
        self.client_gone.clone()
    }

    /// The worker name used when a claim names none.
    pub(super) fn default_worker(&self) -> &str {
        &self.default_worker
    }

    /// Runs `op` on the project's queue on the blocking pool and turns its
    /// outcome into a tool result: compact JSON, or the error's message.
    /// `op` usually returns a `queue::Error`; any error type prints the same
    /// way, so a wrapper such as the watch module's error works too.
    pub(super) async fn call<T, E, F>(&self, op: F) -> CallToolResult
    where
        T: Serialize + Send + 'static,
        E: std::error::Error,
        F: FnOnce(&Queue) -> Result<T, E> + Send + 'static,
    {
        let config_file = self.config_file.clone();
        let in_flight = InFlight::enter(&self.in_flight);
        let index = self.index.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _in_flight = in_flight;
            let queue = Queue::new(Config::load(&config_file).map_err(|e| message(&e))?);
            let queue = with_shared_index(queue, &index);
            op(&queue).map_err(|e| message(&e))
        })
        .await;
        match outcome {
            Ok(Ok(value)) => json_result(&value),
            Ok(Err(text)) => tool_error(text),
            Err(join) => tool_error(format!("the operation stopped unexpectedly: {join}")),
        }
    }
}

impl SparkqServer {
    /// How many queue calls are still running their blocking work.
    #[cfg(test)]
    pub(crate) fn calls_in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// One queue call counted in [`SparkqServer::in_flight`] until dropped (on
/// the blocking thread, once its work is done or has panicked).
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<std::sync::atomic::AtomicUsize>) -> InFlight {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `queue` using the index in `slot`, started there by the first call (or
/// again when `sparkq.yml` moved the spool). A queue that cannot have one
/// reads its folders, as a one-shot call does.
fn with_shared_index(mut queue: Queue, slot: &std::sync::Mutex<Option<Arc<Index>>>) -> Queue {
    let mut slot = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(index) = slot.as_ref()
        && index.spool_root() == Some(queue.config().spool_path.as_path())
    {
        return queue.with_index(index.clone());
    }
    if queue.start_index().is_ok() {
        *slot = queue.index();
    }
    queue
}

/// The switch that says the client has gone: fired once, by the stdio
/// layer when its input ends; every clone sees it, before or after.
#[derive(Debug, Clone)]
pub(crate) struct ClientGone(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for ClientGone {
    fn default() -> ClientGone {
        ClientGone(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl ClientGone {
    /// Says the client has gone.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }

    /// Returns once the client has gone (at once if it already has).
    pub(crate) async fn wait(&self) {
        let mut gone = self.0.subscribe();
        let _ = gone.wait_for(|gone| *gone).await;
    }
}

/// A successful tool result holding `value` as compact JSON.
pub(super) fn json_result<T: Serialize>(value: &T) -> CallToolResult {
    match serde_json::to_string(value) {
        Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Err(e) => tool_error(format!("could not encode the answer as JSON: {e}")),
    }
}

/// A tool error the agent sees: `isError` with `text` as its only content.
pub(super) fn tool_error(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// An error and its causes as the CLI prints them after `Error: `
/// (`outer: cause: cause`), so both front doors say the same thing.
pub(super) fn message(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SparkqServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sparkq", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
