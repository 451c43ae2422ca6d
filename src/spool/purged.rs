//! Tombstones: what keeps a purge from being undone by a sync.
//!
//! Purging removes a finished task's file; another machine that still has
//! the file would bring it back at the next sync (git merges "deleted" with
//! "unchanged" cleanly only when nothing else conflicts, and rsync never
//! deletes). So a purge first writes a small tracked file,
//! `streams/<s>/purged/<id>.json`, that every machine honours: a copy of
//! that task of the purged attempt or an earlier one, holding no finish the
//! purged copy did not hold, is removed wherever it turns up, and a dropped
//! file whose id it names is not adopted again.
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
use serde_json::Value;

use super::{Error, Spool, remove_file, write_atomic};
use crate::model::{Conflict, Name, Task, TaskId, TaskStatus, Timestamp};

/// The folder of a stream that holds its tombstones.
pub(crate) const PURGED_DIR: &str = "purged";

/// How long after its task finished a tombstone is kept.
pub(crate) const TOMBSTONE_DAYS: u64 = 30;

/// The record of one purged task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tombstone {
    pub id: TaskId,
    /// The attempt that was purged; a later attempt is not covered.
    pub attempts: u32,
    /// Every finish the purged copy held, its own and those recorded in
    /// its conflicts, each as [`finish_key`]: attempt, state, claim token
    /// and a digest of the result and error. A finish is covered only if
    /// the purge saw that very finish: another one, even by the same claim
    /// (a sweep on another machine auto-fails a claim whose worker then
    /// completes it here), was reported where the purge could not see it,
    /// so the task comes back with it instead of that result being lost.
    /// (A tombstone of an older sparkq recorded claims only; it has no
    /// keys here and covers no finished copy.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finishes: Vec<String>,
    pub finished_at: Timestamp,
}

impl Tombstone {
    /// Whether a copy of the task, found in `state`, holds nothing the
    /// purged copy did not: no later attempt, and no finish (its own or in
    /// its conflicts) that the purged copy did not hold.
    pub(crate) fn covers(&self, task: &Task, state: TaskStatus) -> bool {
        let seen = |c: &Conflict| self.finishes.contains(&finish_key(c));
        task.id == self.id
            && task.attempts <= self.attempts
            && (!state.is_finished() || seen(&Conflict::of(task, state)))
            && task.conflicts.iter().filter(|c| c.status.is_finished()).all(seen)
    }

    /// This tombstone and `other` of the same task as one: the later
    /// attempt, every finish either saw. A purge that meets two copies of
    /// a task (a finish in `done/` and another in `failed/`, left by a
    /// sync before settling) removes both, so its tombstone must cover
    /// both: the second must not overwrite the first.
    pub(crate) fn joined(mut self, other: &Tombstone) -> Tombstone {
        self.attempts = self.attempts.max(other.attempts);
        self.finishes.extend(other.finishes.iter().cloned());
        self.finishes.sort();
        self.finishes.dedup();
        self.finished_at = self.finished_at.max(other.finished_at);
        self
    }

    /// The tombstone of `task`, found finished in `state`, about to be
    /// purged.
    pub(crate) fn of(task: &Task, state: TaskStatus, finished_at: Timestamp) -> Tombstone {
        let mut finishes: Vec<String> = task
            .conflicts
            .iter()
            .filter(|c| c.status.is_finished())
            .cloned()
            .chain(state.is_finished().then(|| Conflict::of(task, state)))
            .map(|c| finish_key(&c))
            .collect();
        finishes.sort();
        finishes.dedup();
        Tombstone {
            id: task.id.clone(),
            attempts: task.attempts,
            finishes,
            finished_at,
        }
    }
}

/// One finish as a tombstone records it: `attempt/state/token/digest`,
/// the digest (64-bit FNV-1a) taken over the result, its keys sorted, and
/// the error. It depends only on the finish, so every machine that purges
/// the same task writes the same tombstone.
fn finish_key(finish: &Conflict) -> String {
    let mut result = finish.result.clone().unwrap_or(Value::Null);
    result.sort_all_objects();
    let outcome = serde_json::to_vec(&(result, &finish.error)).unwrap_or_default();
    let digest = outcome.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{}/{}/{}/{digest:016x}",
        finish.attempt,
        finish.status.as_str(),
        finish.claim_token.as_deref().unwrap_or_default()
    )
}

impl Spool {
    /// The folder of `stream`'s tombstones.
    pub(crate) fn purged_dir(&self, stream: &Name) -> PathBuf {
        self.stream_dir(stream).join(PURGED_DIR)
    }

    /// Writes the tombstone of a task about to be purged.
    pub(crate) fn write_tombstone(&self, stream: &Name, tombstone: &Tombstone) -> Result<(), Error> {
        let path = self.purged_dir(stream).join(tombstone.id.file_name());
        write_atomic(&path, &super::file_bytes(tombstone), self.fsync)
    }

    /// The tombstone of task `id`, if it was purged. A file that cannot be
    /// read as one is ignored (`doctor` reports it).
    pub(crate) fn tombstone(&self, stream: &Name, id: &TaskId) -> Result<Option<Tombstone>, Error> {
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
    pub(crate) fn tombstones(&self, stream: &Name) -> Result<BTreeMap<TaskId, Tombstone>, Error> {
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
    pub(crate) fn prune_tombstones(&self, stream: &Name, horizon: Timestamp) -> Result<usize, Error> {
        let mut pruned = 0;
        for (id, t) in self.tombstones(stream)? {
            if t.finished_at < horizon && remove_file(&self.purged_dir(stream).join(id.file_name()))? {
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Task `tsk_t` at attempt 1, claimed with `token` and finished in
    /// `state` with `note` as its summary or error.
    fn finished(state: TaskStatus, token: &str, note: &str) -> Task {
        let mut task: Task = serde_json::from_value(json!({
            "id": "tsk_t", "stream": "s", "session": "x", "tool_name": "run-bash",
            "task_class": "FAST_SCRIPT", "payload": {}, "status": state, "timeout": 2,
            "attempts": 1, "max_attempts": 1, "claim_token": token,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z",
            "finished_at": "2026-01-01T00:00:01Z",
        }))
        .expect("test task");
        match state {
            TaskStatus::Succeeded => task.result = Some(json!({"summary": note, "n": {"b": 1, "a": 2}})),
            _ => task.error = Some(note.to_owned()),
        }
        task
    }

    fn stone(task: &Task) -> Tombstone {
        Tombstone::of(task, task.status, Timestamp::now())
    }

    #[test]
    fn a_tombstone_covers_the_finishes_it_saw() {
        let done = finished(TaskStatus::Succeeded, "t1", "done");
        assert!(stone(&done).covers(&done, TaskStatus::Succeeded));
        // The same result with its keys in another order is the same finish.
        let mut reordered = done.clone();
        reordered.result = Some(json!({"n": {"a": 2, "b": 1}, "summary": "done"}));
        assert!(stone(&done).covers(&reordered, TaskStatus::Succeeded));
        // Its claimed copy holds no finish: covered.
        assert!(stone(&done).covers(&done, TaskStatus::Running));
    }

    /// A sweep on another machine auto-failed the claim; that copy was
    /// purged here; then the claim's worker completed it with the same
    /// token. The success was never seen by the purge and must come back.
    #[test]
    fn a_finish_of_the_same_claim_that_the_purge_did_not_see_is_not_covered() {
        let auto_failed = finished(TaskStatus::Failed, "t1", "Auto-failed: task exceeded 2x timeout");
        let completed = finished(TaskStatus::Succeeded, "t1", "the real work");
        let tombstone = stone(&auto_failed);
        assert!(tombstone.covers(&auto_failed, TaskStatus::Failed));
        assert!(!tombstone.covers(&completed, TaskStatus::Succeeded));
        // Nor when the unseen finish is kept as a conflict of a seen one.
        let mut settled = auto_failed.clone();
        settled
            .conflicts
            .push(Conflict::of(&completed, TaskStatus::Succeeded));
        assert!(!tombstone.covers(&settled, TaskStatus::Failed));
        // Another claim's finish, or a later attempt: not covered either.
        let other = finished(TaskStatus::Failed, "t2", "Auto-failed: task exceeded 2x timeout");
        assert!(!tombstone.covers(&other, TaskStatus::Failed));
        let mut later = auto_failed.clone();
        later.attempts = 2;
        assert!(!tombstone.covers(&later, TaskStatus::Failed));
    }

    #[test]
    fn two_machines_purging_the_same_task_write_the_same_tombstone() {
        let done = finished(TaskStatus::Succeeded, "t1", "done");
        let rivals = [
            Conflict::of(&finished(TaskStatus::Failed, "t2", "x"), TaskStatus::Failed),
            Conflict::of(&finished(TaskStatus::Succeeded, "t3", "y"), TaskStatus::Succeeded),
        ];
        let (mut here, mut there) = (done.clone(), done);
        here.conflicts.extend(rivals.iter().cloned());
        there.conflicts.extend(rivals.iter().rev().cloned());
        let at = Timestamp::now();
        assert_eq!(
            file_bytes_of(&Tombstone::of(&here, TaskStatus::Succeeded, at)),
            file_bytes_of(&Tombstone::of(&there, TaskStatus::Succeeded, at))
        );
    }

    fn file_bytes_of(t: &Tombstone) -> Vec<u8> {
        crate::spool::file_bytes(t)
    }
}
