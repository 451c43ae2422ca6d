//! The task as a worker is handed it by `peek` and `claim`: the task file's
//! fields plus what the worker needs without opening `sparkq.yml`.

use std::path::PathBuf;

use serde::Serialize;

use super::Queue;
use crate::model::{Stream, StreamRef, Task};

/// A task as `peek` and `claim` hand it to a worker: with everything the
/// worker needs without opening `sparkq.yml`.
///
/// It serializes as the task's own fields, except that `stream` is the
/// object `{"id", "name", "instructions"}` instead of the stream's name,
/// followed by `project_root` (the folder of `sparkq.yml`), `repo_path`
/// (where to work), and `stale_at` / `dead_at`: when a running task turns
/// stale, and when its claim is taken back unless a heartbeat comes first
/// (`null` while queued).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskBrief {
    pub task: Task,
    pub stream: StreamRef,
    pub project_root: PathBuf,
    pub repo_path: PathBuf,
}

impl Serialize for TaskBrief {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut value = to_json::<S, _>(&self.task)?;
        if let Some(fields) = value.as_object_mut() {
            fields.insert("stream".to_owned(), to_json::<S, _>(&self.stream)?);
            fields.insert("project_root".to_owned(), to_json::<S, _>(&self.project_root)?);
            fields.insert("repo_path".to_owned(), to_json::<S, _>(&self.repo_path)?);
            fields.insert("stale_at".to_owned(), to_json::<S, _>(&self.task.stale_at())?);
            fields.insert("dead_at".to_owned(), to_json::<S, _>(&self.task.dead_at())?);
        }
        value.serialize(s)
    }
}

fn to_json<S: serde::Serializer, T: Serialize>(value: &T) -> Result<serde_json::Value, S::Error> {
    serde_json::to_value(value).map_err(serde::ser::Error::custom)
}

impl Queue {
    /// `task` of `stream` with the brief a worker needs.
    pub(super) fn brief(&self, stream: &Stream, task: Task) -> TaskBrief {
        TaskBrief {
            task,
            stream: StreamRef::from(stream),
            project_root: self.config.root.clone(),
            repo_path: self.config.repo_path.clone(),
        }
    }
}
