//! Doctor for purged tasks that a sync brought back: a copy of a task
//! whose tombstone (see `spool::Tombstone`) covers its attempt is removed,
//! so a purge sticks on every machine. A later attempt of the task is not
//! covered and is settled as usual.

use super::doctor::{DoctorReport, FindingKind};
use super::{Queue, Result};
use crate::model::{Name, Task, TaskId};
use crate::spool::{self, Split, TaskFile, Tombstone};

impl Queue {
    /// Reports (and with `fix` removes) the copies in `list` of purged task
    /// `id`; returns the copies that are not covered, for the usual checks.
    pub(super) fn check_purged(
        &self,
        id: &TaskId,
        list: &[TaskFile],
        tombstone: &Tombstone,
        fix: bool,
        report: &mut DoctorReport,
    ) -> Result<Vec<TaskFile>> {
        let mut rest = Vec::new();
        for file in list {
            if !is_covered(&self.spool, file, tombstone)? {
                rest.push(file.clone());
                continue;
            }
            report.add(
                FindingKind::PurgedBack,
                self.rel(&file.path),
                format!(
                    "{id} was purged (attempt {}); a sync brought this copy back",
                    tombstone.attempts
                ),
                Some("remove it: the purge stands".into()),
            );
            if let Some(f) = report.findings.last_mut() {
                f.task = Some(id.clone());
            }
            if fix {
                spool::remove_file(&file.path)?;
                super::doctor::mark_fixed(report);
            }
        }
        Ok(rest)
    }

    /// Removes the copies of purged tasks among `files` without a report
    /// (the on-the-fly settling of listings); returns how many.
    pub(super) fn remove_purged_copies(&self, stream: &Name, files: &spool::StreamFiles) -> Result<usize> {
        let tombstones = self.spool.tombstones(stream)?;
        let mut removed = 0;
        for (id, tombstone) in &tombstones {
            for file in files.tasks.get(id).into_iter().flatten() {
                if is_covered(&self.spool, file, tombstone)? && spool::remove_file(&file.path)? {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Whether a side of the merge in progress holds a version of task `id`
/// that `tombstone` does not cover (see [`Tombstone::covers`]).
pub(super) fn merge_holds_unseen(
    spool: &spool::Spool,
    stream: &Name,
    id: &TaskId,
    merge: &spool::GitMerge,
    tombstone: &Tombstone,
) -> bool {
    crate::model::TaskStatus::ALL.iter().any(|state| {
        merge
            .sides_at(&spool.state_path(stream, *state).join(id.file_name()))
            .iter()
            .filter_map(|bytes| serde_json::from_slice::<Task>(bytes).ok())
            .any(|task| task.id == *id && !tombstone.covers(&task, *state))
    })
}

/// Whether every version the file holds of the task is covered by its
/// tombstone (see [`Tombstone::covers`]); a plain file stands for its
/// folder's state, a version between conflict markers for its own. A file
/// that holds no readable version is not covered: its bytes go through the
/// usual recovery.
fn is_covered(spool: &spool::Spool, file: &TaskFile, tombstone: &Tombstone) -> Result<bool> {
    let bytes = match spool.read_bytes(&file.path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) | Err(spool::Error::Foreign { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if let Ok(task) = serde_json::from_slice::<Task>(&bytes) {
        return Ok(tombstone.covers(&task, file.folder));
    }
    Ok(match spool::split_conflict(&String::from_utf8_lossy(&bytes)) {
        Split::Versions(a, b) => [a, b]
            .iter()
            .all(|v| serde_json::from_str::<Task>(v).is_ok_and(|t| tombstone.covers(&t, t.status))),
        Split::Clean | Split::Malformed => false,
    })
}
