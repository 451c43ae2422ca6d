//! `sparkq run` (the server half), `sparkq stop`, `sparkq reload` and
//! `sparkq scripts list|search`: the commands of the HTTP server and the
//! script index. Each is a thin call into [`crate::http`] or
//! [`crate::scripts`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::output::{print, print_json, table, truncate};
use crate::http::{ServerOptions, post_local_json, run_server, stop_server};
use crate::queue::Queue;
use crate::scripts::{Script, ScriptIndex};
use crate::spool::PidFile;

/// How long `sparkq stop` waits for the server to exit.
const STOP_WAIT_SECS: u64 = 10;

/// Start the web UI and JSON API on http://127.0.0.1:<port>/.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq run\n  sparkq run --port 8421")]
pub(super) struct RunArgs {
    /// Listen on this port instead of sparkq.yml's `server: port`.
    #[arg(long)]
    port: Option<u16>,
}

pub(super) fn run(queue: Queue, args: RunArgs) -> anyhow::Result<ExitCode> {
    let port = args.port.unwrap_or(queue.config().port);
    queue
        .spool()
        .ensure_layout()
        .context("could not prepare the spool")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let server = run_server(queue, ServerOptions { port }).await?;
        eprintln!(
            "SparkQ serving {} (pid {}); stop with Ctrl-C or 'sparkq stop'.",
            server.url,
            std::process::id()
        );
        server.wait(shutdown_signal()).await?;
        eprintln!("SparkQ server stopped.");
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on Ctrl-C or SIGTERM (what `sparkq stop` sends).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Stop the project's server (running tasks stay running, queued stay queued).
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq stop")]
pub(super) struct StopArgs {}

pub(super) fn stop(queue: &Queue, _args: StopArgs) -> anyhow::Result<ExitCode> {
    match stop_server(queue, Duration::from_secs(STOP_WAIT_SECS)).context("could not stop the server")? {
        Some(pid) => print(&format!("Stopped the SparkQ server (pid {pid}).\n"))?,
        None => print("No SparkQ server is running for this project.\n")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Make the running server re-read tools (sparkq.yml) and the script index.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq reload")]
pub(super) struct ReloadArgs {}

pub(super) fn reload(queue: &Queue, _args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let Some(server) = PidFile::read(&queue.spool().server_pid_path()) else {
        anyhow::bail!(
            "no SparkQ server is running for this project\n  Start it with 'sparkq run'; a new server reads sparkq.yml at start."
        );
    };
    let port = server
        .url
        .as_deref()
        .and_then(|url| url.trim_end_matches('/').rsplit(':').next())
        .and_then(|port| port.parse::<u16>().ok())
        .context("the server lock file names no url")?;
    let (status, body) = post_local_json(port, "/api/reload", "{}")
        .with_context(|| format!("could not reach the server on port {port} (pid {})", server.pid))?;
    if status != 200 {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        anyhow::bail!("{message}");
    }
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    print(&format!(
        "Reloaded: {} tools, {} scripts.\n",
        reply["tools"].as_u64().unwrap_or(0),
        reply["scripts"].as_u64().unwrap_or(0)
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The script index: scripts under `script_dirs` with their header metadata.
#[derive(Debug, Subcommand)]
pub(super) enum ScriptsCommand {
    /// List every indexed script.
    #[command(after_help = "Example:\n  sparkq scripts list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Scripts whose path, name, description or tags contain TERM.
    #[command(after_help = "Example:\n  sparkq scripts search deploy")]
    Search {
        term: String,
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn scripts(queue: &Queue, command: ScriptsCommand) -> anyhow::Result<ExitCode> {
    let config = queue.config();
    let index = ScriptIndex::scan(&config.root, &config.script_dirs);
    let (found, json): (Vec<&Script>, bool) = match &command {
        ScriptsCommand::List { json } => (index.all().iter().collect(), *json),
        ScriptsCommand::Search { term, json } => (index.search(term), *json),
    };
    if json {
        print_json(&found)?;
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        let dirs: Vec<String> = config
            .script_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        eprintln!("No scripts found (searched: {}).", dirs.join(", "));
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|s| {
            vec![
                s.path.clone(),
                s.name.clone(),
                truncate(s.description.as_deref().unwrap_or(""), 60),
                s.tags.join(","),
                s.timeout.map(|t| format!("{t}s")).unwrap_or_default(),
            ]
        })
        .collect();
    print(&table(&["PATH", "NAME", "DESCRIPTION", "TAGS", "TIMEOUT"], &rows))?;
    Ok(ExitCode::SUCCESS)
}
