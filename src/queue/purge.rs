//! Purge: deleting old finished tasks. Never pending or running ones.
//!
//! Each purged task leaves a tombstone (see `spool::Tombstone`), so that a
//! machine that still has its file does not bring it back at a sync.

use std::time::Duration;

use serde::Serialize;

use super::{Queue, Result};
use crate::model::{Task, TaskId, TaskStatus, Timestamp};
use crate::spool::{TOMBSTONE_DAYS, Tombstone};

/// What a purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PurgeReport {
    pub removed: Vec<TaskId>,
    /// Tombstones dropped because their task finished long ago.
    pub tombstones_pruned: usize,
}

impl Queue {
    /// Deletes succeeded and failed tasks that finished more than
    /// `older_than` ago.
    pub fn purge(&self, older_than: Duration) -> Result<PurgeReport> {
        self.purge_seeing(older_than, |_| {})
    }

    /// [`Queue::purge`], showing `removed` each copy exactly as it was
    /// when it was removed (read under the stream lock): what the purge
    /// and its tombstone saw, which a listing taken before can miss when a
    /// sync settles the task in between.
    pub fn purge_seeing(&self, older_than: Duration, mut removed: impl FnMut(&Task)) -> Result<PurgeReport> {
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
                // A long-lived process's index lists the old ids without
                // reading the folder (100,000 names under the stream lock).
                let ids = match self.indexed_ids_below(&stream.name, status, floor.as_deref()) {
                    Some(ids) => ids,
                    None => self.spool.list_ids(&stream.name, status)?,
                };
                for id in ids {
                    if floor.as_ref().is_some_and(|f| id.as_str() >= f.as_str()) {
                        break;
                    }
                    let Ok(Some(task)) = self.spool.read_task(&stream.name, status, &id) else {
                        continue;
                    };
                    let finished = task.finished_at.unwrap_or(task.updated_at);
                    if now.since(finished) <= older_than {
                        continue;
                    }
                    // The tombstone first: a crash in between leaves it with
                    // the file, which the next settle removes. It joins the
                    // one already there (another copy of the task purged
                    // just before, or an earlier purge of it): every finish
                    // ever purged stays covered.
                    let mut tombstone = Tombstone::of(&task, status, finished);
                    if let Some(earlier) = self.spool.tombstone(&stream.name, &id)? {
                        tombstone = tombstone.joined(&earlier);
                    }
                    self.spool.write_tombstone(&stream.name, &tombstone)?;
                    if self.spool.remove_task(&stream.name, status, &id)? {
                        removed(&task);
                        report.removed.push(id);
                    }
                }
            }
            let horizon = now
                .to_system()
                .checked_sub(Duration::from_secs(TOMBSTONE_DAYS * 24 * 3600))
                .map(Timestamp::from_system);
            if let Some(horizon) = horizon {
                report.tombstones_pruned += self.spool.prune_tombstones(&stream.name, horizon)?;
            }
        }
        Ok(report)
    }
}
