//! `sparkq watch`, `sparkq run`, `sparkq stop`, and the waiting half of
//! `sparkq claim --wait`: thin calls into [`crate::watch`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::output::{print, print_json};
use crate::model::StreamStatus;
use crate::queue::Queue;
use crate::runtime::{self, PidFile, RuntimeDir};
use crate::watch::{self, Settings, Shutdown, StopOutcome, WaitOutcome};

/// Set to 1 to drop every event about `pending/`, so only the safety-net
/// re-check finds work: for testing that net, never useful otherwise.
const IGNORE_EVENTS_ENV: &str = "SPARKQ_TEST_IGNORE_PENDING_EVENTS";

/// How long `stop` waits for a watcher or server to leave.
pub(super) const STOP_WAIT_SECS: u64 = 10;

/// The exit code of a command interrupted by Ctrl-C (128 + SIGINT).
const INTERRUPTED: u8 = 130;

fn settings(queue: &Queue, recheck_secs: u64) -> Settings {
    let mut settings = Settings::new(queue.runtime_dir(), Duration::from_secs(recheck_secs.max(1)));
    settings.ignore_pending_events = std::env::var(IGNORE_EVENTS_ENV).is_ok_and(|v| v == "1");
    settings
}

/// `claim --wait SECONDS`: blocks on file-system events until a task is
/// pending (prints it) or the wait ends (prints nothing); exit 0 either way,
/// 130 on Ctrl-C with nothing claimed.
pub(super) fn claim_wait(queue: &Queue, stream: &str, worker: &str, secs: u64) -> anyhow::Result<ExitCode> {
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let settings = settings(queue, watch::CLAIM_RECHECK_SECS);
    match watch::wait_for_claim(
        queue,
        stream,
        worker,
        Duration::from_secs(secs),
        &settings,
        &shutdown,
    )? {
        WaitOutcome::Claimed(claimed) => print_json(&claimed)?,
        WaitOutcome::TimedOut => {
            eprintln!("No queued task in stream {stream}: none arrived within {secs} s.")
        }
        WaitOutcome::Interrupted => return Ok(ExitCode::from(INTERRUPTED)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Run the watcher of one stream in the foreground: wake its idle worker when work arrives.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq watch auth\n  sparkq watch auth --wait-command   # print the worker's wait command and exit\n\nThe watcher prints the worker's wait command when it starts, with the real\npaths of the done flag and FIFO in this project's private runtime folder:\n  touch <done flag> && cat <fifo> >/dev/null && sparkq claim --stream=auth\n\nWhen the done flag exists and a task is pending, the watcher removes the flag\nand writes \"wake\" to the FIFO. It also takes back dead claims. It stops on\nSIGTERM/SIGINT or 'sparkq stop --stream auth'. The runtime folder is\n$XDG_RUNTIME_DIR/sparkq/<project>-<hash>/ (else /tmp/sparkq-<uid>/...);\n$SPARKQ_RUNTIME_DIR replaces the folder that holds it."
)]
pub(super) struct WatchArgs {
    /// The stream to watch.
    stream: String,
    /// Print the worker's wait command for STREAM (with this project's
    /// done-flag and FIFO paths) and exit, without watching.
    #[arg(long)]
    wait_command: bool,
    /// Safety-net re-check interval in seconds, for events the system missed.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = watch::WATCHER_RECHECK_SECS,
        value_parser = super::numbers::recheck_secs
    )]
    recheck: u64,
}

pub(super) fn watch(queue: &Queue, args: WatchArgs) -> anyhow::Result<ExitCode> {
    if args.wait_command {
        let name = queue.stream(&args.stream)?.name;
        print(&format!(
            "{}\n",
            watch::wait_command(&queue.runtime_dir(), name.as_str())
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    host_watchers(queue, vec![args.stream], args.recheck)
}

/// The streams `run` watches: those named, plus every active stream of
/// `session`; with neither, asks on the terminal. (The server's `run` can
/// share this, then host the watchers with [`watch::run_watchers`].)
pub(super) fn chosen_streams(
    queue: &Queue,
    session: Option<&str>,
    mut streams: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    if let Some(session) = session {
        streams.extend(session_streams(queue, session)?);
    } else if streams.is_empty() {
        streams = super::choose::ask_streams(queue)?;
    }
    streams.sort();
    streams.dedup();
    Ok(streams)
}

/// The active streams of `session`.
fn session_streams(queue: &Queue, session: &str) -> anyhow::Result<Vec<String>> {
    let streams: Vec<String> = queue
        .list_streams(Some(session))?
        .into_iter()
        .filter(|s| s.stream.status == StreamStatus::Active)
        .map(|s| s.stream.name.to_string())
        .collect();
    if streams.is_empty() {
        bail!(
            "session '{session}' has no active streams\n  Create one with 'sparkq stream create NAME --session {session}'."
        );
    }
    Ok(streams)
}

/// Runs the watchers of `streams` in this process until they stop.
fn host_watchers(queue: &Queue, streams: Vec<String>, recheck: u64) -> anyhow::Result<ExitCode> {
    for stream in &streams {
        queue.stream(stream)?;
    }
    queue.runtime_dir().create()?;
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    run_watchers(queue, &streams, recheck, &shutdown)
}

/// Runs the watchers of `streams` until `shutdown` fires (or they all stop).
pub(super) fn run_watchers(
    queue: &Queue,
    streams: &[String],
    recheck: u64,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for (stream, outcome) in watch::run_watchers(queue, streams, &settings(queue, recheck), shutdown) {
        if let Err(e) = outcome {
            eprintln!("Error: watcher of stream '{stream}': {e}");
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Stop the watchers (and server) of this project; tasks stay as they are.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq stop                 # every watcher and the server of this project\n  sparkq stop --stream auth   # only the watcher of stream auth\n\nRunning tasks stay running, queued tasks stay queued."
)]
pub(super) struct StopArgs {
    /// Stop only this stream's watcher.
    #[arg(long)]
    stream: Option<String>,
}

pub(super) fn stop(queue: &Queue, args: StopArgs) -> anyhow::Result<ExitCode> {
    let runtime = queue.runtime_dir();
    let wait = Duration::from_secs(STOP_WAIT_SECS);
    if let Some(stream) = args.stream {
        let name = queue.stream(&stream)?.name;
        return match watch::stop_watcher(&runtime, name.as_str(), wait)? {
            StopOutcome::NotRunning => {
                print(&format!("no watcher runs for stream '{name}'\n"))?;
                Ok(ExitCode::SUCCESS)
            }
            StopOutcome::Stopped { pid } => {
                print(&format!("stopped the watcher of stream '{name}' (pid {pid})\n"))?;
                Ok(ExitCode::SUCCESS)
            }
            StopOutcome::NoAnswer { pid } => bail!(
                "the watcher of stream '{name}' (pid {pid}) did not stop within {STOP_WAIT_SECS} s\n  It may be an older watcher that ignores its lock; stop it with 'kill {pid}'."
            ),
        };
    }
    let streams: Vec<String> = queue
        .all_streams()?
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    let running = running_processes(&runtime, queue.server(), &streams)?;
    if running.is_empty() {
        print("nothing runs for this project\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let (out, stuck) = stop_processes(running);
    print(&out)?;
    if !stuck.is_empty() {
        bail!(
            "{} did not stop within {STOP_WAIT_SECS} s\n  Stop it with 'kill PID'.",
            stuck.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The live processes SparkQ runs for a project: the watchers of `streams`
/// (holding their locks in the project's `runtime` folder) and its
/// `server`, each process once, with what it hosts (`sparkq run` hosts
/// both). Nothing of another project is found here: its locks live in
/// its own folder and spool.
pub(super) fn running_processes(
    runtime: &RuntimeDir,
    server: Option<PidFile>,
    streams: &[String],
) -> anyhow::Result<Vec<(u32, String)>> {
    let mut pids: Vec<(u32, String)> = Vec::new();
    let mut add = |pid: u32, what: String| match pids.iter_mut().find(|(p, _)| *p == pid) {
        Some((_, hosted)) => hosted.push_str(&format!(", {what}")),
        None => pids.push((pid, what)),
    };
    if runtime.check()? {
        for stream in streams {
            if let Some(pid) = watch::watcher_pid(runtime, stream) {
                add(pid, format!("watcher of {stream}"));
            }
        }
    }
    if let Some(server) = server {
        add(server.pid, "server".to_owned());
    }
    Ok(pids)
}

/// Stops each process with SIGTERM, waiting for it to leave; returns one
/// `stopped ...` line per process that left and the ones that did not.
pub(super) fn stop_processes(running: Vec<(u32, String)>) -> (String, Vec<String>) {
    let wait = Duration::from_secs(STOP_WAIT_SECS);
    let mut out = String::new();
    let mut stuck = Vec::new();
    for (pid, what) in running {
        if runtime::terminate(pid, wait) {
            out.push_str(&format!("stopped {what} (pid {pid})\n"));
        } else {
            stuck.push(format!("{what} (pid {pid})"));
        }
    }
    (out, stuck)
}
