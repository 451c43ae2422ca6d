//! Task files: listing a state folder in id order, reading, writing,
//! moving and finding them.

use std::collections::BinaryHeap;
use std::ffi::OsString;
use std::io::ErrorKind;

use super::listing::{for_each_entry, for_each_entry_ino, for_each_name};
use super::meta::to_json;
use super::{Error, FolderFlush, Spool, Staged, stage, write_atomic};
use crate::model::{Name, Task, TaskId, TaskStatus, Timestamp};

/// How many of the oldest pending ids one scan keeps, in order. A claim
/// almost always takes the first; the rest cover files that vanish or turn
/// out to be finished duplicates, and a claim that runs past them scans again.
pub(crate) const SCAN_OLDEST: usize = 8;

/// A task file in a `claimed/` folder, as its listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimedFile {
    pub(crate) id: TaskId,
    /// Its inode number. Every SparkQ write to a claimed file renames a new
    /// file in, so a changed file shows a new number without being read.
    pub(crate) ino: u64,
}

/// What one look at a stream's `pending/` folder found.
#[derive(Debug, Default)]
pub(crate) struct PendingScan {
    /// The oldest task files (at most [`SCAN_OLDEST`]), in id (FIFO) order.
    pub oldest: Vec<TaskId>,
    /// How many task files the folder holds.
    pub total: usize,
    /// Files dropped in by hand, waiting for adoption (file names).
    pub drops: Vec<String>,
    /// Adoptions a crash interrupted (`.<id>.adopt` file names).
    pub adopting: Vec<String>,
    /// Entries that are not regular files (links, folders, FIFOs) or whose
    /// names are not UTF-8, whatever they are named: set aside on adoption.
    pub foreign: Vec<OsString>,
    /// Whether the folder holds extra copies (`<id>.json~…`) a sync left.
    pub extras: bool,
    /// The newest task ids of a list page, newest first, when the look was
    /// asked for them (see [`NewestAsk`]): a one-shot list reads `pending/`
    /// once for its look and its page.
    pub newest: Option<Vec<TaskId>>,
}

/// A list page's ask of a folder listing: its `n` newest task ids older
/// than `before`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewestAsk<'a> {
    pub(crate) n: usize,
    pub(crate) before: Option<&'a TaskId>,
}

/// The `n` newest ids older than `before` among the names offered, kept in
/// a bounded heap: names that cannot make the page are rejected as plain
/// strings, without parsing, so a page of 100k names costs no sort.
struct Newest<'a> {
    ask: NewestAsk<'a>,
    heap: BinaryHeap<std::cmp::Reverse<TaskId>>,
}

impl<'a> Newest<'a> {
    fn new(ask: NewestAsk<'a>) -> Newest<'a> {
        Newest {
            ask,
            heap: BinaryHeap::with_capacity(ask.n.saturating_add(1).min(4096)),
        }
    }

    /// Offers the file stem `stem` (a task file's name without `.json`).
    fn offer(&mut self, stem: &str) {
        let NewestAsk { n, before } = self.ask;
        if n == 0 || before.is_some_and(|b| stem >= b.as_str()) {
            return;
        }
        if self.heap.len() == n && self.heap.peek().is_some_and(|min| stem <= min.0.as_str()) {
            return;
        }
        if let Some(id) = TaskId::parse(stem) {
            self.heap.push(std::cmp::Reverse(id));
            if self.heap.len() > n {
                self.heap.pop();
            }
        }
    }

    /// The ids kept, newest first.
    fn into_ids(self) -> Vec<TaskId> {
        // Ascending order of `Reverse` is descending order of ids.
        self.heap.into_sorted_vec().into_iter().map(|r| r.0).collect()
    }
}

impl PendingScan {
    /// Whether the folder holds task files beyond [`PendingScan::oldest`].
    pub(crate) fn has_more(&self) -> bool {
        self.total > self.oldest.len()
    }
}

impl Spool {
    /// Looks at `pending/` once: the oldest task ids in FIFO order, plus
    /// files dropped in.
    ///
    /// It runs on every claim, so it reads the folder in one pass and keeps
    /// only the [`SCAN_OLDEST`] smallest ids (a bounded max-heap): no
    /// allocation per task file and no sort of the whole folder, so its cost
    /// grows with the folder's length and nothing faster.
    pub(crate) fn scan_pending(&self, stream: &Name) -> Result<PendingScan, Error> {
        self.scan_pending_after(stream, None)
    }

    /// Like [`Spool::scan_pending`], and the page `newest` asks for too, in
    /// [`PendingScan::newest`], from the same single read of the folder.
    pub(crate) fn scan_pending_for(
        &self,
        stream: &Name,
        newest: Option<NewestAsk<'_>>,
    ) -> Result<PendingScan, Error> {
        self.scan_pending_keeping(stream, None, SCAN_OLDEST, newest)
    }

    /// Like [`Spool::scan_pending`], but only task ids after `after` count:
    /// a claim that had to skip every id of one scan looks further on
    /// without meeting them again, so its loop always ends.
    pub(crate) fn scan_pending_after(
        &self,
        stream: &Name,
        after: Option<&TaskId>,
    ) -> Result<PendingScan, Error> {
        self.scan_pending_keeping(stream, after, SCAN_OLDEST, None)
    }

    /// Like [`Spool::scan_pending`], but [`PendingScan::oldest`] holds every
    /// task id of the folder: the one listing of `pending/` an index
    /// rebuild needs, ids and drops alike.
    pub(crate) fn scan_pending_all(&self, stream: &Name) -> Result<PendingScan, Error> {
        self.scan_pending_keeping(stream, None, usize::MAX, None)
    }

    fn scan_pending_keeping(
        &self,
        stream: &Name,
        after: Option<&TaskId>,
        keep: usize,
        newest: Option<NewestAsk<'_>>,
    ) -> Result<PendingScan, Error> {
        let dir = self.state_path(stream, TaskStatus::Queued);
        let mut scan = PendingScan::default();
        let mut newest = newest.map(Newest::new);
        let mut oldest: BinaryHeap<TaskId> = BinaryHeap::with_capacity(keep.min(SCAN_OLDEST) + 1);
        for_each_entry(&dir, |raw, kind| {
            let is_dot = raw.as_encoded_bytes().starts_with(b".");
            let name = match raw.to_str() {
                // An `.adopt` entry is an adoption to finish, whatever it is
                // (adoption renames links, folders and FIFOs too).
                Some(name) if kind.is_none() || is_dot => name,
                // Not a regular file, or a name that is not UTF-8: never a
                // task, and never silently ignored (temp names aside).
                _ => {
                    if !is_dot {
                        scan.foreign.push(raw.to_owned());
                    }
                    return;
                }
            };
            if kind.is_none()
                && let Some(stem) = name.strip_suffix(".json")
                && TaskId::is_valid(stem)
            {
                if after.is_some_and(|a| stem <= a.as_str()) {
                    return;
                }
                scan.total += 1;
                if let Some(newest) = &mut newest {
                    newest.offer(stem);
                }
                let is_older = oldest.len() < keep || oldest.peek().is_some_and(|m| stem < m.as_str());
                if is_older && let Some(id) = TaskId::parse(stem) {
                    oldest.push(id);
                    if oldest.len() > keep {
                        oldest.pop();
                    }
                }
            } else if name.starts_with('.') || super::extra_copy_id(name).is_some() {
                scan.extras |= kind.is_none() && super::extra_copy_id(name).is_some();
                // Extra copies (`<id>.json~…`) are settled, never adopted.
                if name.ends_with(".adopt") {
                    scan.adopting.push(name.to_owned());
                }
            } else {
                scan.drops.push(name.to_owned());
            }
        })?;
        scan.oldest = oldest.into_sorted_vec();
        scan.newest = newest.map(Newest::into_ids);
        Ok(scan)
    }

    /// The ids of `stream`'s tasks in `status`, in id order.
    pub(crate) fn list_ids(&self, stream: &Name, status: TaskStatus) -> Result<Vec<TaskId>, Error> {
        let dir = self.state_path(stream, status);
        let mut ids = Vec::new();
        for_each_name(&dir, |name| ids.extend(TaskId::from_file_name(name)))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The files in `stream`'s `claimed/` folder, in id order, and the
    /// names of the markers of claims in flight there (see `claiming`):
    /// what a sweep needs from one read of the folder.
    pub(crate) fn list_claims(&self, stream: &Name) -> Result<(Vec<ClaimedFile>, Vec<String>), Error> {
        let dir = self.state_path(stream, TaskStatus::Running);
        let mut claims = Vec::new();
        let mut markers = Vec::new();
        for_each_entry_ino(&dir, |raw, kind, ino| {
            let Some(name) = raw.to_str().filter(|_| kind.is_none()) else {
                return;
            };
            match TaskId::from_file_name(name) {
                Some(id) => claims.push(ClaimedFile { id, ino }),
                None if super::is_claim_marker(name) => markers.push(name.to_owned()),
                None => {}
            }
        })?;
        claims.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok((claims, markers))
    }

    /// Like [`Spool::list_ids`], and whether the folder also holds extra
    /// copies (`<id>.json~…`) left by a sync: what an index of the folder
    /// needs from one read of it.
    pub(crate) fn list_ids_and_extras(
        &self,
        stream: &Name,
        status: TaskStatus,
    ) -> Result<(Vec<TaskId>, bool), Error> {
        let dir = self.state_path(stream, status);
        let mut ids = Vec::new();
        let mut extras = false;
        for_each_name(&dir, |name| match TaskId::from_file_name(name) {
            Some(id) => ids.push(id),
            None => extras |= super::extra_copy_id(name).is_some(),
        })?;
        ids.sort_unstable();
        Ok((ids, extras))
    }

    /// The `n` newest ids in `stream`'s `status` folder that are older than
    /// `before`, newest first.
    ///
    /// One pass over the folder keeping only the best `n` (a bounded heap),
    /// so a page of a folder holding 100k tasks costs one directory read,
    /// not a sort of every name; names that cannot make the page are
    /// rejected as plain strings, without parsing. The flag says whether the
    /// folder also holds extra copies (`<id>.json~…`) left by a sync, which
    /// a listing must settle before it can trust the page.
    pub(crate) fn newest_ids(
        &self,
        stream: &Name,
        status: TaskStatus,
        before: Option<&TaskId>,
        n: usize,
    ) -> Result<(Vec<TaskId>, bool), Error> {
        if n == 0 {
            return Ok((Vec::new(), false));
        }
        let mut newest = Newest::new(NewestAsk { n, before });
        let mut extra_copies = false;
        for_each_name(&self.state_path(stream, status), |name| {
            match name.strip_suffix(".json") {
                Some(stem) => newest.offer(stem),
                None => extra_copies |= super::extra_copy_id(name).is_some(),
            }
        })?;
        Ok((newest.into_ids(), extra_copies))
    }

    /// How many task files `stream`'s `status` folder holds, without
    /// collecting or sorting their ids.
    pub(crate) fn count_ids(&self, stream: &Name, status: TaskStatus) -> Result<usize, Error> {
        let mut count = 0;
        for_each_name(&self.state_path(stream, status), |name| {
            if TaskId::from_file_name(name).is_some() {
                count += 1;
            }
        })?;
        Ok(count)
    }

    /// Reads a task from the `status` folder, `None` if it is not there.
    ///
    /// The copy returned always agrees with its folder (the folder wins):
    /// content that lags behind a rename is corrected in memory; the file
    /// itself is rewritten (with [`Spool::write_task`]) by the next sweep
    /// of dead claims or settling, under the stream lock.
    pub(crate) fn read_task(
        &self,
        stream: &Name,
        status: TaskStatus,
        id: &TaskId,
    ) -> Result<Option<Task>, Error> {
        Ok(self.read_task_lagging(stream, status, id)?.map(|(task, _)| task))
    }

    /// Like [`Spool::read_task`]; the flag says whether the content lagged
    /// its folder, so that a caller holding the stream lock can rewrite the
    /// file from the one read.
    pub(crate) fn read_task_lagging(
        &self,
        stream: &Name,
        status: TaskStatus,
        id: &TaskId,
    ) -> Result<Option<(Task, bool)>, Error> {
        let path = self.state_path(stream, status).join(id.file_name());
        let Some(bytes) = self.read_bytes(&path)? else {
            return Ok(None);
        };
        let mut task: Task = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            what: "task file",
            message: e.to_string(),
        })?;
        check_name_and_folder(&path, &task, id, stream)?;
        let lagged = agree_with_folder(&mut task, status);
        Ok(Some((task, lagged)))
    }

    /// Writes `task` atomically into the folder of its status, replacing any
    /// copy there. Every caller holds the stream lock, except enqueue, whose
    /// id is new.
    pub(crate) fn write_task(&self, task: &Task) -> Result<(), Error> {
        let path = self
            .state_path(&task.stream, task.status)
            .join(task.id.file_name());
        write_atomic(&path, &to_json(task), self.fsync)
    }

    /// Like [`Spool::write_task`], but the folder is not flushed yet, and
    /// the copy replaced is freed only then: the caller runs the returned
    /// [`FolderFlush`] (see [`Staged::commit_replacing`]).
    pub(crate) fn write_task_unflushed(&self, task: &Task) -> Result<FolderFlush, Error> {
        self.stage_task(task)?.commit_replacing()
    }

    /// Like [`Spool::write_task`], but only [staged](super::stage): the new
    /// copy is written and flushed, and appears when committed.
    pub(crate) fn stage_task(&self, task: &Task) -> Result<Staged, Error> {
        let path = self
            .state_path(&task.stream, task.status)
            .join(task.id.file_name());
        stage(&path, &to_json(task), self.fsync)
    }

    /// Renames a task file from one state folder to another; `false` if it
    /// was not in `from` (someone else moved it first).
    pub(crate) fn rename_task(
        &self,
        stream: &Name,
        id: &TaskId,
        from: TaskStatus,
        to: TaskStatus,
    ) -> Result<bool, Error> {
        let source = self.state_path(stream, from).join(id.file_name());
        let target_dir = self.state_path(stream, to);
        let target = target_dir.join(id.file_name());
        let mut result = std::fs::rename(&source, &target);
        if matches!(&result, Err(e) if e.kind() == ErrorKind::NotFound) && source.exists() {
            super::make_missing_folder(&target_dir)
                .map_err(|e| Error::io(&target_dir, "create folder", e))?;
            result = std::fs::rename(&source, &target);
        }
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&source, "move", e)),
        }
    }

    /// The claim's move of task `id` from `pending/` to `claimed/`, which
    /// never writes over a copy already in `claimed/` (a sync may have
    /// brought one back; the caller settles it first).
    ///
    /// One `renameat2(RENAME_NOREPLACE)`, which checks for the copy and
    /// moves in one step. Where the file system or kernel does not support
    /// the flag (`EINVAL`, `ENOSYS`: some network file systems, other
    /// systems), a `stat` of the target and a plain rename do the same:
    /// the caller holds the stream lock, and every move into `claimed/`
    /// happens under it, so nothing can appear in between.
    pub(crate) fn claim_rename(&self, stream: &Name, id: &TaskId) -> Result<ClaimMove, Error> {
        let source = self.state_path(stream, TaskStatus::Queued).join(id.file_name());
        let target_dir = self.state_path(stream, TaskStatus::Running);
        let target = target_dir.join(id.file_name());
        let mut result = rename_noreplace(&source, &target);
        if matches!(&result, Err(e) if e.kind() == ErrorKind::NotFound) && source.exists() {
            super::make_missing_folder(&target_dir)
                .map_err(|e| Error::io(&target_dir, "create folder", e))?;
            result = rename_noreplace(&source, &target);
        }
        match result {
            Ok(()) => Ok(ClaimMove::Moved),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(ClaimMove::Gone),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(ClaimMove::Occupied),
            Err(e) => Err(Error::io(&source, "move", e)),
        }
    }

    /// Deletes one copy of a task; `false` if it was not there.
    pub(crate) fn remove_task(&self, stream: &Name, status: TaskStatus, id: &TaskId) -> Result<bool, Error> {
        let path = self.state_path(stream, status).join(id.file_name());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, "remove", e)),
        }
    }

    /// Whether `stream` has a copy of task `id` in `status`.
    pub(crate) fn has_task(&self, stream: &Name, status: TaskStatus, id: &TaskId) -> bool {
        // Not `exists`, which follows a link: the entry itself counts.
        std::fs::symlink_metadata(self.state_path(stream, status).join(id.file_name())).is_ok()
    }

    /// Every copy of task `id` in the spool: stream and state folder.
    pub(crate) fn locate(&self, id: &TaskId) -> Result<Vec<(Name, TaskStatus)>, Error> {
        let mut found = Vec::new();
        for stream in self.stream_names()? {
            for status in TaskStatus::ALL {
                if self.has_task(&stream, status, id) {
                    found.push((stream.clone(), status));
                }
            }
        }
        Ok(found)
    }
}

/// What [`Spool::claim_rename`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimMove {
    /// The task is in `claimed/` now.
    Moved,
    /// It was no longer in `pending/`: someone else moved it first.
    Gone,
    /// Nothing moved: `claimed/` already holds a copy of it.
    Occupied,
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`).
fn rename_noreplace(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(ErrorKind::AlreadyExists.into());
    }
    std::fs::rename(from, to)
}

/// Checks that `task`, read from `path`, is the task its file name (`id`)
/// and stream folder say it is.
///
/// The name and folder are the truth: a file whose content names another
/// task or stream is never read as this task (it could move or overwrite
/// that other task's files, or create the other stream's folders).
pub(crate) fn check_name_and_folder(
    path: &std::path::Path,
    task: &Task,
    id: &TaskId,
    stream: &Name,
) -> Result<(), Error> {
    if task.id == *id && task.stream == *stream {
        return Ok(());
    }
    Err(Error::Mismatch {
        path: path.to_owned(),
        message: format!(
            "its content says it is task {} of stream {}, but its name and folder say {id} of stream {stream}",
            task.id, task.stream
        ),
    })
}

/// Makes a task's content agree with the folder it was found in (see
/// [`Task::agree_with_state`]), stamping the repair; returns whether
/// anything changed.
fn agree_with_folder(task: &mut Task, folder: TaskStatus) -> bool {
    let changed = task.agree_with_state(folder);
    if changed {
        task.updated_at = Timestamp::now();
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_ids_pages_a_folder_newest_first_and_counts_only_task_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::new(dir.path(), false);
        let stream = Name::parse("s").expect("name");
        let done = spool.state_path(&stream, TaskStatus::Succeeded);
        std::fs::create_dir_all(&done).expect("mkdir");
        let ids: Vec<TaskId> = (0..7).map(|_| TaskId::generate()).collect();
        for id in &ids {
            std::fs::write(done.join(id.file_name()), "{}").expect("write");
        }
        for junk in ["notes.txt", ".tmp.json", "dropped.json", ".tsk_x.json.tmp"] {
            std::fs::write(done.join(junk), "x").expect("write");
        }
        let newest = |before: Option<&TaskId>, n| {
            spool
                .newest_ids(&stream, TaskStatus::Succeeded, before, n)
                .expect("list")
                .0
        };
        let mut expected = ids.clone();
        expected.reverse();
        assert_eq!(newest(None, 3), expected[..3]);
        assert_eq!(newest(Some(&expected[2]), 3), expected[3..6]);
        assert_eq!(newest(Some(&expected[5]), 3), expected[6..]);
        assert_eq!(newest(None, 100), expected);
        assert!(newest(None, 0).is_empty());
        assert!(newest(Some(&expected[6]), 3).is_empty());
        assert_eq!(spool.count_ids(&stream, TaskStatus::Succeeded).expect("count"), 7);
        assert_eq!(
            spool.count_ids(&stream, TaskStatus::Failed).expect("count"),
            0,
            "a missing folder holds none"
        );
    }

    #[test]
    fn scan_keeps_the_oldest_ids_in_order_and_counts_all() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), false);
        let stream = Name::parse("a").unwrap();
        let pending = spool.state_path(&stream, TaskStatus::Queued);
        std::fs::create_dir_all(&pending).unwrap();
        let ids: Vec<TaskId> = (0..SCAN_OLDEST * 3).map(|_| TaskId::generate()).collect();
        for id in ids.iter().rev() {
            std::fs::write(pending.join(id.file_name()), "{}").unwrap();
        }
        for other in ["dropped.json", ".x.adopt", ".y.tmp"] {
            std::fs::write(pending.join(other), "{}").unwrap();
        }

        let scan = spool.scan_pending(&stream).unwrap();
        assert_eq!(scan.oldest, ids[..SCAN_OLDEST]);
        assert_eq!(scan.total, ids.len());
        assert!(scan.has_more());
        assert_eq!(scan.drops, ["dropped.json"]);
        assert_eq!(scan.adopting, [".x.adopt"]);
        assert!(!scan.extras);

        // The full scan an index rebuild takes: every id, and the same
        // answers as listing the ids on their own.
        std::fs::write(pending.join(format!("{}~theirs", ids[4].file_name())), "{}").unwrap();
        let all = spool.scan_pending_all(&stream).unwrap();
        let (listed, extras) = spool.list_ids_and_extras(&stream, TaskStatus::Queued).unwrap();
        assert_eq!(all.oldest, ids);
        assert_eq!(all.oldest, listed);
        assert!(!all.has_more());
        assert!(all.extras && extras, "an extra copy a sync left");
        assert_eq!(all.drops, ["dropped.json"]);
        assert_eq!(all.adopting, [".x.adopt"]);
    }
}
