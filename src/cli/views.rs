//! `sparkq status` and `sparkq completions`.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use serde::Serialize;

use super::output::{print, print_json, table};
use super::project::pid_alive;
use crate::model::SessionStatus;
use crate::queue::{Queue, StreamInfo};
use crate::spool::PidFile;

/// Is the server running; active sessions and streams with their counts.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq status --json")]
pub(super) struct StatusArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Status {
    project: String,
    server: Option<PidFile>,
    active_sessions: Vec<String>,
    streams: Vec<StreamInfo>,
}

pub(super) fn status(queue: &Queue, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let server = PidFile::read(&queue.spool().server_pid_path()).filter(|p| pid_alive(p.pid));
    let active_sessions: Vec<String> = queue
        .list_sessions()?
        .into_iter()
        .filter(|s| s.status == SessionStatus::Active)
        .map(|s| s.name.to_string())
        .collect();
    let streams: Vec<StreamInfo> = queue
        .list_streams(None)?
        .into_iter()
        .filter(|s| active_sessions.iter().any(|a| a == s.stream.session.as_str()))
        .collect();
    let status = Status {
        project: queue.config().project_name.clone(),
        server,
        active_sessions,
        streams,
    };
    if args.json {
        print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "Project: {} ({})\n",
        status.project,
        queue.config().path.display()
    );
    match &status.server {
        Some(s) => out.push_str(&format!(
            "Server:  running, pid {}, {}\n",
            s.pid,
            s.url.as_deref().unwrap_or("(no url)")
        )),
        None => out.push_str("Server:  not running (start it with 'sparkq run')\n"),
    }
    if status.streams.is_empty() {
        out.push_str("No active streams.\n");
    } else {
        let rows: Vec<Vec<String>> = status
            .streams
            .iter()
            .map(|s| {
                let c = s.counts;
                vec![
                    s.stream.name.to_string(),
                    s.stream.session.to_string(),
                    c.queued.to_string(),
                    c.running.to_string(),
                    c.stale.to_string(),
                    c.succeeded.to_string(),
                    c.failed.to_string(),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "STREAM", "SESSION", "QUEUED", "RUNNING", "STALE", "DONE", "FAILED",
            ],
            &rows,
        ));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Print shell completions.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  sparkq completions bash > ~/.local/share/bash-completion/completions/sparkq"
)]
pub(super) struct CompletionsArgs {
    shell: clap_complete::Shell,
}

pub(super) fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sparkq", &mut out);
    print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
