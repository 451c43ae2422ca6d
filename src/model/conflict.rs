//! Conflicts: what another machine reported about a task that lost to the
//! copy kept in the file, stored in the task's `conflicts` list so that no
//! result is ever hidden when two spools are merged (SPEC 9).
//!
//! Plain data; deciding which copy wins is `queue::converge`'s job.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Task, TaskStatus, Timestamp};

/// A losing copy of a task that carried something worth keeping: another
/// finish of the same attempt, a finish of an attempt that was re-queued
/// elsewhere, or a second claim of the same attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The attempt this copy belonged to.
    pub attempt: u32,
    /// The state the losing copy was in.
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

/// What a [`Conflict`] means next to the task that kept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Two different finishes of one attempt (done on one machine, failed
    /// or done differently on another).
    DoubleFinish,
    /// A finish of an attempt that another machine had already re-queued;
    /// the re-queued attempt is newer and won.
    LateFinish,
    /// A second claim of the same attempt, taken on another machine
    /// between syncs.
    RivalClaim,
}

impl Conflict {
    /// The part of `task`, found in state `status`, that a conflict keeps.
    pub fn of(task: &Task, status: TaskStatus) -> Conflict {
        Conflict {
            attempt: task.attempts,
            status,
            claimed_by: task.claimed_by.clone(),
            claim_token: task.claim_token.clone(),
            started_at: task.started_at,
            finished_at: task.finished_at,
            result: task.result.clone(),
            error: task.error.clone(),
            stdout: task.stdout.clone(),
            stderr: task.stderr.clone(),
        }
    }

    /// What this conflict means for `task`, the copy that won.
    pub fn kind(&self, task: &Task) -> ConflictKind {
        if !self.status.is_finished() {
            ConflictKind::RivalClaim
        } else if self.attempt < task.attempts || task.status == TaskStatus::Queued {
            ConflictKind::LateFinish
        } else {
            ConflictKind::DoubleFinish
        }
    }

    /// The event this conflict records: two entries with the same key are
    /// one claim or one finish, seen twice.
    pub fn event_key(&self) -> (u32, u8, Option<&str>, String, Option<&str>) {
        let result = self.result.as_ref().map(Value::to_string).unwrap_or_default();
        (
            self.attempt,
            self.status as u8,
            self.claim_token.as_deref(),
            result,
            self.error.as_deref(),
        )
    }

    /// A one-line description for reports and the task view.
    pub fn describe(&self, task: &Task) -> String {
        let who = self.claimed_by.as_deref().unwrap_or("an unknown worker");
        let what = match (&self.result, &self.error) {
            (Some(result), _) => result
                .get("summary")
                .and_then(Value::as_str)
                .map_or_else(|| result.to_string(), str::to_owned),
            (None, Some(error)) => error.clone(),
            (None, None) => String::new(),
        };
        let head = match self.kind(task) {
            ConflictKind::DoubleFinish => {
                format!("attempt {} also {} by {who}", self.attempt, self.status.as_str())
            }
            ConflictKind::LateFinish => format!(
                "attempt {} {} late by {who}, after it was re-queued",
                self.attempt,
                self.status.as_str()
            ),
            ConflictKind::RivalClaim => format!("attempt {} also claimed by {who}", self.attempt),
        };
        if what.is_empty() {
            head
        } else {
            format!("{head}: {what}")
        }
    }
}
