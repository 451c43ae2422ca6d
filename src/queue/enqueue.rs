//! Enqueueing: one task, a batch, and turning dropped-in files into tasks.

use serde::Deserialize;
use serde_json::Value;

use super::{Error, Queue, Result};
use crate::model::{MAX_TIMEOUT_SECS, Stream, StreamStatus, Task, TaskId, TaskStatus, Timestamp};
use crate::spool::DroppedFile;

/// The largest batch file `enqueue --batch` reads: 64 MiB.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// A task to enqueue, as a caller describes it. This is also the shape of a
/// batch line and of a file dropped into `pending/`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewTask {
    pub tool_name: String,
    pub payload: Value,
    /// Seconds; overrides the tool's and class's timeout.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Overrides the tool's class (and so its timeout, unless `timeout` is given).
    #[serde(default)]
    pub task_class: Option<String>,
}

impl Queue {
    /// Validates and writes one queued task into the stream's `pending/`.
    pub fn enqueue(&self, stream: &str, new: NewTask) -> Result<Task> {
        let stream = self.active_stream(stream)?;
        let task = self.build_task(&stream, TaskId::generate(), Timestamp::now(), new)?;
        self.write_new_task(&task)?;
        Ok(task)
    }

    /// Writes a new queued task. An error means it is not queued: a write
    /// that failed after its rename (flushing the folder) is taken back,
    /// unless a worker claimed the task already, which makes it enqueued.
    pub(super) fn write_new_task(&self, task: &Task) -> Result<()> {
        let Err(e) = self.spool.write_task(task) else {
            self.index_wrote(&task.stream, &task.id, &[TaskStatus::Queued]);
            return Ok(());
        };
        match self.spool.remove_task(&task.stream, TaskStatus::Queued, &task.id) {
            Ok(false) if self.spool.has_task(&task.stream, TaskStatus::Running, &task.id) => Ok(()),
            _ => Err(e.into()),
        }
    }

    /// Enqueues every task of `batch` in order, or none of them, even if
    /// the process is killed midway: all are validated, staged out of
    /// sight, and only then published together.
    pub fn enqueue_batch(&self, stream: &str, batch: Vec<NewTask>) -> Result<Vec<Task>> {
        let stream = self.active_stream(stream)?;
        let mut tasks = Vec::with_capacity(batch.len());
        for (i, new) in batch.into_iter().enumerate() {
            let task = self
                .build_task(&stream, TaskId::generate(), Timestamp::now(), new)
                .map_err(|e| {
                    Error::invalid(
                        "batch",
                        format!("line {}: {e}", i + 1),
                        "Nothing was queued; fix that line and run the batch again.",
                    )
                })?;
            tasks.push(task);
        }
        // All or nothing across kill -9: staged in one hidden folder, then
        // published from it (see `spool::batch`). A batch abandoned midway
        // is finished or discarded by the next look at the stream.
        self.spool.stage_batch(&stream.name, &tasks)?.publish()?;
        for task in &tasks {
            self.index_wrote(&task.stream, &task.id, &[TaskStatus::Queued]);
        }
        Ok(tasks)
    }

    /// A queued task for `stream`, with class and timeout filled from the
    /// registry; every field checked.
    pub(super) fn build_task(
        &self,
        stream: &Stream,
        id: TaskId,
        created: Timestamp,
        new: NewTask,
    ) -> Result<Task> {
        let tool = self
            .config
            .tool(&new.tool_name)
            .ok_or_else(|| Error::UnknownTool {
                name: new.tool_name.clone(),
                known: self.config.tool_names().iter().map(|s| s.to_string()).collect(),
            })?;
        let (task_class, class_timeout) = match &new.task_class {
            None => (tool.task_class.clone(), tool.timeout),
            Some(class) => match self.config.task_classes.get(class) {
                Some(t) => (class.clone(), *t),
                None => {
                    return Err(Error::invalid(
                        "task_class",
                        format!(
                            "unknown class '{class}' (known: {})",
                            self.config
                                .task_classes
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "Leave task_class out to use the tool's class.",
                    ));
                }
            },
        };
        match new.timeout {
            Some(0) => {
                return Err(Error::invalid(
                    "timeout",
                    "0 seconds",
                    "Give a timeout of at least 1 second, or leave it out.",
                ));
            }
            Some(t) if t > MAX_TIMEOUT_SECS => {
                return Err(Error::invalid(
                    "timeout",
                    format!("{t} seconds is over the ceiling of {MAX_TIMEOUT_SECS} seconds (30 days)"),
                    "Give a timeout of 1 to 2592000 seconds; a long task can send heartbeats instead.",
                ));
            }
            _ => {}
        }
        self.check_json("payload", &new.payload)?;
        Ok(Task {
            id,
            stream: stream.name.clone(),
            session: stream.session.clone(),
            tool_name: new.tool_name,
            task_class,
            payload: new.payload,
            status: TaskStatus::Queued,
            timeout: new.timeout.unwrap_or(class_timeout),
            attempts: 0,
            max_attempts: self.config.max_attempts,
            claimed_by: None,
            claim_token: None,
            result: None,
            error: None,
            stdout: None,
            stderr: None,
            created_at: created,
            // Not now: a dropped file adopted on two machines is one task
            // only if both write the same bytes (see `spool::adopt`).
            updated_at: created,
            started_at: None,
            heartbeat_at: None,
            finished_at: None,
            history: Vec::new(),
            requeued_from: None,
            requeued_as: None,
            original: None,
            original_encoding: None,
            conflicts: Vec::new(),
        })
    }

    /// The task a file dropped into `pending/` becomes: queued if it is a
    /// valid `{"tool_name", "payload", ...}` object naming a known tool and
    /// the stream is active, otherwise failed, with an error saying exactly
    /// what was wrong and the file's bytes kept in `original`. An entry that
    /// was not read at all (a link, a folder, a FIFO, a file over the cap)
    /// fails with what it is and where it was set aside.
    pub(super) fn task_from_drop(&self, stream: &Stream, drop: DroppedFile<'_>) -> Task {
        let built = match &drop.refused {
            Some(refused) => Err(format!(
                "{}; it was set aside, unread, as {}",
                refused.what.describe(),
                refused.aside
            )),
            None => self.parse_drop(stream, &drop),
        };
        match built {
            // A stream that ended hands out nothing: a task queued there
            // would wait forever. It fails as the task it describes, so
            // `requeue ID --stream S` can run it in an active stream.
            Ok(mut task) if stream.status == StreamStatus::Ended => {
                // The arrival, not now: every machine writes the same bytes.
                let now = drop.arrived;
                task.status = TaskStatus::Failed;
                task.error = Some(format!(
                    "Rejected dropped file '{}': stream ended: stream '{}' takes no new tasks; run it with 'sparkq requeue {} --stream <active stream>'",
                    drop.file_name, stream.name, task.id
                ));
                task.finished_at = Some(now);
                task.updated_at = now;
                task
            }
            Ok(task) => task,
            Err(reason) => {
                let error = format!("Rejected dropped file '{}': {reason}", drop.file_name);
                self.rejected(stream, &drop, error)
            }
        }
    }

    /// The failed task that records a file SparkQ would not run: `error`
    /// says why, and the file's bytes, if it was read, are kept exactly.
    pub(super) fn rejected(&self, stream: &Stream, drop: &DroppedFile<'_>, error: String) -> Task {
        // The arrival, not now: every machine writes the same bytes.
        let now = drop.arrived;
        let tool_guess = serde_json::from_slice::<Value>(drop.bytes)
            .ok()
            .and_then(|v| v.get("tool_name")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut task = Task {
            id: drop.id.clone(),
            stream: stream.name.clone(),
            session: stream.session.clone(),
            tool_name: tool_guess,
            task_class: String::new(),
            payload: Value::Null,
            status: TaskStatus::Failed,
            timeout: 0,
            attempts: 0,
            max_attempts: self.config.max_attempts,
            claimed_by: None,
            claim_token: None,
            result: None,
            error: Some(error),
            stdout: None,
            stderr: None,
            created_at: drop.arrived,
            updated_at: now,
            started_at: None,
            heartbeat_at: None,
            finished_at: Some(now),
            history: Vec::new(),
            requeued_from: None,
            requeued_as: None,
            original: None,
            original_encoding: None,
            conflicts: Vec::new(),
        };
        if drop.refused.is_none() {
            task.keep_original(drop.bytes);
        }
        task
    }

    /// The queued task a readable dropped file describes, or why it cannot
    /// be one.
    fn parse_drop(&self, stream: &Stream, drop: &DroppedFile<'_>) -> std::result::Result<Task, String> {
        let new = serde_json::from_slice::<Value>(drop.bytes)
            .map_err(|e| format!("it is not valid JSON ({e})"))
            .and_then(|v| match v {
                Value::Object(_) => serde_json::from_value::<NewTask>(v)
                    .map_err(|e| format!("it is not a task ({e}); the minimum is {{\"tool_name\": \"...\", \"payload\": {{...}}}}")),
                other => Err(format!("it is JSON but not an object (found {})", json_kind(&other))),
            })?;
        self.build_task(stream, drop.id.clone(), drop.arrived, new)
            .map_err(|e| e.to_string().replace('\n', " "))
    }
}

/// Parses a payload given as JSON text.
pub fn parse_payload(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            "payload",
            format!("it is not valid JSON: {e}"),
            "Quote the payload for your shell, e.g. '{\"script_path\": \"scripts/x.sh\"}', or use --payload-file.",
        )
    })
}

/// Parses a JSONL batch: one `{"tool_name", "payload", "timeout"?}` per
/// non-empty line.
pub fn parse_batch(text: &str) -> Result<Vec<NewTask>> {
    let mut tasks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let task = serde_json::from_str::<NewTask>(line).map_err(|e| {
            Error::invalid(
                "batch",
                format!("line {}: {e}", i + 1),
                "Each line must be {\"tool_name\": \"...\", \"payload\": {...}, \"timeout\": N?}. Nothing was queued.",
            )
        })?;
        tasks.push(task);
    }
    if tasks.is_empty() {
        return Err(Error::invalid(
            "batch",
            "it has no tasks",
            "Put one JSON task per line.",
        ));
    }
    Ok(tasks)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
