//! Requeue: a task's work, queued again as a new task, leaving a trail.
//!
//! The new task records `requeued_from`, the original `requeued_as`, and the
//! original otherwise stays as it is. A task may be requeued when it has
//! finished (failed or succeeded), or when it is queued in an ended stream,
//! which hands out nothing: that is how work moves from an ended stream to
//! a new one. The target stream (the original's unless another is named)
//! must be active. Requeueing a task a second time is allowed, so a person
//! can run it again on purpose, but the answer says it was requeued before,
//! so a double click is noticed.

use serde::Serialize;
use serde_json::Value;

use super::{Error, NewTask, Queue, Result};
use crate::model::{StreamStatus, Task, TaskId, TaskStatus, Timestamp};

/// What to change in the copy; nothing by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequeueOptions {
    /// Queue the copy into this stream instead of the original's.
    pub stream: Option<String>,
    /// Give the copy this payload instead of the original's.
    pub payload: Option<Value>,
}

/// One requeue done: the new task, and the task it was requeued as before
/// this, if it had been.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requeued {
    pub task: Task,
    /// Set when the original had already been requeued (as this task).
    pub already_requeued_as: Option<TaskId>,
}

impl Queue {
    /// Queues a new task with the tool, payload, class and timeout of task
    /// `id` (payload and stream as `options` override them), and records
    /// the trail on both.
    pub fn requeue(&self, id: &str, options: &RequeueOptions) -> Result<Requeued> {
        let original = self.get_task(id)?;
        let ended_queued = original.status == TaskStatus::Queued
            && self.stream(original.stream.as_str())?.status == StreamStatus::Ended;
        if !original.status.is_finished() && !ended_queued {
            return Err(Error::NotFinished {
                id: original.id.to_string(),
                status: original.status,
            });
        }
        if original.tool_name.is_empty() || original.payload.is_null() && original.original.is_some() {
            return Err(Error::invalid(
                "task",
                format!(
                    "{} was a rejected dropped file with no usable tool and payload",
                    original.id
                ),
                "Fix the original file (see 'sparkq task ID') and drop it in again, or enqueue it anew.",
            ));
        }
        let target = options.stream.as_deref().unwrap_or(original.stream.as_str());
        let stream = self.active_stream(target)?;
        // The same rules as any enqueue: the tool must still be registered,
        // and the copy keeps the original's class and timeout.
        let new = NewTask {
            tool_name: original.tool_name.clone(),
            payload: options
                .payload
                .clone()
                .unwrap_or_else(|| original.payload.clone()),
            timeout: Some(original.timeout),
            task_class: Some(original.task_class.clone()),
        };
        let mut task = self.build_task(&stream, TaskId::generate(), Timestamp::now(), new)?;
        task.requeued_from = Some(original.id.clone());
        // The copy is written first: a crash before the original is marked
        // loses only the back-pointer, never the work.
        self.write_new_task(&task)?;
        let already_requeued_as = self.mark_requeued(&original.id, &task.id)?;
        self.index_wrote(&original.stream, &original.id, &[original.status]);
        Ok(Requeued {
            task,
            already_requeued_as,
        })
    }

    /// Requeues every queued task of the ended stream `from` into the
    /// active stream `to`, oldest first; tasks already requeued are left
    /// out (their copies exist). Returns the requeues done.
    pub fn requeue_all_queued(&self, from: &str, to: &str) -> Result<Vec<Requeued>> {
        let old = self.stream(from)?;
        if old.status == StreamStatus::Active {
            return Err(Error::invalid(
                "--from",
                format!("stream '{from}' is active, so its queued tasks will still be handed out"),
                "End it first ('sparkq stream end NAME'), then move its queued tasks.",
            ));
        }
        self.active_stream(to)?;
        let options = RequeueOptions {
            stream: Some(to.to_owned()),
            payload: None,
        };
        let mut done = Vec::new();
        for id in self.spool.list_ids(&old.name, TaskStatus::Queued)? {
            let Ok(Some(task)) = self.spool.read_task(&old.name, TaskStatus::Queued, &id) else {
                continue;
            };
            if task.requeued_as.is_none() {
                done.push(self.requeue(id.as_str(), &options)?);
            }
        }
        Ok(done)
    }

    /// Records on task `id` that it was requeued as `new`; returns what it
    /// had been requeued as before, if anything.
    fn mark_requeued(&self, id: &TaskId, new: &TaskId) -> Result<Option<TaskId>> {
        let original = self.get_task(id.as_str())?;
        let _lock = self.spool.lock_stream(&original.stream)?;
        // Re-read under the lock: a sweep or a sync may have moved it.
        let mut original = self.get_task(id.as_str())?;
        let before = original.mark_requeued_as(new.clone(), Timestamp::now());
        self.spool.write_task(&original)?;
        Ok(before)
    }
}
