//! Tombstones: what keeps a purge from being undone by a sync.
//!
//! Purging removes a finished task's file; another machine that still has
//! the file would bring it back at the next sync (git merges "deleted" with
//! "unchanged" cleanly only when nothing else conflicts, and rsync never
//! deletes). So a purge first writes a small tracked file,
//! `streams/<s>/purged/<id>.json`, that every machine honours: a copy of
//! that task of the purged attempt or an earlier one is removed wherever
//! it turns up, and a dropped file whose id it names is not adopted again.
//!
//! The content depends only on the task (its id, attempt and finish), so
//! two machines that purge the same task write the same bytes and their
//! tombstones merge cleanly. A tombstone is removed by `purge` itself once
//! the task finished longer ago than [`TOMBSTONE_DAYS`]: a machine that
//! stays unsynced for longer can bring the task back.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Error, Spool, remove_file, write_atomic};
use crate::model::{Name, TaskId, Timestamp};

/// The folder of a stream that holds its tombstones.
pub const PURGED_DIR: &str = "purged";

/// How long after its task finished a tombstone is kept.
pub const TOMBSTONE_DAYS: u64 = 30;

/// The record of one purged task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: TaskId,
    /// The attempt that was purged; a later attempt is not covered.
    pub attempts: u32,
    /// The claims whose finishes the purged copy held: its own and those
    /// recorded in its conflicts (`""` for a finish without a claim, such
    /// as a rejected drop). A copy holding any other finish (reported on
    /// a machine that had not synced yet) is not covered, so that result
    /// is never lost: the task comes back with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finished_claims: Vec<String>,
    pub finished_at: Timestamp,
}

impl Tombstone {
    /// Whether a copy of the task, found in `state`, holds nothing the
    /// purged copy did not: no later attempt, and no finish (its own or in
    /// its conflicts) by a claim the purged copy did not know finished.
    pub fn covers(&self, task: &crate::model::Task, state: crate::model::TaskStatus) -> bool {
        let known =
            |token: &Option<String>| self.finished_claims.contains(&token.clone().unwrap_or_default());
        task.id == self.id
            && task.attempts <= self.attempts
            && (!state.is_finished() || known(&task.claim_token))
            && task
                .conflicts
                .iter()
                .filter(|c| c.status.is_finished())
                .all(|c| known(&c.claim_token))
    }

    /// The tombstone of `task`, about to be purged.
    pub fn of(task: &crate::model::Task, finished_at: Timestamp) -> Tombstone {
        let mut finished_claims: Vec<String> = task
            .conflicts
            .iter()
            .filter(|c| c.status.is_finished())
            .map(|c| c.claim_token.clone().unwrap_or_default())
            .chain([task.claim_token.clone().unwrap_or_default()])
            .collect();
        finished_claims.sort();
        finished_claims.dedup();
        Tombstone {
            id: task.id.clone(),
            attempts: task.attempts,
            finished_claims,
            finished_at,
        }
    }
}

impl Spool {
    /// The folder of `stream`'s tombstones.
    pub fn purged_dir(&self, stream: &Name) -> PathBuf {
        self.stream_dir(stream).join(PURGED_DIR)
    }

    /// Writes the tombstone of a task about to be purged.
    pub fn write_tombstone(&self, stream: &Name, tombstone: &Tombstone) -> Result<(), Error> {
        let path = self.purged_dir(stream).join(tombstone.id.file_name());
        write_atomic(&path, &super::file_bytes(tombstone), self.fsync)
    }

    /// The tombstone of task `id`, if it was purged. A file that cannot be
    /// read as one is ignored (`doctor` reports it).
    pub fn tombstone(&self, stream: &Name, id: &TaskId) -> Result<Option<Tombstone>, Error> {
        let path = self.purged_dir(stream).join(id.file_name());
        let bytes = match self.read_bytes(&path) {
            Ok(Some(bytes)) => bytes,
            // Not a regular file (a link, a FIFO): no tombstone.
            Ok(None) | Err(Error::Foreign { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(serde_json::from_slice::<Tombstone>(&bytes)
            .ok()
            .filter(|t| t.id == *id))
    }

    /// Every readable tombstone of `stream`, by id.
    pub fn tombstones(&self, stream: &Name) -> Result<BTreeMap<TaskId, Tombstone>, Error> {
        let dir = self.purged_dir(stream);
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(Error::io(&dir, "list", e)),
        };
        let mut found = BTreeMap::new();
        for entry in listing {
            let entry = entry.map_err(|e| Error::io(&dir, "list", e))?;
            let Some(id) = entry.file_name().to_str().and_then(TaskId::from_file_name) else {
                continue;
            };
            if let Some(t) = self.tombstone(stream, &id)? {
                found.insert(id, t);
            }
        }
        Ok(found)
    }

    /// Removes the tombstones of `stream` whose task finished before
    /// `horizon`; returns how many.
    pub fn prune_tombstones(&self, stream: &Name, horizon: Timestamp) -> Result<usize, Error> {
        let mut pruned = 0;
        for (id, t) in self.tombstones(stream)? {
            if t.finished_at < horizon && remove_file(&self.purged_dir(stream).join(id.file_name()))? {
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}
