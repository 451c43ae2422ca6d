//! The task: one unit of work and everything that happened to it.
//!
//! The struct is the task file's format. Its field order is the order the
//! keys are written in, so files diff well; do not reorder fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Conflict, Name, TaskId, Timestamp};

/// Where a task is in its life. On disk the folder a file is in is the
/// truth; this field mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting in `pending/`.
    Queued,
    /// Claimed by a worker, in `claimed/`.
    Running,
    /// Completed with a result, in `done/`.
    Succeeded,
    /// Failed with an error, in `failed/`.
    Failed,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
    ];

    /// The name used in files, flags and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
        }
    }

    /// Parses `queued|running|succeeded|failed`.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Parses a status as a filter gives it: a status name, or the name of
    /// the spool folder that holds it (`pending, claimed, done, failed`), so
    /// that `--status done` means what the folder says.
    pub fn parse_filter(s: &str) -> Option<TaskStatus> {
        TaskStatus::parse(s).or(match s {
            "pending" => Some(TaskStatus::Queued),
            "claimed" => Some(TaskStatus::Running),
            "done" => Some(TaskStatus::Succeeded),
            _ => None,
        })
    }

    /// Whether the task has finished (succeeded or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Failed)
    }
}

/// How one claim of a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptEnd {
    /// The worker completed it.
    Succeeded,
    /// The worker failed it.
    Failed,
    /// No report within twice the timeout; the task went back to the queue.
    Requeued,
    /// No report within twice the timeout and no attempts left.
    AutoFailed,
}

/// One past claim, kept in the task's `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first claim.
    pub attempt: u32,
    /// Who held the claim.
    pub worker: Option<String>,
    /// When it was claimed.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Timestamp,
    /// How it ended.
    pub outcome: AttemptEnd,
    /// The claim's token, so a late report can be told exactly what became
    /// of its claim (absent in files written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
}

/// A task, exactly as stored in its JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub stream: Name,
    pub session: Name,
    pub tool_name: String,
    pub task_class: String,
    pub payload: Value,
    pub status: TaskStatus,
    /// Seconds a claim may run before the task is stale.
    pub timeout: u64,
    /// How many times the task has been claimed.
    #[serde(default)]
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(default)]
    pub claimed_by: Option<String>,
    /// Fresh for every claim; `complete`/`fail`/`heartbeat` may present it to
    /// prove the caller still holds the claim.
    #[serde(default)]
    pub claim_token: Option<String>,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stderr: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub heartbeat_at: Option<Timestamp>,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub history: Vec<Attempt>,
    /// For a requeued copy: the task it was requeued from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeued_from: Option<TaskId>,
    /// For a task that was requeued: the newest task it was requeued as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeued_as: Option<TaskId>,
    /// For a dropped-in file that was rejected: its bytes, as they were
    /// (see `original_encoding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// `"base64"` when `original` holds bytes that are not UTF-8, encoded;
    /// absent when it is the text itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_encoding: Option<String>,
    /// Losing copies from other machines that carried a claim or a result
    /// (SPEC 9): kept so that no double result is hidden.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

impl Task {
    /// When the worker last showed signs of life: the later of `started_at`
    /// and `heartbeat_at`, else the last update.
    pub fn last_alive(&self) -> Timestamp {
        self.started_at.max(self.heartbeat_at).unwrap_or(self.updated_at)
    }

    /// The task's timeout as a duration.
    pub fn timeout_duration(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// Twice the timeout, when a claim is dead. Saturates: the timeout of a
    /// file written by hand may be any `u64`, and a reader must not panic.
    pub fn dead_after(&self) -> Duration {
        self.timeout_duration().saturating_mul(2)
    }

    /// A running task is stale once `now − last_alive > timeout`.
    pub fn is_stale_at(&self, now: Timestamp) -> bool {
        self.status == TaskStatus::Running && now.since(self.last_alive()) > self.timeout_duration()
    }

    /// A running task is dead once `now − last_alive > 2 × timeout`: its
    /// worker is presumed gone and the claim is taken back.
    pub fn is_dead_at(&self, now: Timestamp) -> bool {
        self.status == TaskStatus::Running && now.since(self.last_alive()) > self.dead_after()
    }

    /// When a running task turns stale (`last_alive + timeout`); `None`
    /// unless it is running.
    pub fn stale_at(&self) -> Option<Timestamp> {
        (self.status == TaskStatus::Running)
            .then(|| self.last_alive().saturating_add(self.timeout_duration()))
    }

    /// When a running task's claim is taken back unless a heartbeat comes
    /// first (`last_alive + 2 × timeout`, saturating: see
    /// [`Task::dead_after`]); `None` unless it is running.
    pub fn dead_at(&self) -> Option<Timestamp> {
        (self.status == TaskStatus::Running).then(|| self.last_alive().saturating_add(self.dead_after()))
    }

    /// The summary of a finished task's result, if it has one.
    pub fn summary(&self) -> Option<&str> {
        self.result.as_ref()?.get("summary")?.as_str()
    }

    /// Run time: from start to finish, or to now while running.
    pub fn duration(&self) -> Option<Duration> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or_else(Timestamp::now).since(start))
    }
}
