//! Requeue: a finished task's work, queued again as a new task.

use super::{Error, Queue, Result};
use crate::model::{Task, TaskId, TaskStatus, Timestamp};

impl Queue {
    /// Queues a new task with the same stream, tool, payload, class and
    /// timeout as the failed or succeeded task `id`, which stays as it is.
    pub fn requeue(&self, id: &str) -> Result<Task> {
        let original = self.get_task(id)?;
        if !original.status.is_finished() {
            return Err(Error::NotFinished {
                id: original.id.to_string(),
                status: original.status,
            });
        }
        let stream = self.active_stream(original.stream.as_str())?;
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
        let now = Timestamp::now();
        let task = Task {
            id: TaskId::generate(),
            stream: stream.name,
            session: stream.session,
            status: TaskStatus::Queued,
            attempts: 0,
            max_attempts: self.config.max_attempts,
            claimed_by: None,
            claim_token: None,
            result: None,
            error: None,
            stdout: None,
            stderr: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            heartbeat_at: None,
            finished_at: None,
            history: Vec::new(),
            original: None,
            conflicts: Vec::new(),
            ..original
        };
        self.spool.write_task(&task)?;
        Ok(task)
    }
}
