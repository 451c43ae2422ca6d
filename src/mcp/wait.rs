//! Waiting for work in `claim_task`: the one place the MCP server blocks.
//!
//! It is the same event-driven wait as `sparkq claim --wait` (the watch
//! module); which task is taken, and that it is taken once, stays the
//! queue's business. It runs on the blocking pool and stops as soon as the
//! client cancels the call, so a cancelled call never takes a task nobody
//! will receive.

use std::time::Duration;

use crate::queue::{Queue, TaskBrief};
use crate::watch::{self, Settings, Shutdown, WaitOutcome};

/// Claims from `stream`, waiting up to `wait` for a task to arrive, or
/// until `shutdown` fires (the client cancelled the call).
pub(super) fn claim_waiting(
    queue: &Queue,
    stream: &str,
    worker: &str,
    wait: Duration,
    shutdown: &Shutdown,
) -> Result<Option<TaskBrief>, watch::Error> {
    if wait.is_zero() {
        return Ok(queue.claim(stream, worker)?);
    }
    let settings = Settings::new(
        queue.runtime_dir(),
        Duration::from_secs(watch::CLAIM_RECHECK_SECS),
    );
    match watch::wait_for_claim(queue, stream, worker, wait, &settings, shutdown)? {
        WaitOutcome::Claimed(claimed) => Ok(Some(*claimed)),
        WaitOutcome::TimedOut | WaitOutcome::Interrupted => Ok(None),
    }
}
