//! A task as lists show it: what a reader scans for, with the heavy parts
//! (payload, result, stdout, stderr, kept originals and conflicts) left to
//! the one-task view.
//!
//! A page of 50 tasks of 4 MiB of output each was 240 MB as full tasks;
//! as listings it stays a few kilobytes whatever the tasks carry.

use serde::Serialize;
use serde_json::Value;

use super::{Name, Task, TaskId, TaskStatus, Timestamp};

/// The most characters of a summary or error a listing carries.
pub const PREVIEW_CHARS: usize = 500;

/// The most characters of a listing's `payload_key`.
pub const KEY_CHARS: usize = 200;

/// Payload fields that name what a task works on, in the order they are
/// looked for; their value is the key when it is a string.
const KEY_FIELDS: [&str; 4] = ["script", "path", "file", "command"];

/// Payload fields holding text for a person; their first non-empty line
/// is the key.
const TEXT_FIELDS: [&str; 3] = ["prompt", "instructions", "task"];

/// One row of a task list (`GET /api/tasks`, `sparkq tasks --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskListing {
    pub id: TaskId,
    pub stream: Name,
    pub session: Name,
    pub tool_name: String,
    pub task_class: String,
    /// What a reader recognises the task by (see [`payload_key`]).
    pub payload_key: Option<String>,
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
    /// `finished_at − started_at` in milliseconds, when both are known.
    pub duration_ms: Option<u64>,
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
        let duration_ms = match (task.started_at, task.finished_at) {
            (Some(start), Some(end)) => Some(u64::try_from(end.since(start).as_millis()).unwrap_or(u64::MAX)),
            _ => None,
        };
        TaskListing {
            stale: task.is_stale_at(now),
            payload_key: payload_key(&task.payload),
            duration_ms,
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
    cut(text, PREVIEW_CHARS)
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// What a reader recognises a task by, from its payload: the `script`,
/// `path`, `file` or `command` value when it is a string (also under a
/// name ending in one of them, such as `script_path`), else the first
/// non-empty line of `prompt`, `instructions` or `task`, else the first
/// non-empty string value; cut to [`KEY_CHARS`]. `None` when the payload
/// holds no string at the top level.
pub fn payload_key(payload: &Value) -> Option<String> {
    fn text(v: &Value) -> Option<&str> {
        v.as_str().map(str::trim).filter(|s| !s.is_empty())
    }
    let object = payload.as_object();
    let exact = |wanted: &&str| object?.get(*wanted).and_then(text);
    let suffixed = |wanted: &&str| {
        let suffix = format!("_{wanted}");
        object?
            .iter()
            .find(|(k, v)| k.ends_with(&suffix) && text(v).is_some())
            .and_then(|(_, v)| text(v))
    };
    fn first_line(s: &str) -> Option<&str> {
        s.lines().map(str::trim).find(|l| !l.is_empty())
    }
    // Exact names first, so an LLM task's `prompt` wins over an incidental
    // `output_path`; names ending in `_script`, `_path`… come after.
    let key = KEY_FIELDS
        .iter()
        .find_map(exact)
        .or_else(|| TEXT_FIELDS.iter().find_map(exact).and_then(first_line))
        .or_else(|| KEY_FIELDS.iter().find_map(suffixed))
        .or_else(|| TEXT_FIELDS.iter().find_map(suffixed).and_then(first_line))
        .or_else(|| match payload {
            Value::String(s) => text(payload).map(|_| s.trim()),
            _ => object?.values().find_map(text),
        })?;
    Some(cut(key.lines().next().unwrap_or(key), KEY_CHARS))
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

    #[test]
    fn the_payload_key_is_what_a_reader_knows_the_task_by() {
        use serde_json::json;
        let key = |v: Value| payload_key(&v);
        assert_eq!(
            key(json!({"n": 1, "script": "scripts/a.sh"})).as_deref(),
            Some("scripts/a.sh")
        );
        assert_eq!(
            key(json!({"note": "x", "script_path": "scripts/b.sh"})).as_deref(),
            Some("scripts/b.sh")
        );
        assert_eq!(
            key(json!({"prompt": "\n  Fix the login bug\nthen test", "model": "m"})).as_deref(),
            Some("Fix the login bug")
        );
        assert_eq!(
            key(json!({"output_path": "notes/out.md", "prompt": "Summarise the log"})).as_deref(),
            Some("Summarise the log"),
            "an exact prompt wins over a name that only ends in _path"
        );
        assert_eq!(key(json!({"path": 3, "file": "a.txt"})).as_deref(), Some("a.txt"));
        assert_eq!(key(json!({"n": 1, "label": " first "})).as_deref(), Some("first"));
        assert_eq!(key(json!({"n": 1})), None);
        assert_eq!(key(json!([1, 2])), None);
        assert_eq!(key(json!("  just text ")).as_deref(), Some("just text"));
        let long = key(json!({"command": "x".repeat(300)})).unwrap();
        assert_eq!(long.chars().count(), KEY_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
