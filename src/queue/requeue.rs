//! Requeue: a finished task's work, queued again as a new task.

use super::{Error, NewTask, Queue, Result};
use crate::model::{Task, TaskId, Timestamp};

impl Queue {
    /// Queues a new task with the same stream, tool, payload, class and
    /// timeout as the failed or succeeded task `id`, which stays as it is.
    /// It is built by the same code as any enqueue, so the tool must still
    /// be registered and the payload within the limit.
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
        // The same rules as any enqueue: the tool must still be registered,
        // and the copy keeps the original's class and timeout.
        let new = NewTask {
            tool_name: original.tool_name,
            payload: original.payload,
            timeout: Some(original.timeout),
            task_class: Some(original.task_class),
        };
        let task = self.build_task(&stream, TaskId::generate(), Timestamp::now(), new)?;
        self.write_new_task(&task)?;
        Ok(task)
    }
}
