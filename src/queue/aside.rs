//! Setting aside a file found under a task's name that cannot be that task:
//! not a regular file, over the size cap, or content that names another
//! task or stream than its file name and folder do.
//!
//! Rule (the name and folder are the truth): such a file is never read as
//! a task, never merged into another task and never run. It becomes a
//! failed task of its own, under a new id, whose error names the file and
//! says why; its bytes are kept in `original` when they could be read, and
//! otherwise the entry itself is moved, unread, to the stream's
//! `quarantine/<new id>`.
//!
//! Order: the failed task is written first, then the file is removed or
//! moved. A crash in between leaves the file, which the next look sets
//! aside again: at worst two records of it, never none.

use std::path::Path;

use super::{Queue, Result};
use crate::model::{Stream, Task, TaskId, Timestamp};
use crate::spool::{self, DroppedFile, Refused};

impl Queue {
    /// Sets aside the file at `path` of `stream`, which `error` says cannot
    /// be read as the task its name gives; `None` if it is gone. The caller
    /// holds the stream lock.
    pub(super) fn set_aside(
        &self,
        stream: &Stream,
        path: &Path,
        error: &spool::Error,
    ) -> Result<Option<Task>> {
        let id = TaskId::generate();
        let shown = self.rel(path);
        let (bytes, refused) = match self.spool.read_bytes(path) {
            Ok(Some(bytes)) => (bytes, None),
            Ok(None) => return Ok(None),
            Err(spool::Error::Foreign { what, .. }) => {
                let aside = self.rel(&self.spool.quarantine_dir(&stream.name).join(id.as_str()));
                (Vec::new(), Some(Refused { what, aside }))
            }
            Err(e) => return Err(e.into()),
        };
        let why = match (&refused, error) {
            (Some(r), _) => format!("{}; it was moved, unread, to {}", r.what.describe(), r.aside),
            (None, spool::Error::Mismatch { message, .. }) => {
                format!("{message}; it was not run (its bytes are kept here). To run it, enqueue it anew")
            }
            (None, other) => other.to_string().replace('\n', " "),
        };
        let arrived = std::fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .map(Timestamp::from_system)
            .unwrap_or_else(|_| Timestamp::now());
        let drop = DroppedFile {
            id,
            arrived,
            file_name: &shown,
            bytes: &bytes,
            refused: refused.clone(),
        };
        let task = self.rejected(stream, &drop, format!("Set aside '{shown}': {why}"));
        self.spool.write_task(&task)?;
        if refused.is_some() {
            self.spool.quarantine(&stream.name, path, &task.id)?;
        } else {
            spool::remove_file(path)?;
        }
        Ok(Some(task))
    }
}
