//! The task-list rows a long-lived process served last, kept by file, so
//! that the next page reads a row's file only when it changed.
//!
//! A page of 50 tasks read 50 files (an open, a `statx`, two reads and a
//! close each, then the JSON parse of what may be a task with megabytes
//! of output): about 250 of the 287 system calls of a server's first-page
//! request at 100,000 tasks. A row kept here costs one `lstat` instead.
//!
//! **The file stays the truth.** A row is used only while its file is the
//! one it was read from: same inode (SparkQ never writes a task file in
//! place, every write renames a new file over it), same size, same
//! modification time (a person's edit in place). A row is kept only when
//! the file had not changed for [`SETTLED`] when it was read, and was the
//! same file after the read as before: a later change of the file then
//! gets a modification time later than the kept one, even on a file
//! system whose clock moves in ticks, and even if the new file reuses the
//! inode number of the old. What a row says of time (`stale`) is worked
//! out again at each use.
//!
//! Bounded: at most [`CAPACITY`] rows; when full it starts again empty
//! (the pages people look at are the newest few, read again at once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::lock;
use super::summary::FileIdent;
use crate::model::{Name, Task, TaskId, TaskListing, TaskStatus, Timestamp};
use crate::spool::{self, Spool};

/// The most rows kept: 20 pages of the largest size. A row holds at most
/// ~1.2 kB of text (a 500-character summary and error, a 200-character
/// key), so at most ~25 MB; a few MB for usual tasks.
const CAPACITY: usize = 20_000;

/// How long a file must have been unchanged for its row to be kept:
/// longer than a file system's clock tick (a jiffy, at most 10 ms on
/// Linux), with room to spare.
const SETTLED: Duration = Duration::from_millis(50);

/// The rows of task files, by path (see the module doc).
#[derive(Debug, Default)]
pub(in crate::queue) struct ListingCache {
    rows: Mutex<HashMap<PathBuf, Row>>,
}

#[derive(Debug)]
struct Row {
    file: FileIdent,
    listing: TaskListing,
    /// For a running task, when it was last alive and its timeout: its
    /// `stale` flag at the time of use.
    alive: Option<(Timestamp, Duration)>,
}

impl Row {
    fn of(file: FileIdent, task: Task, now: Timestamp) -> Row {
        let alive =
            (task.status == TaskStatus::Running).then(|| (task.last_alive(), task.timeout_duration()));
        Row {
            file,
            listing: TaskListing::of(task, now),
            alive,
        }
    }

    /// The row as a list shows it at `now` (what `Task::is_stale_at`
    /// says of the task it was read from).
    fn at(&self, now: Timestamp) -> TaskListing {
        let mut listing = self.listing.clone();
        listing.stale = self
            .alive
            .is_some_and(|(last, timeout)| now.since(last) > timeout);
        listing
    }
}

impl ListingCache {
    /// The list row of task `id` in `stream`'s folder for `status`, as
    /// `Spool::read_task` then `TaskListing::of` would make it at `now`;
    /// `None` when that file is gone.
    pub(in crate::queue) fn row(
        &self,
        spool: &Spool,
        stream: &Name,
        status: TaskStatus,
        id: &TaskId,
        now: Timestamp,
    ) -> Result<Option<TaskListing>, spool::Error> {
        let path = spool.state_path(stream, status).join(id.file_name());
        let Some(before) = FileIdent::at(&path) else {
            // Gone (or not readable as a file): the read says which.
            return Ok(spool
                .read_task(stream, status, id)?
                .map(|t| TaskListing::of(t, now)));
        };
        if let Some(row) = lock(&self.rows).get(&path)
            && row.file == before
        {
            return Ok(Some(row.at(now)));
        }
        let Some(task) = spool.read_task(stream, status, id)? else {
            return Ok(None);
        };
        let row = Row::of(before, task, now);
        let listing = row.at(now);
        if settled(&path, before) {
            let mut rows = lock(&self.rows);
            if rows.len() >= CAPACITY {
                rows.clear();
            }
            rows.insert(path, row);
        }
        Ok(Some(listing))
    }
}

#[cfg(test)]
impl ListingCache {
    /// How many rows are kept.
    pub(super) fn len(&self) -> usize {
        lock(&self.rows).len()
    }
}

/// Whether the file at `path` is still `before` and was last changed at
/// least [`SETTLED`] ago.
fn settled(path: &Path, before: FileIdent) -> bool {
    FileIdent::at(path) == Some(before)
        && SystemTime::now()
            .duration_since(before.modified_at())
            .is_ok_and(|age| age >= SETTLED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::NewTask;
    use crate::queue::test_support::{new_task, queue_in as queue};

    /// A task whose list row shows "x" as its key.
    fn new(timeout: Option<u64>) -> NewTask {
        NewTask {
            payload: serde_json::json!({"script": "x"}),
            ..new_task(timeout)
        }
    }

    /// A file unchanged for a moment: its row is kept and served without
    /// a read; any change to the file (a rewrite by rename, an edit in
    /// place of the same size) is seen at the next use.
    #[test]
    fn a_kept_row_is_served_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let id = q.enqueue("a", new(None)).unwrap().id;
        let stream = Name::parse("a").unwrap();
        let path = q
            .spool
            .state_path(&stream, TaskStatus::Queued)
            .join(id.file_name());
        let cache = ListingCache::default();
        let row = |now| {
            cache
                .row(&q.spool, &stream, TaskStatus::Queued, &id, now)
                .unwrap()
                .unwrap()
        };
        let now = Timestamp::now();
        // Too new to keep: read, not kept.
        assert_eq!(row(now).payload_key.as_deref(), Some("x"));
        assert!(lock(&cache.rows).is_empty());
        std::thread::sleep(SETTLED * 2);
        assert_eq!(row(now).payload_key.as_deref(), Some("x"));
        assert_eq!(lock(&cache.rows).len(), 1);
        // Served from the cache: a stand-in row proves no read happened.
        lock(&cache.rows).get_mut(&path).unwrap().listing.tool_name = "kept".into();
        assert_eq!(row(now).tool_name, "kept");
        // An edit in place, same size: the next use reads the file.
        let text = std::fs::read_to_string(&path).unwrap().replace("\"x\"", "\"y\"");
        std::fs::write(&path, text).unwrap();
        let fresh = row(now);
        assert_eq!(
            (fresh.tool_name.as_str(), fresh.payload_key.as_deref()),
            ("run-bash", Some("y"))
        );
        // Gone: no row, whatever was kept.
        std::thread::sleep(SETTLED * 2);
        let _ = row(now);
        std::fs::remove_file(&path).unwrap();
        assert!(
            cache
                .row(&q.spool, &stream, TaskStatus::Queued, &id, now)
                .unwrap()
                .is_none()
        );
    }

    /// `stale` is worked out at each use, not kept from the first read.
    #[test]
    fn a_kept_running_row_turns_stale_with_time() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        q.enqueue("a", new(Some(30))).unwrap();
        let claimed = q.claim("a", "w").unwrap().unwrap().task;
        let stream = Name::parse("a").unwrap();
        let cache = ListingCache::default();
        std::thread::sleep(SETTLED * 2);
        let now = Timestamp::now();
        let later = now.saturating_add(Duration::from_secs(31));
        let row = |at| {
            cache
                .row(&q.spool, &stream, TaskStatus::Running, &claimed.id, at)
                .unwrap()
                .unwrap()
        };
        assert!(!row(now).stale);
        assert_eq!(lock(&cache.rows).len(), 1);
        assert!(row(later).stale);
        assert!(!row(now).stale);
    }
}
