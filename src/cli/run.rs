//! `sparkq run`: the server and the stream watchers of a project, in one
//! process, until Ctrl-C, SIGTERM or `sparkq stop`.
//!
//! The server serves the web UI and API (and sweeps dead claims); each
//! watcher wakes the workers of one stream. Either half can be left out:
//! `--no-server` for watchers alone, and off a terminal without
//! `--session`/`--stream`, the server alone. A watcher that cannot start
//! (its stream is watched elsewhere) or stops never takes the server or
//! the other watchers down with it.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use super::server::BackgroundServer;
use super::watch::{chosen_streams, run_watchers};
use crate::queue::Queue;
use crate::watch::{self, Shutdown};

/// Start the web UI and API server and the watchers of the chosen streams.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq run --session api-v2     # server + a watcher for every active stream of api-v2\n  sparkq run --stream auth        # server + the watcher of auth\n  sparkq run                      # on a terminal: asks which session and stream\n  sparkq run --port 8421          # off a terminal, no streams: the server alone\n  sparkq run --session api-v2 --no-server\n\nStop with Ctrl-C, 'sparkq stop', or 'sparkq stop --stream auth' for one watcher."
)]
pub(super) struct RunArgs {
    /// Watch every active stream of this session.
    #[arg(long)]
    session: Option<String>,
    /// Watch this stream (repeatable).
    #[arg(long)]
    stream: Vec<String>,
    /// Serve on this port instead of sparkq.yml's `server: port`.
    #[arg(long, conflicts_with = "no_server", value_parser = super::numbers::port)]
    port: Option<u16>,
    /// Run the watchers only, without the web UI and API server.
    #[arg(long)]
    no_server: bool,
    /// Safety-net re-check interval of the watchers, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = watch::WATCHER_RECHECK_SECS,
        value_parser = super::numbers::recheck_secs
    )]
    recheck: u64,
}

pub(super) fn run(queue: Queue, args: RunArgs) -> anyhow::Result<ExitCode> {
    let choose = args.session.is_some() || !args.stream.is_empty() || std::io::stdin().is_terminal();
    let streams = if choose || args.no_server {
        chosen_streams(&queue, args.session.as_deref(), args.stream)?
    } else {
        Vec::new()
    };
    for stream in &streams {
        queue.stream(stream)?;
    }
    if streams.is_empty() && args.no_server {
        bail!("nothing to run: --no-server needs --session S or --stream S");
    }
    if !streams.is_empty() {
        // Refused here, before anything starts, if it is not the user's own.
        queue.runtime_dir().create()?;
    }
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let server = if args.no_server {
        None
    } else {
        let port = args.port.unwrap_or(queue.config().port);
        let server = BackgroundServer::start(queue.clone(), port)?;
        eprintln!("SparkQ serving {} (pid {}).", server.url, std::process::id());
        Some(server)
    };
    let syncing = super::sync::start_background(&queue, &shutdown);
    let code = if streams.is_empty() {
        eprintln!(
            "No streams watched (name them with --session S or --stream S). Stop with Ctrl-C or 'sparkq stop'."
        );
        shutdown.wait();
        ExitCode::SUCCESS
    } else {
        // Each watcher that cannot start (or stops) says so at once; the
        // others go on, and so does the server until it is told to stop.
        let code = run_watchers(&queue, &streams, args.recheck, &shutdown)?;
        let going_on = match (server.is_some(), syncing.is_some()) {
            (true, true) => Some("the server and the background sync go on"),
            (true, false) => Some("the server goes on"),
            (false, true) => Some("the background sync goes on"),
            (false, false) => None,
        };
        if let Some(going_on) = going_on.filter(|_| !shutdown.is_fired()) {
            eprintln!("No watcher runs any more; {going_on}. Stop with Ctrl-C or 'sparkq stop'.");
            shutdown.wait();
        }
        code
    };
    if let Some(syncing) = syncing {
        shutdown.fire();
        let _ = syncing.join();
    }
    if let Some(server) = server {
        server.stop()?;
        eprintln!("SparkQ server stopped.");
    }
    Ok(code)
}
