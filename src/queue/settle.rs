//! Settling the copies of one task that a merge or a copy left behind:
//! reading every copy (including both versions inside a file with git
//! conflict markers), deciding with [`converge`], and storing the result.
//!
//! Invariants kept here:
//! - **Write first, then remove.** The winner is written to its folder
//!   before any other copy is removed, so a crash leaves extra copies that
//!   settle again, never zero copies.
//! - **No bytes are dropped.** A file that holds no readable copy (or a
//!   conflict whose versions cannot both be read) is never removed: it is
//!   moved into `pending/` for adoption, which turns it into a failed task
//!   that keeps the bytes in `original` (under its own id if no readable
//!   copy of the task exists, else as a new task).
//! - **On the fly, only removals.** A listing that meets a duplicate
//!   removes copies that lost and carried nothing (see
//!   [`Queue::settle_safely`]); anything that needs a file rewritten or a
//!   conflict recorded is left to `sparkq doctor --fix`, so `doctor` still
//!   reports it. The one exception is a `pending/` file with conflict
//!   markers met by a claim or peek: it is settled in full
//!   ([`Queue::settle_task`]), since the alternative is failing the task.
//! - **A move never writes over an unsettled copy.** Reports, sweeps and
//!   claims move a task by writing its new copy at the path of its new
//!   state. A merge or a copy can have put another machine's copy of the
//!   same task there (its worker's finish of a rival claim, a late finish
//!   of an earlier attempt), and nothing has settled it yet: `sparkq sync`
//!   settles after the merge, not during it, and workers do not wait for
//!   that. Writing over it would lose that result without a trace (the
//!   results `sync_live` lost under load). So, under the stream lock, a
//!   task found in another folder besides the one being moved is settled
//!   first ([`Queue::settle_before_moving`]); the move then goes on only
//!   from a copy that still stands, and a report from a claim that lost
//!   goes the way of a rival's (see `rival`).

use std::path::PathBuf;

use super::converge::{Candidate, Resolution, converge};
use super::{Queue, Result};
use crate::model::{Name, Task, TaskId, TaskStatus};
use crate::spool::{self, GitMerge, Split, TaskFile};

/// Every copy of one task, as read from its files.
#[derive(Debug, Default)]
pub(super) struct TaskCopies {
    pub(super) files: Vec<TaskFile>,
    pub(super) candidates: Vec<Candidate>,
    /// For each candidate, the index of the file it came from, if any.
    pub(super) origin: Vec<Option<usize>>,
    /// Files holding git conflict markers whose versions were read.
    pub(super) marked: Vec<usize>,
    /// Files that hold no readable copy.
    pub(super) unreadable: Vec<usize>,
}

/// What storing a resolution did.
#[derive(Debug, Default)]
pub(super) struct Applied {
    pub(super) wrote: Option<PathBuf>,
    pub(super) removed: Vec<PathBuf>,
    /// Unreadable files moved into `pending/` for adoption: (from, to).
    pub(super) recovered: Vec<(PathBuf, PathBuf)>,
}

/// Reads the copies of task `id` of `stream` in `files`. A plain file
/// stands for its folder's state; a version recovered from a merge for its
/// own `status`. During a merge, for a task that differs between the two
/// sides or has a path git left unmerged, the pure versions of both sides
/// at every state path are read from git (see `spool::git`), and unmerged
/// files count only as marked. Content that belongs to another task (git
/// paired two tasks' files) is not a copy.
pub(super) fn read_copies(
    spool: &spool::Spool,
    stream: &Name,
    id: &TaskId,
    files: Vec<TaskFile>,
    merge: &GitMerge,
) -> Result<TaskCopies> {
    let mut copies = TaskCopies::default();
    let ours = |task: &Task| task.id == *id && task.stream == *stream;
    let state_paths: Vec<(TaskStatus, PathBuf)> = TaskStatus::ALL
        .iter()
        .map(|s| (*s, spool.state_path(stream, *s).join(id.file_name())))
        .collect();
    let paths: Vec<PathBuf> = state_paths.iter().map(|(_, p)| p.clone()).collect();
    let merged = merge.differs(&paths)
        || files.iter().any(|f| merge.is_unmerged(&f.path))
        || paths.iter().any(|p| merge.is_unmerged(p));
    if merged {
        for (state, path) in &state_paths {
            for bytes in merge.sides_at(path) {
                if let Some(task) = serde_json::from_slice::<Task>(&bytes).ok().filter(ours) {
                    copies.candidates.push(Candidate { state: *state, task });
                    copies.origin.push(None);
                }
            }
        }
    }
    for (i, file) in files.iter().enumerate() {
        // A file git wrote may be a blend of the versions read above (git
        // can merge one side's edit into the other's moved file). The
        // working tree's own changes are a third side, read like any copy:
        // a finish made after the last commit must not lose to both sides.
        if merged && !file.extra && merge.may_be_merged(&file.path) {
            copies.marked.push(i);
            continue;
        }
        let bytes = match spool.read_bytes(&file.path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            // A link, a folder, a FIFO or a huge file under a task's name
            // holds no copy: it is set aside like any unreadable file.
            Err(spool::Error::Foreign { .. }) => {
                copies.unreadable.push(i);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Ok(task) = serde_json::from_slice::<Task>(&bytes) {
            if ours(&task) {
                copies.candidates.push(Candidate {
                    state: file.folder,
                    task,
                });
                copies.origin.push(Some(i));
            } else {
                copies.unreadable.push(i);
            }
            continue;
        }
        // Git pairs files of different tasks that look alike: a version
        // that is another task is its blend with this one, not a copy of
        // it (that task's own versions are settled under its id). The file
        // counts as read if every version parses and one is this task's.
        let versions = match spool::split_conflict(&String::from_utf8_lossy(&bytes)) {
            Split::Versions(a, b) => [a, b]
                .iter()
                .map(|v| serde_json::from_str::<Task>(v).ok())
                .collect::<Option<Vec<_>>>()
                .map(|tasks| tasks.into_iter().filter(ours).collect::<Vec<_>>())
                .filter(|tasks| !tasks.is_empty()),
            Split::Clean | Split::Malformed => None,
        };
        match versions {
            Some(tasks) => copies.add_versions(i, tasks),
            None => copies.unreadable.push(i),
        }
    }
    copies.files = files;
    Ok(copies)
}

impl TaskCopies {
    /// Adds the versions a merge left in file `i`.
    fn add_versions(&mut self, i: usize, tasks: Vec<Task>) {
        for task in tasks {
            self.candidates.push(Candidate {
                state: task.status,
                task,
            });
            self.origin.push(Some(i));
        }
        self.marked.push(i);
    }

    /// Whether the files need settling at all: more than one file, an
    /// extra or unreadable one, conflict markers, content to repair, or a
    /// winner with no file in its folder (read from git only).
    pub(super) fn needs_settling(&self, resolution: Option<&Resolution>) -> bool {
        self.files.len() > 1
            || self.files.iter().any(|f| f.extra)
            || !self.marked.is_empty()
            || !self.unreadable.is_empty()
            || resolution.is_some_and(|r| {
                r.rewrites(&self.candidates) || !self.files.iter().any(|f| !f.extra && f.folder == r.state)
            })
    }
}

impl Queue {
    /// Stores `resolution` for task `id` of `stream`: writes the winner,
    /// then removes every other copy, moving unreadable files into
    /// `pending/` for adoption. The caller holds the stream lock.
    pub(super) fn apply(
        &self,
        stream: &Name,
        id: &TaskId,
        copies: &TaskCopies,
        resolution: Option<&Resolution>,
    ) -> Result<Applied> {
        let mut applied = Applied::default();
        let target = resolution.map(|r| self.spool.state_path(stream, r.state).join(id.file_name()));
        if let (Some(r), Some(target)) = (resolution, &target) {
            let bytes = spool::file_bytes(&r.task);
            if !matches!(self.spool.read_bytes(target), Ok(Some(on_disk)) if on_disk == bytes) {
                spool::write_atomic(target, &bytes, self.spool.fsync())?;
                applied.wrote = Some(target.clone());
            }
        }
        for (i, file) in copies.files.iter().enumerate() {
            if Some(&file.path) == target.as_ref() {
                continue;
            }
            if copies.unreadable.contains(&i) {
                // Another task's content under this name: never adopted as a
                // task to run (it could be run twice); set aside instead.
                if let Some(mismatch) = self.names_another_task(stream, id, &file.path)
                    && let Some(owner) = self.spool.read_stream(stream).ok().flatten()
                {
                    self.set_aside(&owner, &file.path, &mismatch)?;
                    applied.recovered.push((
                        file.path.clone(),
                        self.spool.state_path(stream, TaskStatus::Failed),
                    ));
                    continue;
                }
                let to = self.recovery_path(
                    stream,
                    id,
                    file.folder,
                    resolution.is_none() && i == copies.unreadable[0],
                );
                spool::move_file(&file.path, &to)?;
                applied.recovered.push((file.path.clone(), to));
            } else if spool::remove_file(&file.path)? {
                applied.removed.push(file.path.clone());
            }
        }
        Ok(applied)
    }

    /// The error for a file of task `id` whose content is a readable task
    /// of another id or stream; `None` if it is not that.
    fn names_another_task(&self, stream: &Name, id: &TaskId, path: &std::path::Path) -> Option<spool::Error> {
        let bytes = self.spool.read_bytes(path).ok()??;
        let task = serde_json::from_slice::<Task>(&bytes).ok()?;
        spool::check_name_and_folder(path, &task, id, stream).err()
    }

    /// Where an unreadable copy of `id` found in `folder` goes to be adopted.
    /// With no readable copy anywhere, `pending/.<id>.adopt`: adoption then
    /// keeps the id (as `readopt_corrupt` does). Otherwise a free dropped-file
    /// name, so the bytes become a task of their own.
    fn recovery_path(&self, stream: &Name, id: &TaskId, folder: TaskStatus, keep_id: bool) -> PathBuf {
        let dir = self.spool.state_path(stream, TaskStatus::Queued);
        if keep_id {
            return dir.join(format!(".{id}.adopt"));
        }
        let base = format!("recovered-{id}-from-{}", spool::state_dir(folder));
        (0..)
            .map(|n| match n {
                0 => dir.join(format!("{base}.json")),
                n => dir.join(format!("{base}-{n}.json")),
            })
            .find(|p| !p.exists())
            .unwrap_or_else(|| dir.join(format!("{base}.json")))
    }

    /// The on-the-fly part of settling, run by a listing that met a
    /// duplicate, holding the stream lock: for each task with several copies, removes the
    /// copies that lost and carried nothing worth keeping, when the winner
    /// is already stored as it should be. Returns how many files it removed.
    pub(super) fn settle_safely(&self, stream: &Name) -> Result<usize> {
        let mut removed = self.remove_purged_copies(stream, &self.spool.stream_files(stream)?)?;
        let files = self.spool.stream_files(stream)?;
        for (id, list) in files.tangled() {
            let copies = read_copies(&self.spool, stream, id, list.clone(), &GitMerge::default())?;
            if !copies.marked.is_empty() || !copies.unreadable.is_empty() {
                continue;
            }
            let Some(resolution) = converge(&copies.candidates) else {
                continue;
            };
            // Safe: a plain file in the winner's folder already holds exactly
            // the settled task, so only the other copies go.
            let stored = copies.candidates.iter().zip(&copies.origin).any(|(c, origin)| {
                let plain = origin.is_some_and(|i| !copies.files[i].extra);
                plain && c.state == resolution.state && c.task == resolution.task
            });
            if !stored || !resolution.recorded.is_empty() {
                continue;
            }
            removed += self.apply(stream, id, &copies, Some(&resolution))?.removed.len();
        }
        Ok(removed)
    }

    /// Settles task `id` of `stream` fully (as `doctor --fix` would);
    /// returns whether anything changed. The caller holds the stream lock.
    pub(super) fn settle_task(&self, stream: &Name, id: &TaskId) -> Result<bool> {
        let files = self.spool.stream_files(stream)?;
        let Some(list) = files.tasks.get(id) else {
            return Ok(false);
        };
        let merge = GitMerge::detect(self.spool.root());
        let copies = read_copies(&self.spool, stream, id, list.clone(), &merge)?;
        let resolution = converge(&copies.candidates);
        if !copies.needs_settling(resolution.as_ref()) {
            return Ok(false);
        }
        let applied = self.apply(stream, id, &copies, resolution.as_ref())?;
        Ok(applied.wrote.is_some() || !applied.removed.is_empty() || !applied.recovered.is_empty())
    }

    /// Settles task `id` of `stream` in full if it has a copy in a folder
    /// other than `from` (the one a report, sweep or claim is about to move
    /// it out of); returns whether it did. The caller holds the stream lock
    /// and reads the task again afterwards. See the module doc: a move must
    /// never write over a copy that a merge brought and nothing settled.
    /// Costs one `stat` per folder when there is nothing to settle.
    pub(super) fn settle_before_moving(&self, stream: &Name, id: &TaskId, from: TaskStatus) -> Result<bool> {
        let tangled = TaskStatus::ALL
            .iter()
            .any(|s| *s != from && self.spool.has_task(stream, *s, id));
        Ok(tangled && self.settle_task(stream, id)?)
    }

    /// Whether the copy of `id` in `status` lost to another copy in the
    /// stream by the lattice (SPEC 9). Unreadable copies count for nothing.
    pub(super) fn is_superseded(&self, stream: &Name, id: &TaskId, status: TaskStatus) -> Result<bool> {
        let Ok(Some(this)) = self.spool.read_task(stream, status, id) else {
            return Ok(false);
        };
        self.is_copy_superseded(stream, &this, status)
    }

    /// [`Queue::is_superseded`] for a copy already read from `status`.
    pub(super) fn is_copy_superseded(&self, stream: &Name, this: &Task, status: TaskStatus) -> Result<bool> {
        self.is_copy_superseded_in(stream, this, status, &TaskStatus::ALL)
    }

    /// [`Queue::is_copy_superseded`], looking only in the folders of `others`.
    pub(super) fn is_copy_superseded_in(
        &self,
        stream: &Name,
        this: &Task,
        status: TaskStatus,
        others: &[TaskStatus],
    ) -> Result<bool> {
        let (id, key) = (&this.id, this.lattice_key(status));
        for &other in others {
            if other != status
                && self.spool.has_task(stream, other, id)
                && let Ok(Some(copy)) = self.spool.read_task(stream, other, id)
                && copy.lattice_key(other) > key
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
