//! A task's life as transitions: every change of state is one pure method
//! here, so the rule of which fields follow a state is written once.
//!
//! ```text
//! queued ──claim──▶ running ──finish(Succeeded)──▶ succeeded
//!    ▲                 │    ──finish(Failed)─────▶ failed
//!    └──take_back──────┤ (dead claim, attempts left)
//!                      └──take_back──────────────▶ failed (auto-fail)
//! ```
//!
//! A finished task (or a queued one in an ended stream) is requeued as a
//! new task; the original only records the copy ([`Task::mark_requeued_as`]).
//! No method reads the clock, draws a token or touches a file: the caller
//! passes `now` and the token, and moves the file to the folder of the
//! status the method set. Which copy of a task is newer when several exist
//! is [`Task::lattice_key`], ordered by [`Phase`].

use serde_json::Value;

use super::{Attempt, AttemptEnd, Task, TaskId, TaskStatus, Timestamp};

/// Where a copy stands within one attempt: queued (waiting for it), running
/// or finished. The second half of the lattice key; later phases are newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Queued,
    Running,
    Finished,
}

impl Phase {
    /// The phase a copy in `status`'s folder is in.
    pub fn of(status: TaskStatus) -> Phase {
        match status {
            TaskStatus::Queued => Phase::Queued,
            TaskStatus::Running => Phase::Running,
            TaskStatus::Succeeded | TaskStatus::Failed => Phase::Finished,
        }
    }
}

/// How a worker's report ends its claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `complete`: the result, a JSON object with a `summary`.
    Succeeded { result: Value },
    /// `fail`: what went wrong.
    Failed { error: String },
}

impl Outcome {
    /// The status a task finished this way is in.
    pub fn status(&self) -> TaskStatus {
        match self {
            Outcome::Succeeded { .. } => TaskStatus::Succeeded,
            Outcome::Failed { .. } => TaskStatus::Failed,
        }
    }

    /// The status, result and error this outcome records.
    pub fn into_parts(self) -> (TaskStatus, Option<Value>, Option<String>) {
        match self {
            Outcome::Succeeded { result } => (TaskStatus::Succeeded, Some(result), None),
            Outcome::Failed { error } => (TaskStatus::Failed, None, Some(error)),
        }
    }
}

/// The error of a task auto-failed after its last dead claim.
pub fn auto_fail_message(timeout_secs: u64) -> String {
    format!(
        "Auto-failed: task exceeded 2x timeout ({timeout_secs}s) with no complete/fail reported. Likely worker crash or disconnect."
    )
}

impl Task {
    /// Where this copy stands in the task's history, for deciding which of
    /// two copies of one task is newer (SPEC 9): higher wins.
    ///
    /// The first number is the attempt the copy belongs to (a queued copy
    /// waits for attempt `attempts + 1`, so a re-queued task is newer than
    /// any state of the attempt before), the second its [`Phase`] within
    /// that attempt. `status` is the folder the copy was found in, which
    /// outranks the copy's own `status` field.
    pub fn lattice_key(&self, status: TaskStatus) -> (u32, Phase) {
        let phase = Phase::of(status);
        match phase {
            Phase::Queued => (self.attempts.saturating_add(1), phase),
            Phase::Running | Phase::Finished => (self.attempts, phase),
        }
    }

    /// Queued → running: the next attempt, held by `worker` with `token`.
    pub fn claim(&mut self, worker: &str, token: String, now: Timestamp) {
        self.status = TaskStatus::Running;
        self.attempts = self.attempts.saturating_add(1);
        self.claimed_by = Some(worker.to_owned());
        self.claim_token = Some(token);
        self.started_at = Some(now);
        self.heartbeat_at = None;
        self.updated_at = now;
    }

    /// Running, still: the worker showed signs of life at `now`.
    pub fn heartbeat(&mut self, now: Timestamp) {
        self.heartbeat_at = Some(now);
        self.updated_at = now;
    }

    /// Running → succeeded or failed, as the worker reported, with its
    /// output; the attempt is recorded in `history`.
    pub fn finish(
        &mut self,
        outcome: Outcome,
        stdout: Option<String>,
        stderr: Option<String>,
        now: Timestamp,
    ) {
        self.status = outcome.status();
        let end = match outcome {
            Outcome::Succeeded { result } => {
                self.result = Some(result);
                AttemptEnd::Succeeded
            }
            Outcome::Failed { error } => {
                self.error = Some(error);
                AttemptEnd::Failed
            }
        };
        self.end_attempt(end, now);
        self.stdout = stdout;
        self.stderr = stderr;
        self.finished_at = Some(now);
    }

    /// Running → queued or failed: the claim is dead (no report within
    /// twice the timeout). With attempts left the task waits for the next
    /// claim, else it fails with [`auto_fail_message`]. Returns which.
    pub fn take_back(&mut self, now: Timestamp) -> AttemptEnd {
        let end = if self.attempts < self.max_attempts {
            AttemptEnd::Requeued
        } else {
            AttemptEnd::AutoFailed
        };
        self.end_attempt(end, now);
        if end == AttemptEnd::Requeued {
            self.status = TaskStatus::Queued;
            self.claimed_by = None;
            self.claim_token = None;
            self.started_at = None;
            self.heartbeat_at = None;
        } else {
            self.status = TaskStatus::Failed;
            self.error = Some(auto_fail_message(self.timeout));
            self.finished_at = Some(now);
        }
        end
    }

    /// Requeue, on the original: it was queued again as task `copy`.
    /// Returns what it had been requeued as before, if anything.
    pub fn mark_requeued_as(&mut self, copy: TaskId, now: Timestamp) -> Option<TaskId> {
        self.updated_at = now;
        self.requeued_as.replace(copy)
    }

    /// Records the current claim in `history` as ended by `end` at `now`.
    fn end_attempt(&mut self, end: AttemptEnd, now: Timestamp) {
        self.history.push(Attempt {
            attempt: self.attempts,
            worker: self.claimed_by.clone(),
            started_at: self.started_at,
            ended_at: now,
            outcome: end,
            claim_token: self.claim_token.clone(),
        });
        self.updated_at = now;
    }

    /// Makes the content agree with `state`, the folder the copy is in (the
    /// folder wins); returns whether anything changed. Only fields that must
    /// follow the state are touched, so no result or history is dropped, and
    /// no clock is read, so two machines repairing one copy agree.
    pub fn agree_with_state(&mut self, state: TaskStatus) -> bool {
        if self.status == state {
            return false;
        }
        self.status = state;
        match state {
            TaskStatus::Queued => {
                self.claimed_by = None;
                self.claim_token = None;
                self.started_at = None;
                self.heartbeat_at = None;
                self.finished_at = None;
            }
            TaskStatus::Running => {
                self.started_at.get_or_insert(self.updated_at);
                self.finished_at = None;
            }
            TaskStatus::Succeeded | TaskStatus::Failed => {
                self.finished_at.get_or_insert(self.updated_at);
            }
        }
        true
    }
}

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;
