//! `sparkq status` (server, active streams with counts, running watchers)
//! and `sparkq completions`.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::output::{ago, print, print_json, table};
use crate::queue::{Queue, StreamInfo, SyncReport};
use crate::runtime::PidFile;
use crate::watch;

/// Is the server running; active sessions and streams with their counts; running watchers.
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
    /// The live watchers of this project's streams, by stream name.
    watchers: Vec<Watcher>,
    /// The last `sparkq sync` (by hand or in the background) and how it went.
    last_sync: Option<SyncReport>,
}

/// A running watcher: the stream it watches and the process hosting it.
#[derive(Debug, Serialize)]
struct Watcher {
    stream: String,
    pid: u32,
}

pub(super) fn status(queue: &Queue, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let now = queue.status()?;
    let runtime = queue.runtime_dir();
    let runtime_ok = runtime.check()?;
    let watchers: Vec<Watcher> = queue
        .all_streams()?
        .into_iter()
        .filter(|_| runtime_ok)
        .filter_map(|s| {
            let pid = watch::watcher_pid(&runtime, s.name.as_str())?;
            Some(Watcher {
                stream: s.name.to_string(),
                pid,
            })
        })
        .collect();
    let status = Status {
        project: now.project,
        server: now.server,
        active_sessions: now.sessions.iter().map(|s| s.name.to_string()).collect(),
        streams: now.streams,
        watchers,
        last_sync: now.last_sync,
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
    if status.watchers.is_empty() {
        out.push_str(&format!(
            "\nNo watchers running (locks in {}).\n",
            runtime.dir().display()
        ));
    } else {
        let rows: Vec<Vec<String>> = status
            .watchers
            .iter()
            .map(|w| vec![w.stream.clone(), w.pid.to_string()])
            .collect();
        out.push_str("\nWatchers:\n");
        out.push_str(&table(&["STREAM", "PID"], &rows));
    }
    if let Some(sync) = &status.last_sync {
        let when = sync.started_at.map(ago).unwrap_or_default();
        match &sync.error {
            None => out.push_str(&format!(
                "\nLast sync: {when}, ok. {}\n",
                super::sync::describe(sync)
            )),
            Some(e) => out.push_str(&format!("\nLast sync: {when}, FAILED: {e}\n")),
        }
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
    let mut cmd = super::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sparkq", &mut out);
    print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
