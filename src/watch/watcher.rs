//! The watcher protocol of SPEC 5 for one stream: wake the idle worker
//! through the FIFO when its done flag exists and work is pending, and take
//! back dead claims.
//!
//! The loop looks at the stream after every relevant event and at its one
//! timer (the nearest of: the safety-net re-check, a wake in flight, a
//! dropped file settling, a claim turning dead); it never spins.
//!
//! Invariants:
//! - **One wake per idle signal.** A wake removes the done flag first and
//!   is sent only if this watcher removed it, and the worker sets the flag
//!   again only after its `cat` returned; so one burst of tasks wakes the
//!   worker once, whichever of "flag set" and "work pending" came second.
//! - Only one watcher per stream: see [`super::lock`]. A watcher whose lock
//!   stops naming it ends at its next look.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::events::{Events, RuntimeWatch};
use super::fifo::Fifo;
use super::lock::{Taken, WatcherLock, holder};
use super::run::print_banner;
use super::timers::{earliest, instant_after, instant_of};
use super::{Result, Settings, Shutdown};
use crate::model::{StreamStatus, Timestamp, deadline_after};
use crate::queue::{self, Queue};

/// Why a watcher stopped, for its last log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Shutdown,
    LockLost,
    StreamEnded,
    /// The stream's folder was deleted: there is nothing left to watch, and
    /// recreating its folders would block a new stream of the same name.
    StreamGone,
}

/// Runs the watcher of `stream` until the shutdown fires, its lock is
/// removed, or the stream ends. Prints the stream's instructions and queue
/// size on stdout when it starts, and one line per event on stderr.
pub(crate) fn watch_stream(
    queue: &Queue,
    stream: &str,
    settings: &Settings,
    shutdown: &Shutdown,
) -> Result<StopReason> {
    let info = queue.stream(stream)?;
    if info.status == StreamStatus::Ended {
        return Err(queue::Error::StreamEnded {
            name: info.name.to_string(),
        }
        .into());
    }
    let name = info.name.as_str();
    let runtime = &settings.runtime;
    runtime.create()?;
    let (lock, taken) = WatcherLock::acquire(&runtime.lock(name), name)?;
    if let Taken::FromDead(pid) = taken {
        let who = pid.map_or_else(|| "an unreadable lock".to_owned(), |p| format!("dead pid {p}"));
        log(name, &format!("took over the lock from {who}"));
    }
    let file_name = |p: PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let names = [file_name(runtime.lock(name)), file_name(runtime.done_flag(name))]
        .into_iter()
        .flatten()
        .collect();
    let mut events = Events::watch(
        name,
        queue.stream_paths(&info.name),
        Some(RuntimeWatch {
            dir: runtime.dir(),
            names,
        }),
        settings.ignore_pending_events,
    )?;
    shutdown.listen(events.sender());
    let (fifo, woke) = Fifo::open(&runtime.fifo(name))?;
    if woke {
        log(
            name,
            "woke a worker left waiting on the FIFO by an earlier watcher",
        );
    }
    let mut watcher = Watcher {
        queue,
        name,
        flag: runtime.done_flag(name),
        fifo,
        lock,
        looked: Looked::default(),
    };

    let queued = queue.counts(&info.name)?.queued;
    print_banner(&info, queued, std::process::id(), runtime);
    log(
        name,
        &format!("started (pid {}); {queued} queued", std::process::id()),
    );

    let mut next_recheck = deadline_after(Instant::now(), settings.recheck);
    let mut by_recheck = false;
    let reason = loop {
        if shutdown.is_fired() {
            break StopReason::Shutdown;
        }
        let next = match watcher.look(by_recheck) {
            Ok(Some(reason)) => break reason,
            Ok(None) => watcher.next_look(next_recheck),
            Err(e) => {
                // A watcher runs for days: a failed look (a file being
                // replaced under it, a full disk) is logged and retried.
                log(
                    name,
                    &format!("error, will look again: {}", e.to_string().replace('\n', " ")),
                );
                next_recheck.min(Instant::now() + ERROR_RETRY)
            }
        };
        let seen = events.wait_until(next)?;
        if seen.stop {
            break StopReason::Shutdown;
        }
        let now = Instant::now();
        by_recheck = !seen.pending && !seen.runtime && now >= next_recheck;
        if now >= next_recheck {
            next_recheck = deadline_after(now, settings.recheck);
        }
    };
    let message = match reason {
        StopReason::Shutdown => "stopping (signal or shutdown); running tasks stay running",
        StopReason::LockLost => "stopping: the lock no longer names this watcher (sparkq stop --stream)",
        StopReason::StreamEnded => "stopping: the stream has ended",
        StopReason::StreamGone => "stopping: the stream's folder is gone (deleted by hand?)",
    };
    log(name, message);
    // Keep the FIFO only if another live watcher has taken the stream over.
    let taken_over = !watcher.lock.is_still_ours() && holder(&runtime.lock(name)).is_some();
    watcher.fifo.close(!taken_over);
    drop(watcher.lock);
    Ok(reason)
}

/// How long a watcher waits before looking again after a failed look.
const ERROR_RETRY: Duration = Duration::from_secs(5);

/// One stream's watcher between looks.
struct Watcher<'a> {
    queue: &'a Queue,
    name: &'a str,
    flag: PathBuf,
    fifo: Fifo,
    lock: WatcherLock,
    looked: Looked,
}

/// What the previous look found, so each change is logged once and the
/// timer is set without looking again.
#[derive(Debug, Default)]
struct Looked {
    has_work: bool,
    flag_set: bool,
    next_settle: Option<SystemTime>,
    next_dead: Option<Timestamp>,
}

impl Watcher<'_> {
    /// Looks at the stream once: sweeps dead claims, and wakes the worker
    /// if its flag is set and work is pending. `Some` says why to stop.
    fn look(&mut self, by_recheck: bool) -> Result<Option<StopReason>> {
        let (queue, name) = (self.queue, self.name);
        if !self.lock.is_still_ours() {
            return Ok(Some(StopReason::LockLost));
        }
        // One snapshot: the stream's file read once, one sweep, one scan.
        let look = match queue.look(name) {
            Err(crate::queue::Error::UnknownStream { .. }) => return Ok(Some(StopReason::StreamGone)),
            other => other?,
        };
        if look.stream.status == StreamStatus::Ended {
            return Ok(Some(StopReason::StreamEnded));
        }
        let swept = &look.swept;
        for id in &swept.requeued {
            log(
                name,
                &format!("dead claim {id} (no word for 2x its timeout): back to pending"),
            );
        }
        for id in &swept.failed {
            log(
                name,
                &format!("dead claim {id} had no attempts left: auto-failed"),
            );
        }
        let has_work = look.has_work;
        let flag_set = self.flag.exists();
        // A wake in flight may end here, letting the next one go now.
        self.fifo.advance(flag_set)?;
        if has_work && !self.looked.has_work {
            let how = if by_recheck {
                " (found by the safety-net re-check)"
            } else {
                ""
            };
            log(name, &format!("work pending: {} queued{how}", look.queued));
        }
        if flag_set && !self.looked.flag_set {
            log(name, "worker is idle (done flag set)");
        }
        // Removing the flag first is what makes the wake happen once.
        if flag_set && has_work && self.fifo.is_idle() && std::fs::remove_file(&self.flag).is_ok() {
            self.fifo.wake()?;
            log(name, &format!("woke the worker ({} queued)", look.queued));
        }
        self.looked = Looked {
            has_work,
            flag_set: self.flag.exists(),
            next_settle: look.next_settle,
            next_dead: look.next_dead(),
        };
        Ok(None)
    }

    /// When to look again without an event: the nearest of the re-check,
    /// the wake in flight, a dropped file settling, a claim turning dead.
    fn next_look(&self, next_recheck: Instant) -> Instant {
        earliest([
            Some(next_recheck),
            self.fifo.next_check(),
            self.looked.next_settle.map(instant_of),
            // `is_dead_at` is strict (`>`): look just after the boundary.
            self.looked.next_dead.map(|at| instant_after(at.to_system())),
        ])
        .unwrap_or(next_recheck)
    }
}

/// One event line on stderr: time, stream, what happened.
pub(crate) fn log(stream: &str, message: &str) {
    eprintln!("{} sparkq watch {stream}: {message}", Timestamp::now());
}
