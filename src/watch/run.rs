//! Hosting watchers in a process (`sparkq watch`, `sparkq run`, and later
//! the server's `run`), and stopping them from another one (`sparkq stop`).
//!
//! Each watcher runs in its own thread of the hosting process and takes its
//! own lock, so `sparkq stop --stream S` can end one of them by removing
//! its lock (the watcher sees that at once and leaves), while `sparkq stop`
//! ends whole processes with SIGTERM, which fires their [`Shutdown`].

use std::path::Path;
use std::time::{Duration, Instant};

use super::lock::holder;
use super::watcher::{StopReason, log, watch_stream};
use super::{Error, Result, Settings, Shutdown};
use crate::model::Stream;
use crate::queue::Queue;
use crate::runtime::{RuntimeDir, pid_alive};

/// Runs one watcher per stream in `streams`, each in a thread, until each
/// has stopped (the shutdown fired, its lock was removed, or its stream
/// ended). Returns each stream's outcome; a watcher that could not start
/// (another watcher has the stream) does not stop the others.
pub(crate) fn run_watchers(
    queue: &Queue,
    streams: &[String],
    settings: &Settings,
    shutdown: &Shutdown,
) -> Vec<(String, Result<()>)> {
    // Watchers live long: their looks use an index of the spool instead of
    // reading whole folders. Without one (no inotify watches left) they
    // read the folders.
    let mut indexed = queue.clone();
    let queue = match indexed.start_index() {
        Ok(()) => &indexed,
        Err(_) => queue,
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .iter()
            .map(|stream| {
                let handle = scope.spawn(move || {
                    let outcome = watch_stream(queue, stream, settings, shutdown);
                    if let Err(e) = &outcome {
                        // Said at once: the other watchers may run for days.
                        log(stream, &format!("stopped: {}", e.to_string().replace('\n', " ")));
                    }
                    outcome
                });
                (stream.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(stream, handle)| {
                let outcome = match handle.join() {
                    Ok(Ok(
                        StopReason::Shutdown
                        | StopReason::LockLost
                        | StopReason::StreamEnded
                        | StopReason::StreamGone,
                    )) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(Error::io(
                        Path::new(&stream),
                        "watch (the watcher thread panicked)",
                        std::io::Error::other("panic"),
                    )),
                };
                (stream, outcome)
            })
            .collect()
    })
}

/// What a starting watcher prints on stdout: the worker's brief, the queue
/// size, and the wait command that goes with this watcher.
pub(crate) fn print_banner(stream: &Stream, queued: usize, pid: u32, runtime: &RuntimeDir) {
    let instructions = if stream.instructions.trim().is_empty() {
        "(none)".to_owned()
    } else {
        stream.instructions.trim_end().to_owned()
    };
    println!(
        "Watching stream '{name}' (session {session}, pid {pid}): {queued} queued.\nInstructions:\n{instructions}\nWorker wait command:\n  {wait}\n",
        name = stream.name,
        session = stream.session,
        wait = wait_command(runtime, stream.name.as_str()),
    );
}

/// The command a worker runs to wait for the watcher of `stream`: set the
/// done flag, block on the FIFO, then claim. Paths are quoted for `sh`.
pub(crate) fn wait_command(runtime: &RuntimeDir, stream: &str) -> String {
    format!(
        "touch {flag} && cat {fifo} >/dev/null && sparkq claim --stream={stream}",
        flag = shell_quote(&runtime.done_flag(stream)),
        fifo = shell_quote(&runtime.fifo(stream)),
    )
}

/// `path` as one `sh` word: bare when it is plain, else in single quotes.
fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@%,".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The pid of the live watcher of `stream`, if one runs: one that holds
/// its lock in this project's runtime folder.
pub(crate) fn watcher_pid(runtime: &RuntimeDir, stream: &str) -> Option<u32> {
    holder(&runtime.lock(stream))
}

/// How stopping one stream's watcher went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopOutcome {
    /// No live watcher; a lock or FIFO a dead one left behind was removed.
    NotRunning,
    /// The watcher (in process `pid`) has stopped.
    Stopped { pid: u32 },
    /// The lock was removed but the watcher in `pid` did not leave within
    /// the wait: it may be an older watcher that does not watch its lock.
    NoAnswer { pid: u32 },
}

/// Stops the watcher of `stream` by removing its lock, which that watcher
/// (and only it: other watchers in the same process go on) takes as its
/// cue to leave; waits up to `wait` for it to remove its FIFO.
pub(crate) fn stop_watcher(runtime: &RuntimeDir, stream: &str, wait: Duration) -> Result<StopOutcome> {
    if !runtime.check()? {
        return Ok(StopOutcome::NotRunning);
    }
    let lock = runtime.lock(stream);
    let fifo = runtime.fifo(stream);
    let Some(pid) = watcher_pid(runtime, stream) else {
        for leftover in [&lock, &fifo] {
            match std::fs::remove_file(leftover) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(leftover, "remove", e));
                }
                _ => {}
            }
        }
        return Ok(StopOutcome::NotRunning);
    };
    std::fs::remove_file(&lock).map_err(|e| Error::io(&lock, "remove", e))?;
    let deadline = Instant::now() + wait;
    while fifo.exists() && pid_alive(pid) {
        if Instant::now() >= deadline {
            return Ok(StopOutcome::NoAnswer { pid });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(StopOutcome::Stopped { pid })
}
