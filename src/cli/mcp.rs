//! `sparkq mcp` (serve the queue as MCP tools over stdio) and `sparkq
//! install-claude` (write the Claude Code worker slash command).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::output::print;
use super::project::default_worker;
use crate::config::{Config, find_config_file};
use crate::mcp::{CLAUDE_WORKER_COMMAND, SparkqServer};
use crate::queue::write_atomic;

/// Where the worker slash command goes, under the project folder.
pub(super) const CLAUDE_COMMAND_PATH: &str = ".claude/commands/sparkq-worker.md";

/// Serve the queue to agents as MCP tools over stdio (for Claude Code, Codex CLI ...).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  claude mcp add sparkq -- sparkq mcp\n  sparkq mcp --config ~/work/app/sparkq.yml\n\nStdout carries only the MCP protocol; messages go to stderr."
)]
pub(super) struct McpArgs {}

pub(super) fn mcp(explicit: Option<&Path>, _args: McpArgs) -> anyhow::Result<ExitCode> {
    let config_file = find_config_file(explicit)?;
    // Load once now so a broken sparkq.yml stops the server at start, where
    // the client shows it; every call then reloads it, as a CLI command would.
    let config = Config::load(&config_file)?;
    // Not eprintln!: a client that closed our stderr must not stop the server.
    let _ = writeln!(
        std::io::stderr(),
        "sparkq mcp: serving {} over stdio",
        config.path.display()
    );
    let max_line = crate::mcp::max_line_bytes(&config.limits);
    let server = SparkqServer::new(config.path, default_worker());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let served = runtime.block_on(crate::mcp::serve_stdio(server, max_line));
    // A claim still waiting when the client left must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served.context("the MCP connection failed")?;
    Ok(ExitCode::SUCCESS)
}

/// Write the Claude Code slash command /sparkq-worker into this project.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  sparkq install-claude\n  # then, in Claude Code:  /sparkq-worker auth\n\nWrites .claude/commands/sparkq-worker.md next to sparkq.yml."
)]
pub(super) struct InstallClaudeArgs {}

pub(super) fn install_claude(explicit: Option<&Path>, _args: InstallClaudeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::discover(explicit)?;
    print(&format!("{}\n", write_claude_command(&config.root)?))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes (or refreshes) the worker slash command under `root`; returns a
/// line saying what it did, in `setup`'s style.
pub(super) fn write_claude_command(root: &Path) -> anyhow::Result<String> {
    let path: PathBuf = root.join(CLAUDE_COMMAND_PATH);
    let verb = match super::input::read_prefix(&path, CLAUDE_WORKER_COMMAND.len()) {
        Ok(text) if text == CLAUDE_WORKER_COMMAND => return Ok(format!("kept      {}", path.display())),
        Ok(_) => "updated  ",
        Err(_) => "created  ",
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    write_atomic(&path, CLAUDE_WORKER_COMMAND.as_bytes(), true)?;
    Ok(format!("{verb} {}", path.display()))
}
