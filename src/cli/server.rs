//! The server half of `sparkq run` ([`BackgroundServer`]), `sparkq reload`
//! and `sparkq scripts list|search`: the commands of the HTTP server and the
//! script index. Each is a thin call into [`crate::http`] or
//! [`crate::scripts`].

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::output::{print, print_json, table, truncate};
use crate::http::{ServerError, ServerOptions, run_server};
use crate::queue::Queue;
use crate::runtime::signal_reload;
use crate::scripts::{Script, ScriptIndex};

/// The server on a thread of its own, so that `run` can host stream
/// watchers (or wait for a signal) on the calling thread.
pub(super) struct BackgroundServer {
    /// `http://127.0.0.1:<port>/`.
    pub(super) url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), ServerError>>,
}

impl BackgroundServer {
    /// Prepares the spool, binds 127.0.0.1:`port` and takes the project's
    /// server lock before returning, so "already running" and "port in use"
    /// are reported here; then serves on its own thread.
    pub(super) fn start(queue: Queue, port: u16) -> anyhow::Result<BackgroundServer> {
        queue.ensure_layout().context("could not prepare the spool")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("could not start the async runtime")?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<String, ServerError>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sparkq-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let server = match run_server(queue, ServerOptions { port }).await {
                        Ok(server) => server,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok(server.url.clone()));
                    server
                        .wait(async {
                            let _ = stopped.await;
                        })
                        .await
                })
            })
            .context("could not start the server thread")?;
        match ready_rx.recv() {
            Ok(Ok(url)) => Ok(BackgroundServer { url, stop, thread }),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err.into())
            }
            Err(_) => match thread.join() {
                Ok(Err(err)) => Err(err.into()),
                _ => anyhow::bail!("the server thread ended before it started serving"),
            },
        }
    }

    /// Stops serving (open pages are disconnected, the lock file removed)
    /// and waits for the thread to finish.
    pub(super) fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(result) => Ok(result?),
            Err(_) => anyhow::bail!("the server thread panicked"),
        }
    }
}

/// Make the running server re-read tools (sparkq.yml) and the script index.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq reload")]
pub(super) struct ReloadArgs {}

pub(super) fn reload(queue: &Queue, _args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let Some(server) = queue.server() else {
        anyhow::bail!(
            "no SparkQ server is running for this project\n  Start it with 'sparkq run'; a new server reads sparkq.yml at start."
        );
    };
    // The server re-reads the file `queue` was just opened from: a broken
    // one never got this far, so it is reported to whoever ran reload, not
    // only in the server's log.
    let config = queue.config();
    let scripts = ScriptIndex::scan(&config.root, &config.script_dirs).all().len();
    signal_reload(server.pid).with_context(|| format!("could not signal the server (pid {})", server.pid))?;
    print(&format!(
        "Reloading the server (pid {}): {} tools, {scripts} scripts.\n",
        server.pid,
        config.tools.len()
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
