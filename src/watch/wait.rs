//! `sparkq claim --wait`: claim the oldest pending task, waiting for one to
//! arrive if there is none.
//!
//! Invariant: no arrival goes unseen. The folder is watched *before* the
//! first look, so a task that lands between a look and the wait that
//! follows it has already queued an event; events that are lost anyway
//! (an overflowed kernel queue, a folder swapped by a checkout) are caught
//! by the re-check timer.

use std::time::{Duration, Instant};

use super::events::Events;
use super::timers::{earliest, instant_of};
use super::{Result, Settings, Shutdown};
use crate::model::deadline_after;
use crate::queue::{Queue, TaskBrief};

/// How a wait for a claim ended.
#[derive(Debug)]
pub(crate) enum WaitOutcome {
    /// A task was claimed.
    Claimed(Box<TaskBrief>),
    /// The wait ran out with nothing pending.
    TimedOut,
    /// The shutdown switch fired first (Ctrl-C); nothing was claimed.
    Interrupted,
}

/// Claims the oldest pending task of `stream` for `worker`, waiting up to
/// `wait` for one to arrive.
///
/// A shutdown that fires while a claim is being made lets that claim finish
/// and returns the task, so a task is never left claimed by nobody; one
/// that fires while waiting returns [`WaitOutcome::Interrupted`] with
/// nothing claimed.
pub(crate) fn wait_for_claim(
    queue: &Queue,
    stream: &str,
    worker: &str,
    wait: Duration,
    settings: &Settings,
    shutdown: &Shutdown,
) -> Result<WaitOutcome> {
    let mut queue = std::borrow::Cow::Borrowed(queue);
    let mut tried_index = false;
    let name = queue.stream(stream)?.name;
    let mut events = Events::watch(
        name.as_str(),
        queue.stream_paths(&name),
        None,
        settings.ignore_pending_events,
    )?;
    shutdown.listen(events.sender());
    let end = deadline_after(Instant::now(), wait);
    loop {
        if shutdown.is_fired() {
            return Ok(WaitOutcome::Interrupted);
        }
        if let Some(claimed) = queue.claim(stream, worker)? {
            return Ok(WaitOutcome::Claimed(Box::new(claimed)));
        }
        let now = Instant::now();
        if now >= end {
            return Ok(WaitOutcome::TimedOut);
        }
        // Nothing yet: this call will wait and look again, so it keeps an
        // index from here on (a first claim that succeeds never pays for
        // one). Without one (no inotify watches left) it reads the folders.
        if !tried_index && queue.index().is_none() {
            tried_index = true;
            let mut own = queue.as_ref().clone();
            if own.start_index().is_ok() {
                queue = std::borrow::Cow::Owned(own);
            }
        }
        // Built now, while nothing waits on it: the claim made on a wake
        // then only looks at what changed since (no read of every claim).
        queue.prepare_index(&name);
        let next = earliest([
            Some(end),
            Some(deadline_after(now, settings.recheck)),
            queue.next_settle(&name).ok().flatten().map(instant_of),
        ]);
        let seen = events.wait_until(next.unwrap_or(end))?;
        if seen.stop {
            return Ok(WaitOutcome::Interrupted);
        }
    }
}
