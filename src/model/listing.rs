//! A task as lists show it: what a reader scans for, with the heavy parts
//! (payload, result, stdout, stderr, kept originals and conflicts) left to
//! the one-task view.
//!
//! A page of 50 tasks of 4 MiB of output each was 240 MB as full tasks;
//! as listings it stays a few kilobytes whatever the tasks carry.

use serde::Serialize;

use super::{Name, Task, TaskId, TaskStatus, Timestamp};

/// The most characters of a summary or error a listing carries.
pub const PREVIEW_CHARS: usize = 500;

/// One row of a task list (`GET /api/tasks`, `sparkq tasks --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskListing {
    pub id: TaskId,
    pub stream: Name,
    pub session: Name,
    pub tool_name: String,
    pub task_class: String,
    pub status: TaskStatus,
    /// Running and past its timeout.
    pub stale: bool,
    pub timeout: u64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub claimed_by: Option<String>,
    /// The result's `summary`, cut to [`PREVIEW_CHARS`].
    pub summary: Option<String>,
    /// The error, cut to [`PREVIEW_CHARS`].
    pub error: Option<String>,
    /// Size of the full stdout and stderr, in bytes (0 when there is none);
    /// the task view (`GET /api/tasks/{id}`, `sparkq task ID`) has them.
    pub stdout_bytes: usize,
    pub stderr_bytes: usize,
    /// How many conflicting copies the task keeps.
    pub conflicts: usize,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub heartbeat_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The requeue trail (see [`Task`]), so a list can warn before a task
    /// is requeued twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeued_from: Option<TaskId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeued_as: Option<TaskId>,
}

impl TaskListing {
    /// The listing of `task`, staleness judged at `now`.
    pub fn of(task: Task, now: Timestamp) -> TaskListing {
        TaskListing {
            stale: task.is_stale_at(now),
            summary: task.summary().map(preview),
            error: task.error.as_deref().map(preview),
            stdout_bytes: task.stdout.as_ref().map_or(0, String::len),
            stderr_bytes: task.stderr.as_ref().map_or(0, String::len),
            conflicts: task.conflicts.len(),
            id: task.id,
            stream: task.stream,
            session: task.session,
            tool_name: task.tool_name,
            task_class: task.task_class,
            status: task.status,
            timeout: task.timeout,
            attempts: task.attempts,
            max_attempts: task.max_attempts,
            claimed_by: task.claimed_by,
            created_at: task.created_at,
            updated_at: task.updated_at,
            started_at: task.started_at,
            heartbeat_at: task.heartbeat_at,
            finished_at: task.finished_at,
            requeued_from: task.requeued_from,
            requeued_as: task.requeued_as,
        }
    }
}

/// `text` cut to [`PREVIEW_CHARS`] characters, ending in `…` when cut.
pub fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_long_text_on_a_character_boundary() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(PREVIEW_CHARS + 10);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(preview(&"x".repeat(PREVIEW_CHARS)), "x".repeat(PREVIEW_CHARS));
    }
}
