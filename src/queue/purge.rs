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
        // A task enqueued after the cutoff cannot have finished before it,
        // and ids sort by enqueue time: files from the floor on are not read.
        let floor = now
            .to_system()
            .checked_sub(older_than)
            .map(|cutoff| TaskId::floor_at(Timestamp::from_system(cutoff)));
        for stream in self.all_streams()? {
            let _lock = self.spool.lock_stream(&stream.name)?;
            for status in [TaskStatus::Succeeded, TaskStatus::Failed] {
                for id in self.spool.list_ids(&stream.name, status)? {
                    if floor.as_ref().is_some_and(|f| id.as_str() >= f.as_str()) {
                        break;
                    }
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
