//! Peek and claim: handing out the oldest pending task.
//!
//! **Exactly once.** A claim renames `pending/<id>.json` to
//! `claimed/<id>.json`; a rename succeeds for one caller only, so however
//! many processes race, each task is handed to one of them. The stream lock
//! is held from the listing to the rename, so on one machine claimers also
//! take tasks strictly in id (FIFO) order.
//!
//! **The rewrite.** The claimed copy is then rewritten with the worker,
//! token and start time. Without fsync that happens under the same hold of
//! the lock. With fsync, flushing the new content is the slow part, and
//! holding the lock through it would queue every other claimer behind the
//! disk, so the claim is split in two halves (see `spool::claiming`):
//! 1. Under the lock: rename into `claimed/`, then create the claim's
//!    marker, the temp file its new content goes into.
//! 2. Without the lock: write the content into the marker and flush it.
//! 3. Under the lock again, compare and swap: if the claimed file still
//!    holds exactly the content the claim renamed, the marker is renamed
//!    over it. Otherwise someone changed it in between, which only a
//!    tokenless report or `doctor --fix` can do (sweeps leave a claim in
//!    flight alone while its marker is held and fresh): if the file is gone, the
//!    claim is void and the next task is tried; if it is there and the
//!    marker too, no one else can hold it (only a sweep puts a claim back,
//!    and it removes the marker when it does), so it is claimed from what
//!    it holds now, written under the lock.
//!
//! Between 1 and 3 the claimed file's content lags its folder (it says
//! queued): every reader corrects that in memory, as after a crash between
//! the rename and the rewrite. The claimer holds a lock on its marker
//! until it is done; a claimer killed in between leaves a marker nobody
//! holds (the kernel dropped the lock), and the next sweep removes it and
//! repairs the file, so the task is taken back as a dead claim like any
//! other. A marker older than [`spool::STALE_TEMP_AGE`] counts as dead too
//! (a claimer stopped that long, or a file system without locks). Only the flush of the `claimed/` folder waits
//! until after the last hold of the lock, and before the claim is
//! returned: a power loss before it can only undo a claim nobody has been
//! handed yet.
//!
//! In a long-lived process the ids to try come from its in-memory index
//! (see `index`) instead of a listing of `pending/`; the rename still
//! decides, so the index can never hand out a task twice.

use super::{Error, Queue, Result, TaskBrief};
use crate::model::{MAX_WORKER_BYTES, Name, Stream, Task, TaskId, TaskStatus, Timestamp};
use crate::spool;

impl Queue {
    /// The next task a claim would take, in the shape a claim returns,
    /// changing nothing but adopting dropped files and sweeping dead claims.
    pub fn peek(&self, stream: &str) -> Result<Option<TaskBrief>> {
        let stream = self.stream(stream)?;
        let lock = self.spool.lock_stream(&stream.name)?;
        let (scan, _) = self.touch_indexed(&stream, &lock)?;
        let task = self.first_pending(&stream, scan, &lock)?;
        Ok(task.map(|task| self.brief(&stream, task)))
    }

    /// The task a claim would take, starting from `scan`: the oldest
    /// pending task that no newer copy supersedes. Files that cannot be
    /// read as a task on the way are re-adopted or set aside. The caller
    /// holds `lock`.
    pub(super) fn first_pending(
        &self,
        stream: &Stream,
        mut scan: spool::PendingScan,
        lock: &spool::StreamLock,
    ) -> Result<Option<Task>> {
        loop {
            for id in &scan.oldest {
                match self.spool.read_task(&stream.name, TaskStatus::Queued, id) {
                    Ok(Some(task)) if self.is_copy_superseded(&stream.name, &task, TaskStatus::Queued)? => {
                        continue;
                    }
                    Ok(Some(task)) => return Ok(Some(task)),
                    Ok(None) => continue,
                    Err(spool::Error::Corrupt { .. }) => self.readopt_corrupt(stream, id, lock)?,
                    Err(e @ (spool::Error::Foreign { .. } | spool::Error::Mismatch { .. })) => {
                        self.set_aside(stream, &self.pending_path(stream, id), &e)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if !scan.has_more() {
                return Ok(None);
            }
            let after = scan.oldest.last().cloned();
            scan = self.scan_after(stream, after.as_ref())?;
        }
    }

    /// Claims the oldest pending task of an active stream for `worker`, or
    /// returns `None` if nothing is pending.
    pub fn claim(&self, stream: &str, worker: &str) -> Result<Option<TaskBrief>> {
        if worker.len() > MAX_WORKER_BYTES {
            return Err(Error::invalid(
                "worker",
                format!(
                    "the name is {} bytes, over the limit of {MAX_WORKER_BYTES}",
                    worker.len()
                ),
                "Name the worker briefly, e.g. 'claude-1' or 'host:pid'.",
            ));
        }
        let stream = self.active_stream(stream)?;
        let lock = self.spool.lock_stream(&stream.name)?;
        let (mut scan, _) = self.touch_indexed(&stream, &lock)?;
        // Each new scan starts after the last id of the one before, so the
        // loop ends even when every id it met had to be skipped.
        loop {
            for id in &scan.oldest {
                let task = match self.spool.read_task(&stream.name, TaskStatus::Queued, id) {
                    Ok(Some(task)) => task,
                    Ok(None) => continue,
                    Err(spool::Error::Corrupt { .. }) => {
                        self.readopt_corrupt(&stream, id, &lock)?;
                        return self.claim_after_repair(stream.name.as_str(), worker, lock);
                    }
                    // Never handed out: not a file SparkQ reads, or content
                    // that names another task or stream (the name and
                    // folder are the truth).
                    Err(e @ (spool::Error::Foreign { .. } | spool::Error::Mismatch { .. })) => {
                        self.set_aside(&stream, &self.pending_path(&stream, id), &e)?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                match self.claim_task(&stream, task, worker)? {
                    None => {}
                    Some(Claimed::Written(claimed, flush)) => {
                        self.index_claimed(&stream.name, &claimed.task.id);
                        self.note_claimed(&stream.name, &claimed.task.id);
                        drop(lock);
                        return self.flush_claim(&stream, claimed, flush).map(Some);
                    }
                    Some(Claimed::InFlight {
                        renamed,
                        task,
                        marker,
                    }) => {
                        self.index_claimed(&stream.name, &task.id);
                        self.note_claimed(&stream.name, &task.id);
                        drop(lock);
                        return match self.finish_in_flight(&stream, &renamed, task, marker)? {
                            Some(claimed) => Ok(Some(claimed)),
                            // Finished or moved by someone else in between:
                            // the next task.
                            None => self.claim(stream.name.as_str(), worker),
                        };
                    }
                }
            }
            if !scan.has_more() {
                return Ok(None);
            }
            let after = scan.oldest.last().cloned();
            scan = self.scan_after(&stream, after.as_ref())?;
        }
    }

    /// Moves one pending task to `claimed/` for `worker` and, without
    /// fsync, rewrites it, leaving the folder flush to the caller; with
    /// fsync, starts the claim's rewrite (see the module doc). `None` if it
    /// must be skipped. The caller holds the stream lock.
    fn claim_task(&self, stream: &Stream, task: Task, worker: &str) -> Result<Option<Claimed>> {
        let id = &task.id.clone();
        // A newer copy of this id by the lattice (SPEC 9): never run the
        // task twice. The next listing that meets the duplicate (or `doctor
        // --fix`) settles it and removes the stale pending copy; `touch`
        // does not settle. A copy in `claimed/` is found by the rename
        // itself, below.
        let finished = [TaskStatus::Succeeded, TaskStatus::Failed];
        if self.is_copy_superseded_in(&stream.name, &task, TaskStatus::Queued, &finished)? {
            return Ok(None);
        }
        match self.spool.claim_rename(&stream.name, id)? {
            spool::ClaimMove::Moved => {}
            spool::ClaimMove::Gone => return Ok(None),
            // A claimed copy a sync brought back. If it is newer, this
            // pending copy is skipped as above; if older (it may carry
            // recorded conflicts), the rename would write over it: settle
            // it first and let the next claim look again (see `settle`).
            spool::ClaimMove::Occupied => {
                let running = [TaskStatus::Running];
                if !self.is_copy_superseded_in(&stream.name, &task, TaskStatus::Queued, &running)? {
                    self.settle_task(&stream.name, id)?;
                }
                return Ok(None);
            }
        }
        let renamed = task;
        let mut task = renamed.clone();
        let token = new_token();
        task.claim(worker, token.clone(), Timestamp::now());
        // Invariant: a claim that returns an error leaves the task queued.
        // After the rename, a failed rewrite (a full disk) renames it back.
        if self.spool.fsync() {
            return match self.spool.begin_claim(&stream.name, id, &token) {
                Ok(marker) => Ok(Some(Claimed::InFlight {
                    renamed,
                    task,
                    marker,
                })),
                Err(e) => Err(self.put_back(&stream.name, id, e.into())),
            };
        }
        let flush = match self.spool.write_task_unflushed(&task) {
            Ok(flush) => flush,
            Err(e) => return Err(self.put_back(&stream.name, id, e.into())),
        };
        Ok(Some(Claimed::Written(self.brief(stream, task), flush)))
    }

    /// Flushes the `claimed/` folder after a claim's rewrite, holding no
    /// lock: the next claimer may go ahead while this one waits on the
    /// disk. A power loss before the flush can only undo a claim nobody has
    /// been handed yet.
    fn flush_claim(
        &self,
        stream: &Stream,
        claimed: TaskBrief,
        flush: spool::FolderFlush,
    ) -> Result<TaskBrief> {
        if let Err(e) = flush.flush() {
            // Nobody holds this claim's token: put the task back rather
            // than leave it running for no one.
            let _lock = self.spool.lock_stream(&stream.name)?;
            return Err(self.put_back(&stream.name, &claimed.task.id, e.into()));
        }
        Ok(claimed)
    }

    /// Steps 2 and 3 of a claim with fsync (see the module doc): writes and
    /// flushes `task`, the claimed copy, into `marker` without the lock,
    /// then swaps it in under the lock if the claimed file still holds
    /// `renamed`, the content the claim moved. `None` if the claim came to
    /// nothing (the task was finished or moved in between).
    fn finish_in_flight(
        &self,
        stream: &Stream,
        renamed: &Task,
        task: Task,
        mut marker: spool::InFlightClaim,
    ) -> Result<Option<TaskBrief>> {
        let id = task.id.clone();
        if let Err(e) = marker.write(&spool::file_bytes(&task)) {
            let _lock = self.spool.lock_stream(&stream.name)?;
            // Put back only a claim still in flight: a sweep that removed
            // the marker has taken the task back already.
            if marker.is_marked() {
                return Err(self.put_back(&stream.name, &id, e.into()));
            }
            return Err(e.into());
        }
        let lock = self.spool.lock_stream(&stream.name)?;
        let holds = self.spool.read_bytes(marker.target())?;
        let unchanged = holds
            .as_deref()
            .and_then(|bytes| serde_json::from_slice::<Task>(bytes).ok())
            .is_some_and(|now| now == *renamed);
        if unchanged {
            let flush = match marker.commit_unflushed() {
                Ok(flush) => flush,
                // A sweep removed the marker (it had turned stale) but left
                // the file as it was (it lost to a newer copy): not ours.
                Err(spool::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(None);
                }
                Err(e) => return Err(self.put_back(&stream.name, &id, e.into())),
            };
            drop(lock);
            return self
                .flush_claim(stream, self.brief(stream, task), flush)
                .map(Some);
        }
        // Without its marker, a sweep has taken the claim over.
        if !marker.is_marked() {
            return Ok(None);
        }
        drop(marker);
        // Changed in place while in flight (a tokenless heartbeat, `doctor
        // --fix`): still this claim's, so it is claimed from what it holds.
        let Ok(Some(mut current)) = self.spool.read_task(&stream.name, TaskStatus::Running, &id) else {
            return Ok(None);
        };
        let worker = task.claimed_by.as_deref().unwrap_or_default();
        current.claim(
            worker,
            task.claim_token.clone().unwrap_or_else(new_token),
            Timestamp::now(),
        );
        if let Err(e) = self.spool.write_task(&current) {
            return Err(self.put_back(&stream.name, &id, e.into()));
        }
        Ok(Some(self.brief(stream, current)))
    }

    fn pending_path(&self, stream: &Stream, id: &TaskId) -> std::path::PathBuf {
        self.spool
            .state_path(&stream.name, TaskStatus::Queued)
            .join(id.file_name())
    }

    /// Undoes a claim whose rename succeeded but whose rewrite or flush
    /// failed with `error`: the task goes back to `pending/` (content that
    /// lags is repaired there, the folder wins) and `error` is returned. If
    /// even that fails, the error says where the task is and what happens
    /// to it. The caller holds the stream lock.
    fn put_back(&self, stream: &Name, id: &TaskId, error: Error) -> Error {
        match self
            .spool
            .rename_task(stream, id, TaskStatus::Running, TaskStatus::Queued)
        {
            Ok(_) => error,
            Err(back) => Error::ClaimNotUndone {
                id: id.to_string(),
                error: Box::new(error),
                back,
            },
        }
    }

    fn claim_after_repair(
        &self,
        stream: &str,
        worker: &str,
        lock: spool::StreamLock,
    ) -> Result<Option<TaskBrief>> {
        drop(lock);
        self.claim(stream, worker)
    }
}

/// What [`Queue::claim_task`] did with a task it renamed into `claimed/`.
// Made and taken apart once per claim: boxing the tasks saves nothing.
#[allow(clippy::large_enum_variant)]
enum Claimed {
    /// Rewritten (without fsync); the folder still needs its flush.
    Written(TaskBrief, spool::FolderFlush),
    /// Started (with fsync): `task` is the claimed copy to write into
    /// `marker`, and `renamed` what the claimed file holds until then.
    InFlight {
        renamed: Task,
        task: Task,
        marker: spool::InFlightClaim,
    },
}

/// A fresh claim token: 16 random hex digits.
fn new_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Name, TaskId};
    use crate::queue::test_support::{complete_ok, new_task, queue_in};
    use crate::spool::SCAN_OLDEST;

    /// A task of stream `a` renamed into `claimed/` and not rewritten: what
    /// a claim leaves between its two halves, or a crash between them.
    fn renamed_not_rewritten(queue: &Queue, timeout: Option<u64>) -> (Task, Name) {
        let new = new_task(timeout);
        let task = queue.enqueue("a", new).unwrap();
        let stream = Name::parse("a").unwrap();
        assert!(
            queue
                .spool
                .rename_task(&stream, &task.id, TaskStatus::Queued, TaskStatus::Running)
                .unwrap()
        );
        (task, stream)
    }

    #[test]
    fn claim_scans_again_past_finished_duplicates_and_keeps_fifo_order() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        let tasks = queue
            .enqueue_batch("a", (0..SCAN_OLDEST + 4).map(|_| new_task(None)).collect())
            .unwrap();
        // A merge left finished copies of more tasks than one scan keeps.
        let stream = Name::parse("a").unwrap();
        let done = queue.spool.state_path(&stream, TaskStatus::Succeeded);
        for task in &tasks[..=SCAN_OLDEST] {
            let mut finished = task.clone();
            finished.attempts = 1;
            finished.status = TaskStatus::Succeeded;
            let bytes = serde_json::to_vec_pretty(&finished).unwrap();
            std::fs::write(done.join(task.id.file_name()), bytes).unwrap();
        }

        let claimed: Vec<TaskId> = std::iter::from_fn(|| queue.claim("a", "w").unwrap())
            .map(|c| c.task.id)
            .collect();
        let expected: Vec<TaskId> = tasks[SCAN_OLDEST + 1..].iter().map(|t| t.id.clone()).collect();
        assert_eq!(claimed, expected);
        // Claims skip the superseded copies; the next listing removes them.
        assert_eq!(queue.spool.scan_pending(&stream).unwrap().total, SCAN_OLDEST + 1);
        queue.list_tasks(&crate::queue::TaskFilter::default()).unwrap();
        assert_eq!(queue.spool.scan_pending(&stream).unwrap().total, 0);
    }

    #[test]
    fn a_claim_never_renames_over_a_copy_already_in_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        let new = new_task(None);
        let queued = queue.enqueue("a", new).unwrap();
        let stream = Name::parse("a").unwrap();
        let pending = queue.spool.state_path(&stream, TaskStatus::Queued);
        let claimed = queue.spool.state_path(&stream, TaskStatus::Running);
        let queued_bytes = std::fs::read(pending.join(queued.id.file_name())).unwrap();

        // A newer claimed copy, and the stale queued copy a sync brought
        // back: the pending copy is skipped, the claim left as it was.
        let first = queue.claim("a", "w1").unwrap().unwrap();
        let claimed_bytes = std::fs::read(claimed.join(queued.id.file_name())).unwrap();
        std::fs::write(pending.join(queued.id.file_name()), &queued_bytes).unwrap();
        assert_eq!(queue.claim("a", "w2").unwrap(), None);
        assert_eq!(
            std::fs::read(claimed.join(queued.id.file_name())).unwrap(),
            claimed_bytes,
            "the claim of {} is untouched",
            first.task.id
        );

        // An older claimed copy (attempt 1) beside a re-queued one (waiting
        // for attempt 2): settled first, never written over unread; the
        // task is then handed out once, for attempt 2.
        let mut requeued = first.task.clone();
        requeued.status = TaskStatus::Queued;
        requeued.claimed_by = None;
        requeued.claim_token = None;
        requeued.started_at = None;
        std::fs::write(
            pending.join(queued.id.file_name()),
            serde_json::to_vec_pretty(&requeued).unwrap(),
        )
        .unwrap();
        let mut handed = Vec::new();
        for _ in 0..3 {
            handed.extend(queue.claim("a", "w3").unwrap());
        }
        assert_eq!(handed.len(), 1, "handed out once: {handed:?}");
        assert_eq!(handed[0].task.attempts, 2);
        assert_eq!(handed[0].task.claimed_by.as_deref(), Some("w3"));
    }

    #[test]
    fn the_next_look_repairs_a_claimed_file_whose_content_lags() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        // A crash between the claim's rename and its rewrite.
        let (task, stream) = renamed_not_rewritten(&queue, None);

        assert_eq!(queue.peek("a").unwrap(), None);
        let path = queue
            .spool
            .state_path(&stream, TaskStatus::Running)
            .join(task.id.file_name());
        let on_disk: Task = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(on_disk.status, TaskStatus::Running);
        assert!(on_disk.started_at.is_some());
    }

    #[test]
    fn a_sweep_leaves_a_claim_in_flight_alone_until_its_marker_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        // A claimer between the halves of its claim (see the module doc):
        // renamed, marker created, content still the queued one, and the
        // task's time long past (its content would make it dead at once).
        let (task, stream) = renamed_not_rewritten(&queue, Some(1));
        let marker = queue
            .spool
            .begin_claim(&stream, &task.id, "0123456789abcdef")
            .unwrap();
        let claimed = queue
            .spool
            .state_path(&stream, TaskStatus::Running)
            .join(task.id.file_name());
        let queued_bytes = std::fs::read(&claimed).unwrap();
        let later = Timestamp::now().saturating_add(std::time::Duration::from_secs(3600));

        let swept = queue
            .sweep_dead_locked(&queue.stream("a").unwrap(), later)
            .unwrap();
        assert!(swept.is_empty(), "a claim in flight is not taken back");
        assert_eq!(std::fs::read(&claimed).unwrap(), queued_bytes, "nor repaired");
        assert!(marker.is_marked());

        // The claimer died: once its marker is stale, the next sweep removes
        // it and treats the file as any crash between rename and rewrite.
        let old = std::time::SystemTime::now() - spool::STALE_TEMP_AGE - std::time::Duration::from_secs(60);
        let path = std::fs::read_dir(claimed.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| spool::is_claim_marker(p.file_name().unwrap().to_str().unwrap()))
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let swept = queue
            .sweep_dead_locked(&queue.stream("a").unwrap(), later)
            .unwrap();
        assert!(!marker.is_marked(), "the stale marker is removed");
        assert_eq!(
            swept.requeued,
            std::slice::from_ref(&task.id),
            "and the dead claim taken back"
        );
        drop(marker);
        assert_eq!(queue.claim("a", "w").unwrap().unwrap().task.id, task.id);
    }

    #[test]
    fn a_marker_its_claimer_no_longer_holds_is_a_dead_claim_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        // A claimer killed between the halves of its claim: renamed, marker
        // made, content still queued; the kernel released its lock.
        let (task, stream) = renamed_not_rewritten(&queue, None);
        let claimed_dir = queue.spool.state_path(&stream, TaskStatus::Running);
        let marker = claimed_dir.join(format!(".{}.0123456789abcdef.claiming.tmp", task.id));
        std::fs::write(&marker, b"{\"id\":").unwrap();

        // A fresh marker, but no one holds it: the next look repairs the
        // file as after any crash between rename and rewrite.
        assert_eq!(queue.peek("a").unwrap(), None);
        assert!(!marker.exists(), "the dead claimer's marker is removed");
        let on_disk: Task =
            serde_json::from_slice(&std::fs::read(claimed_dir.join(task.id.file_name())).unwrap()).unwrap();
        assert_eq!(on_disk.status, TaskStatus::Running);
        assert!(on_disk.started_at.is_some());
    }

    #[test]
    fn odd_files_under_a_markers_name_never_wedge_a_look() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        for make in ["fifo", "symlink", "folder"] {
            let (task, stream) = renamed_not_rewritten(&queue, None);
            let claimed_dir = queue.spool.state_path(&stream, TaskStatus::Running);
            let marker = claimed_dir.join(format!(".{}.0123456789abcdef.claiming.tmp", task.id));
            match make {
                "fifo" => {
                    rustix::fs::mkfifoat(rustix::fs::CWD, &marker, rustix::fs::Mode::from_raw_mode(0o600))
                        .unwrap();
                }
                "symlink" => std::os::unix::fs::symlink("/dev/zero", &marker).unwrap(),
                _ => std::fs::create_dir(&marker).unwrap(),
            }
            // Held by no claimer: the look repairs the task, and returns.
            assert_eq!(queue.peek("a").unwrap(), None, "{make}");
            let on_disk: Task =
                serde_json::from_slice(&std::fs::read(claimed_dir.join(task.id.file_name())).unwrap())
                    .unwrap();
            assert_eq!(on_disk.status, TaskStatus::Running, "{make}");
        }
    }

    #[test]
    fn a_stale_token_changes_nothing_and_leaves_no_staged_copy() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        let new = new_task(None);
        queue.enqueue("a", new).unwrap();
        let claimed = queue.claim("a", "w").unwrap().unwrap();
        let id = claimed.task.id.as_str();
        let report = |token: &str| crate::queue::Report {
            token: Some(token.to_owned()),
            ..Default::default()
        };

        let refused = queue.complete(id, json!({"summary": "late"}), report("0000"));
        assert!(matches!(refused, Err(crate::queue::Error::WrongToken { .. })));
        let done = queue
            .spool
            .state_path(&Name::parse("a").unwrap(), TaskStatus::Succeeded);
        let in_done = || {
            std::fs::read_dir(&done)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name() != crate::spool::KEEP_FILE)
                .count()
        };
        assert_eq!(in_done(), 0, "no task and no temp file in done/");

        let token = claimed.task.claim_token.clone().unwrap();
        let task = queue
            .complete(id, json!({"summary": "ok"}), report(&token))
            .unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert_eq!(in_done(), 1);
    }

    #[test]
    fn racing_workers_get_every_task_once_each_in_fifo_order() {
        // With fsync on, a claim flushes its folder after releasing the lock
        // and a complete stages its copy before taking it: race them.
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        assert!(queue.spool.fsync());
        let tasks = queue
            .enqueue_batch("a", (0..60).map(|_| new_task(None)).collect())
            .unwrap();

        let claimed: Vec<Vec<TaskId>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    let queue = &queue;
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        while let Some(c) = queue.claim("a", &format!("w{w}")).unwrap() {
                            complete_ok(queue, &c);
                            mine.push(c.task.id);
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });

        for mine in &claimed {
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "each worker in FIFO order");
        }
        let mut all: Vec<TaskId> = claimed.into_iter().flatten().collect();
        all.sort();
        let expected: Vec<TaskId> = tasks.iter().map(|t| t.id.clone()).collect();
        assert_eq!(all, expected, "every task claimed exactly once");
        let stream = Name::parse("a").unwrap();
        assert_eq!(
            queue.spool.list_ids(&stream, TaskStatus::Succeeded).unwrap(),
            expected
        );
        assert!(
            queue
                .spool
                .list_ids(&stream, TaskStatus::Running)
                .unwrap()
                .is_empty()
        );
    }
}
