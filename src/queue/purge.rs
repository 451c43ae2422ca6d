//! Purge: deleting old finished tasks. Never pending or running ones.

use std::time::Duration;

use serde::Serialize;

use super::{Queue, Result};
use crate::model::{TaskId, TaskStatus, Timestamp};

/// What a purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PurgeReport {
    pub removed: Vec<TaskId>,
}

impl Queue {
    /// Deletes succeeded and failed tasks that finished more than
    /// `older_than` ago.
    pub fn purge(&self, older_than: Duration) -> Result<PurgeReport> {
        let mut report = PurgeReport::default();
        let now = Timestamp::now();
        for stream in self.all_streams()? {
            let _lock = self.spool.lock_stream(&stream.name)?;
            for status in [TaskStatus::Succeeded, TaskStatus::Failed] {
                for id in self.spool.list_ids(&stream.name, status)? {
                    let Ok(Some(task)) = self.spool.read_task(&stream.name, status, &id) else {
                        continue;
                    };
                    let finished = task.finished_at.unwrap_or(task.updated_at);
                    if now.since(finished) > older_than
                        && self.spool.remove_task(&stream.name, status, &id)?
                    {
                        report.removed.push(id);
                    }
                }
            }
        }
        Ok(report)
    }
}
