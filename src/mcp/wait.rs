//! Waiting for work in `claim_task`: the one place the MCP server blocks.
//!
//! It only repeats [`Queue::claim`]; which task is taken, and that it is
//! taken once, stays the queue's business. It must run on the blocking
//! pool and must stop as soon as the client cancels the call.

use std::time::{Duration, Instant};

use crate::queue::{self, Claimed, Queue};

/// How long to sleep between claim attempts while waiting.
pub(super) const CLAIM_POLL_INTERVAL_MS: u64 = 200;

/// Claims from `stream`, trying again every [`CLAIM_POLL_INTERVAL_MS`]
/// until a task is claimed, `wait` has passed, or `is_cancelled` says the
/// client gave up (it is checked before every attempt, so a cancelled call
/// never takes a task nobody will receive).
///
/// A stop-gap that polls: at merge, the watch module's event-driven wait
/// (the one behind `claim --wait`) replaces this function, i.e.
/// `watch::wait_for_claim(queue, stream, worker, wait, &settings, &shutdown)`
/// with a `Shutdown` fired when the request is cancelled, and
/// `WaitOutcome::Claimed(c)` as `Some(*c)`, anything else as `None`. It
/// blocks, so it runs on the blocking pool, never on the async runtime.
pub(super) fn claim_waiting(
    queue: &Queue,
    stream: &str,
    worker: &str,
    wait: Duration,
    is_cancelled: impl Fn() -> bool,
) -> queue::Result<Option<Claimed>> {
    let deadline = Instant::now() + wait;
    loop {
        if is_cancelled() {
            return Ok(None);
        }
        if let Some(claimed) = queue.claim(stream, worker)? {
            return Ok(Some(claimed));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(left.min(Duration::from_millis(CLAIM_POLL_INTERVAL_MS)));
    }
}
