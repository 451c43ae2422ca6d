//! `sparkq mcp`: the worker and orchestrator operations as MCP tools over
//! stdio, so agents call them without shell quoting.
//!
//! Every tool is a thin call into [`crate::queue::Queue`], the same code the
//! CLI calls, so results and error messages match the CLI's. The server is
//! [`SparkqServer`]; its tools live one group per file (`orchestrate`,
//! `read`, `worker`). Tool and parameter descriptions are kept short on
//! purpose: an agent pays for every byte of `tools/list` on every turn.
//! Stdout carries the protocol only; anything else goes to stderr.

mod orchestrate;
mod read;
mod schema;
mod server;
mod stdio;
mod wait;
mod worker;

pub(crate) use server::SparkqServer;
pub(crate) use stdio::max_line_bytes;

/// The Claude Code slash command `/sparkq-worker <stream>`, installed as
/// `.claude/commands/sparkq-worker.md`.
pub(crate) const CLAUDE_WORKER_COMMAND: &str = include_str!("sparkq-worker.md");

/// Serves `server` over this process's stdin and stdout until the client
/// disconnects, answering every line it sends, even one that is not a
/// message (see the `stdio` module); lines are read up to `max_line` bytes.
pub(crate) async fn serve_stdio(server: SparkqServer, max_line: usize) -> Result<(), rmcp::RmcpError> {
    stdio::serve_lines(server, tokio::io::stdin(), tokio::io::stdout(), max_line).await
}

#[cfg(test)]
mod tests;
