//! Stale and dead claims (SPEC 4.6).
//!
//! A running task is stale once `now − max(started_at, heartbeat_at)`
//! exceeds its timeout, and dead at twice that: its worker is presumed gone.
//! A dead claim goes back to `pending/` (same id, the claim recorded in
//! `history`) while `attempts < max_attempts`, else the task fails with the
//! auto-fail message. Sweeps run holding the stream lock, so a sweep and a
//! late `complete` never both move the task; the loser sees it gone.

use serde::Serialize;

use super::{Queue, Result};
pub use crate::model::auto_fail_message;
use crate::model::{AttemptEnd, Stream, TaskId, TaskStatus, Timestamp};

/// When a waiter looks again at a claim the sweep found in flight.
const IN_FLIGHT_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// What one sweep of a stream's claims did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// Dead claims put back in the queue.
    pub requeued: Vec<TaskId>,
    /// Dead claims that had no attempts left.
    pub failed: Vec<TaskId>,
    /// When the next claim the sweep left running turns dead, so a waiter
    /// sets its timer without reading the claims again.
    #[serde(skip)]
    pub next_dead: Option<Timestamp>,
}

impl SweepReport {
    /// Whether the sweep changed anything.
    pub fn is_empty(&self) -> bool {
        self.requeued.is_empty() && self.failed.is_empty()
    }
}

impl Queue {
    /// Takes back the dead claims of the stream named `stream`. With an
    /// index (a long-lived process), only when one can be due, reading
    /// only the claims that changed since the index last read them.
    pub fn sweep_dead(&self, stream: &str) -> Result<SweepReport> {
        let stream = self.stream(stream)?;
        let _lock = self.spool.lock_stream(&stream.name)?;
        if let Some(report) = self.sweep_indexed(&stream) {
            return report;
        }
        self.sweep_dead_locked(&stream, Timestamp::now())
    }

    /// The sweep itself; the caller holds the stream lock.
    pub(super) fn sweep_dead_locked(&self, stream: &Stream, now: Timestamp) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let (ids, markers) = self.spool.list_claims(&stream.name)?;
        for id in ids {
            // One read per claimed file, and nothing else for a live claim
            // whose content agrees with its folder: this runs on every claim.
            let Ok(Some((task, lagged))) =
                self.spool
                    .read_task_lagging(&stream.name, TaskStatus::Running, &id)
            else {
                continue;
            };
            // Content that lags with a fresh marker beside it is a claim in
            // flight, between its rename and its rewrite (see `claim` and
            // `spool::claiming`): neither repaired nor taken back. With only
            // stale markers (a claimer that died), they are removed and the
            // file is repaired below like any crash between those steps.
            // A waiter that sets its timer from this sweep looks again soon:
            // by then the claim is written and says when it turns dead.
            if lagged && !markers.is_empty() && self.spool.claim_in_flight(&stream.name, &id, &markers) {
                let again = now.saturating_add(IN_FLIGHT_RECHECK);
                report.next_dead = Some(report.next_dead.map_or(again, |next| next.min(again)));
                continue;
            }
            let dead = task.is_dead_at(now);
            if !dead && let Some(at) = task.dead_at() {
                report.next_dead = Some(report.next_dead.map_or(at, |next| next.min(at)));
            }
            if !dead && !lagged {
                continue;
            }
            // A newer copy by the lattice (a crash between writing the result
            // or re-queueing and removing the claim, or a merge): never sweep
            // or rewrite a claim that lost. Settling removes it, or records
            // it if it was a rival.
            if self.is_copy_superseded(&stream.name, &task, TaskStatus::Running)? {
                continue;
            }
            // Any other copy (an older finish a sync brought into
            // `failed/` or `pending/`) would be written over by the move:
            // settle it first and look again at the next sweep.
            if dead && self.settle_before_moving(&stream.name, &id, TaskStatus::Running)? {
                continue;
            }
            if lagged {
                self.spool.write_task(&task)?;
            }
            if !dead {
                continue;
            }
            let mut next = task;
            match next.take_back(now) {
                AttemptEnd::Requeued => report.requeued.push(id.clone()),
                _ => report.failed.push(id.clone()),
            }
            // Write the new copy, then remove the claimed one: a crash in
            // between leaves two copies, and the newer one wins. A failed
            // removal is the same as that crash: the sweep is done, and the
            // superseded claim is skipped above and settled later.
            self.spool.write_task(&next)?;
            let _ = self.spool.remove_task(&stream.name, TaskStatus::Running, &id);
        }
        Ok(report)
    }
}
