//! The in-memory index of a long-lived process: per stream, the pending ids
//! in FIFO order and the running ids with the time each claim turns dead,
//! kept current by file-system events, so that a claim or a peek costs the
//! same at 100,000 pending tasks or 1,000 running ones as at ten.
//!
//! The server, the watchers, `sparkq mcp` and `claim --wait` live long
//! enough to keep one ([`Queue::start_index`]); a one-shot CLI call reads
//! the folders, as before.
//!
//! **The folder always overrules; the index is a cache that can never hand
//! out a task twice.** The index only proposes which ids to try, oldest
//! first. A claim still takes a task by renaming its file out of
//! `pending/` holding the stream lock (see `claim`), and a rename succeeds
//! for one caller only: an id the index still lists after another process
//! took it fails the rename and the claim moves on to the next id. Nor can
//! the index make a task look absent: when it runs out of ids, or holds
//! too few to be worth it, the claim reads the folder (cheap when the
//! folder is as short as the index thinks), and what the folder holds is
//! claimed.
//!
//! How it stays current:
//! - One recursive watch on `spool/streams/`. An event about a task file is
//!   not trusted for what it says happened: the file is looked up
//!   (`lstat`) when the event is handled, so the index converges to the
//!   folder whatever order or number of events arrive.
//! - A kernel queue that overflowed, a watch error, or a state folder that
//!   was replaced (a git checkout, rsync) marks the index stale; so does age
//!   ([`INDEX_RECHECK`]). A stale stream is rebuilt from its folders on its
//!   next look, through the same full look a one-shot call makes (adopting
//!   drops, sweeping every claim).
//! - Files dropped into `pending/` by hand are adopted by the full look, so
//!   while one waits there the look takes the folder path.
//!
//! Dead claims are swept only when one can be due: the index knows when
//! each running task's claim turns dead (reading each claimed file once per
//! change, not on every look), and the sweep runs when the earliest of
//! those times has passed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::{Queue, Result, SweepReport};
use crate::model::{Name, Stream, TaskId, TaskStatus, Timestamp};
use crate::spool::{self, PendingScan, SCAN_OLDEST, StreamLock};

/// How long an index is trusted without a look at the folders: the safety
/// net for events that were lost without the kernel saying so.
pub const INDEX_RECHECK: Duration = Duration::from_secs(30);

/// The live index of one spool. Cloned queues share it.
pub struct Index {
    shared: Arc<Shared>,
    /// Dropping it stops the events.
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("streams_dir", &self.shared.streams_dir)
            .finish_non_exhaustive()
    }
}

/// What the watcher thread and the queue share.
struct Shared {
    streams_dir: PathBuf,
    streams: Mutex<HashMap<String, Arc<Mutex<StreamIndex>>>>,
}

/// What the index knows of one stream.
#[derive(Debug, Default)]
struct StreamIndex {
    /// When the stream was last rebuilt from its folders; `None`: it must be.
    checked_at: Option<Instant>,
    /// The ids of the task files in `pending/`, in FIFO order.
    pending: BTreeSet<TaskId>,
    /// `pending/` holds something to adopt (a dropped file, an interrupted
    /// adoption, an entry that is not a regular file).
    drops: bool,
    /// The ids in `claimed/`, each with the moments its claim turns stale
    /// and dead; `None` until the file is read (it is new or it changed).
    running: BTreeMap<TaskId, Option<Alive>>,
    /// The ids in `done/` and `failed/`, for listing pages and counts.
    done: BTreeSet<TaskId>,
    failed: BTreeSet<TaskId>,
    /// A state folder holds an extra copy (`<id>.json~…`) from a sync:
    /// listings take the folder path, which settles it.
    extras: bool,
}

/// When a running claim turns stale and dead, as its file said.
#[derive(Debug, Clone, Copy)]
struct Alive {
    stale_at: Timestamp,
    dead_at: Timestamp,
}

impl StreamIndex {
    fn is_current(&self) -> bool {
        self.checked_at.is_some_and(|at| at.elapsed() < INDEX_RECHECK)
    }

    /// The oldest pending ids after `after`, as a scan; its `total` is the
    /// number of ids the index holds, so a claim that skips every id asks
    /// again (see [`Queue::scan_after`]) until the index runs out and the
    /// folder has the last word.
    fn scan_after(&self, after: Option<&TaskId>) -> PendingScan {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        PendingScan {
            oldest: self
                .pending
                .range((from, Bound::Unbounded))
                .take(SCAN_OLDEST)
                .cloned()
                .collect(),
            total: self.pending.len(),
            ..PendingScan::default()
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Index {
    /// Starts indexing the spool at `root`: watches `root/streams/`
    /// (created if missing). Streams are read on their first look.
    pub fn watch(root: &Path) -> notify::Result<Index> {
        let streams_dir = root.join("streams");
        std::fs::create_dir_all(&streams_dir).map_err(notify::Error::io)?;
        let shared = Arc::new(Shared {
            streams_dir: streams_dir.clone(),
            streams: Mutex::new(HashMap::new()),
        });
        let events = shared.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            events.observe(event);
        })?;
        watcher.watch(&streams_dir, RecursiveMode::Recursive)?;
        Ok(Index {
            shared,
            _watcher: watcher,
        })
    }

    /// The spool folder this index watches.
    pub fn spool_root(&self) -> Option<&Path> {
        self.shared.streams_dir.parent()
    }

    /// The entry of `stream`, created (stale) on first use.
    fn stream(&self, stream: &Name) -> Arc<Mutex<StreamIndex>> {
        lock(&self.shared.streams)
            .entry(stream.as_str().to_owned())
            .or_default()
            .clone()
    }
}

impl Shared {
    /// Applies one file-system event.
    fn observe(&self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) if !event.need_rescan() => event,
            // Events were lost: nothing the index holds can be trusted.
            _ => return self.mark_all_stale(),
        };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            self.observe_path(path);
        }
    }

    fn mark_all_stale(&self) {
        let streams: Vec<_> = lock(&self.streams).values().cloned().collect();
        for stream in streams {
            lock(&stream).checked_at = None;
        }
    }

    /// Brings the index in line with what `path` is now.
    fn observe_path(&self, path: &Path) {
        let Ok(relative) = path.strip_prefix(&self.streams_dir) else {
            return;
        };
        let parts: Option<Vec<&str>> = relative
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        let Some(parts) = parts else { return };
        let Some(stream) = parts.first() else {
            // The streams folder itself: everything may have changed.
            return self.mark_all_stale();
        };
        // Streams nobody has looked at yet are read on their first look.
        let Some(entry) = lock(&self.streams).get(*stream).cloned() else {
            return;
        };
        let mut index = lock(&entry);
        match parts[1..] {
            // The stream folder or one of its state folders was created,
            // removed or replaced: files may have come or gone unseen.
            [] => index.checked_at = None,
            [folder] if folder == "pending" || folder == "claimed" => index.checked_at = None,
            [folder] if folder == "done" || folder == "failed" => index.checked_at = None,
            [_, file] if spool::extra_copy_id(file).is_some() => index.extras = true,
            ["pending", file] => observe_pending(&mut index, path, file),
            [folder @ ("done" | "failed"), file] => {
                if let Some(id) = TaskId::from_file_name(file) {
                    let exists = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
                    let set = if folder == "done" {
                        &mut index.done
                    } else {
                        &mut index.failed
                    };
                    if exists {
                        set.insert(id);
                    } else {
                        set.remove(&id);
                    }
                }
            }
            ["claimed", file] => {
                if let Some(id) = TaskId::from_file_name(file) {
                    if std::fs::symlink_metadata(path).is_ok() {
                        // New or changed (a heartbeat, a new claim): read
                        // again before the next sweep decision.
                        index.running.insert(id, None);
                    } else {
                        index.running.remove(&id);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Applies an event about `pending/<file>`.
fn observe_pending(index: &mut StreamIndex, path: &Path, file: &str) {
    let found = std::fs::symlink_metadata(path).ok();
    if let Some(id) = TaskId::from_file_name(file) {
        match found {
            Some(meta) if meta.is_file() => {
                index.pending.insert(id);
            }
            // Not a regular file: never a task; adoption sets it aside.
            Some(_) => {
                index.pending.remove(&id);
                index.drops = true;
            }
            None => {
                index.pending.remove(&id);
            }
        }
        return;
    }
    // Temp files of writers and extra copies from a sync are never adopted;
    // an interrupted adoption and anything else dropped in are.
    let is_temp = file.starts_with('.') && !file.ends_with(".adopt");
    if found.is_some() && !is_temp && spool::extra_copy_id(file).is_none() {
        index.drops = true;
    }
}

/// Two sweeps' reports as one.
fn merge(mut first: SweepReport, second: SweepReport) -> SweepReport {
    first.requeued.extend(second.requeued);
    first.failed.extend(second.failed);
    first.next_dead = second.next_dead;
    first
}

impl Queue {
    /// Keeps an in-memory index of this queue's spool from now on (see the
    /// `index` module); for long-lived processes. Clones made afterwards
    /// share it. An error (no inotify watches left) leaves the queue
    /// reading its folders, as a one-shot call does.
    pub fn start_index(&mut self) -> notify::Result<()> {
        if self.index.is_none() {
            self.index = Some(Arc::new(Index::watch(self.spool.root())?));
        }
        Ok(())
    }

    /// Uses `index`, kept by the caller across queues of the same project
    /// (`sparkq mcp` makes a queue per call); ignored if it watches another
    /// spool.
    pub fn with_index(mut self, index: Arc<Index>) -> Queue {
        if index.spool_root() == Some(self.spool.root()) {
            self.index = Some(index);
        }
        self
    }

    /// The index this queue keeps, if any, to share with later queues.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.clone()
    }

    /// What a claim or a peek does first, holding the stream lock: with an
    /// index, recover batches, sweep if a claim can be dead, and propose the
    /// oldest pending ids; without one (or when the index must be rebuilt,
    /// or a dropped file waits), the full look of [`Queue::touch`].
    pub(super) fn touch_indexed(
        &self,
        stream: &Stream,
        lock_: &StreamLock,
    ) -> Result<(PendingScan, SweepReport)> {
        let Some(index) = &self.index else {
            return self.touch(stream, lock_);
        };
        let entry = index.stream(&stream.name);
        let mut ix = lock(&entry);
        if !ix.is_current() {
            let (scan, report) = self.touch(stream, lock_)?;
            self.rebuild(&mut ix, stream, &scan)?;
            return Ok((scan, report));
        }
        if ix.drops {
            let (scan, report) = self.touch(stream, lock_)?;
            ix.drops = !(scan.drops.is_empty() && scan.adopting.is_empty() && scan.foreign.is_empty());
            return Ok((scan, report));
        }
        // As in `touch`: a batch whose writer died is finished first.
        let _ = self.spool.recover_batches(&stream.name);
        let report = self.sweep_if_due(&mut ix, stream)?;
        // An index that fits in one scan could be missing a file whose
        // event has not come yet, and would answer "nothing more": the
        // folder answers instead, as cheaply as it is short.
        if ix.pending.len() <= SCAN_OLDEST {
            let scan = self.spool.scan_pending(&stream.name)?;
            if scan.drops.is_empty() && scan.adopting.is_empty() && scan.foreign.is_empty() {
                return Ok((scan, report));
            }
            // A dropped file the index has not heard of yet: adopt it now,
            // as a one-shot look would.
            let (scan, swept) = self.touch(stream, lock_)?;
            return Ok((scan, merge(report, swept)));
        }
        Ok((ix.scan_after(None), report))
    }

    /// The oldest pending ids after `after` (a claim that skipped every id
    /// of the last scan asks for more): from the index while it has some,
    /// then from the folder, which has the last word.
    pub(super) fn scan_after(&self, stream: &Stream, after: Option<&TaskId>) -> Result<PendingScan> {
        let Some(index) = &self.index else {
            return Ok(self.spool.scan_pending_after(&stream.name, after)?);
        };
        let entry = index.stream(&stream.name);
        let mut ix = lock(&entry);
        if ix.is_current() {
            let scan = ix.scan_after(after);
            if !scan.oldest.is_empty() {
                return Ok(scan);
            }
        }
        let scan = self.spool.scan_pending_after(&stream.name, after)?;
        // Many more files than the index knows of: events went missing
        // rather than late. Rebuild on the next look.
        if ix.is_current() && scan.total > ix.pending.len() + SCAN_OLDEST {
            ix.checked_at = None;
        }
        Ok(scan)
    }

    /// Tells the index that this process just claimed `id`, so the next
    /// claim does not try it first (its event may not have come yet).
    pub(super) fn index_claimed(&self, stream: &Name, id: &TaskId) {
        if let Some(index) = &self.index {
            lock(&index.stream(stream)).pending.remove(id);
        }
    }

    /// Reads `stream`'s folders into `ix` after a full look.
    fn rebuild(&self, ix: &mut StreamIndex, stream: &Stream, scan: &PendingScan) -> Result<()> {
        let mut extras = false;
        let mut list = |status| -> Result<Vec<TaskId>> {
            let (ids, extra) = self.spool.list_ids_and_extras(&stream.name, status)?;
            extras |= extra;
            Ok(ids)
        };
        let pending = list(TaskStatus::Queued)?;
        let running = list(TaskStatus::Running)?;
        ix.done = list(TaskStatus::Succeeded)?.into_iter().collect();
        ix.failed = list(TaskStatus::Failed)?.into_iter().collect();
        ix.extras = extras;
        ix.pending = pending.into_iter().collect();
        // Known times stay known: a claim that changed since sent an event
        // that made its time unknown again.
        let mut known = std::mem::take(&mut ix.running);
        ix.running = running
            .into_iter()
            .map(|id| {
                let at = known.remove(&id).flatten();
                (id, at)
            })
            .collect();
        ix.drops = !(scan.drops.is_empty() && scan.adopting.is_empty() && scan.foreign.is_empty());
        ix.checked_at = Some(Instant::now());
        Ok(())
    }

    /// Sweeps `stream`'s dead claims if one can be due: reads the claims
    /// whose time is unknown (new or changed), then sweeps when the
    /// earliest time has passed. The caller holds the stream lock.
    fn sweep_if_due(&self, ix: &mut StreamIndex, stream: &Stream) -> Result<SweepReport> {
        let now = Timestamp::now();
        let retry = now.saturating_add(INDEX_RECHECK);
        self.read_unknown_claims(ix, &stream.name, now);
        let due = ix.running.values().flatten().map(|a| a.dead_at).min();
        if due.is_none_or(|at| at > now) {
            // As a sweep would say: when the next claim turns dead.
            return Ok(SweepReport {
                next_dead: due,
                ..SweepReport::default()
            });
        }
        let report = self.sweep_dead_locked(stream, now)?;
        for id in &report.requeued {
            ix.running.remove(id);
            ix.pending.insert(id.clone());
        }
        for id in &report.failed {
            ix.running.remove(id);
        }
        // A claim that was due but not swept (a heartbeat came, or a newer
        // copy supersedes it) is looked at again on its next event, or
        // after the recheck interval, not on every look.
        for alive in ix.running.values_mut().flatten() {
            if alive.dead_at <= now {
                alive.dead_at = retry;
            }
        }
        Ok(report)
    }

    /// Reads the claims whose times the index does not know (new or
    /// changed since it last read them): one read per change.
    fn read_unknown_claims(&self, ix: &mut StreamIndex, stream: &Name, now: Timestamp) {
        let unknown: Vec<TaskId> = ix
            .running
            .iter()
            .filter(|(_, at)| at.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in unknown {
            let alive = match self.spool.read_task(stream, TaskStatus::Running, &id) {
                Ok(Some(task)) => Alive {
                    stale_at: task.stale_at().unwrap_or(now),
                    dead_at: task.dead_at().unwrap_or(now),
                },
                Ok(None) => {
                    ix.running.remove(&id);
                    continue;
                }
                // Unreadable: the sweep skips it too; the next rebuild
                // looks again.
                Err(_) => {
                    let later = now.saturating_add(INDEX_RECHECK);
                    Alive {
                        stale_at: later,
                        dead_at: later,
                    }
                }
            };
            ix.running.insert(id, Some(alive));
        }
    }

    /// The `n` newest ids of `stream`'s `status` folder older than
    /// `before`, newest first, and whether the folder holds extra copies:
    /// from the index when it is current, else from the folder (see
    /// [`crate::spool::Spool::newest_ids`]).
    pub(super) fn newest_ids(
        &self,
        stream: &Name,
        status: TaskStatus,
        before: Option<&TaskId>,
        n: usize,
    ) -> Result<(Vec<TaskId>, bool)> {
        if let Some(index) = &self.index {
            let entry = index.stream(stream);
            let ix = lock(&entry);
            if ix.is_current() {
                let to = before.map_or(Bound::Unbounded, Bound::Excluded);
                let range = (Bound::Unbounded, to);
                let ids: Vec<TaskId> = match status {
                    TaskStatus::Queued => ix.pending.range(range).rev().take(n).cloned().collect(),
                    TaskStatus::Running => ix
                        .running
                        .range(range)
                        .rev()
                        .take(n)
                        .map(|(id, _)| id.clone())
                        .collect(),
                    TaskStatus::Succeeded => ix.done.range(range).rev().take(n).cloned().collect(),
                    TaskStatus::Failed => ix.failed.range(range).rev().take(n).cloned().collect(),
                };
                return Ok((ids, ix.extras));
            }
        }
        Ok(self.spool.newest_ids(stream, status, before, n)?)
    }

    /// `stream`'s counts from the index when it is current: kept, not
    /// recounted (running claims are read once per change, for staleness).
    pub(super) fn indexed_counts(&self, stream: &Name) -> Option<super::Counts> {
        let index = self.index.as_ref()?;
        let entry = index.stream(stream);
        let mut ix = lock(&entry);
        if !ix.is_current() {
            return None;
        }
        let now = Timestamp::now();
        self.read_unknown_claims(&mut ix, stream, now);
        Some(super::Counts {
            queued: ix.pending.len(),
            running: ix.running.len(),
            stale: ix.running.values().flatten().filter(|a| a.stale_at < now).count(),
            succeeded: ix.done.len(),
            failed: ix.failed.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{Config, SetupAnswers, render_config};
    use crate::queue::NewTask;

    fn indexed_queue(dir: &Path) -> Queue {
        let text = render_config(&SetupAnswers::defaults("t"));
        let mut queue = Queue::new(Config::from_yaml(&text, &dir.join("sparkq.yml")).unwrap());
        queue.create_session("s", None).unwrap();
        queue.create_stream("a", "s", "Do it.").unwrap();
        queue.start_index().unwrap();
        queue
    }

    fn new() -> NewTask {
        NewTask {
            tool_name: "run-bash".to_owned(),
            payload: json!({}),
            timeout: None,
            task_class: None,
        }
    }

    #[test]
    fn an_index_hands_out_tasks_in_fifo_order_and_sees_tasks_it_has_no_event_for_yet() {
        let dir = tempfile::tempdir().unwrap();
        let queue = indexed_queue(dir.path());
        let first = queue
            .enqueue_batch("a", (0..20).map(|_| new()).collect())
            .unwrap();
        let mut claimed = Vec::new();
        // Enqueue between claims: the index may not have seen the new file
        // when the next claim comes, and the folder must still be heard.
        for i in 0..30 {
            if i == 10 {
                queue
                    .enqueue_batch("a", (0..10).map(|_| new()).collect())
                    .unwrap();
            }
            claimed.push(queue.claim("a", "w").unwrap().expect("a task").task.id);
        }
        assert!(claimed.windows(2).all(|w| w[0] < w[1]), "FIFO");
        assert_eq!(
            claimed[..20],
            first.iter().map(|t| t.id.clone()).collect::<Vec<_>>()[..]
        );
        assert_eq!(queue.claim("a", "w").unwrap(), None);
    }

    #[test]
    fn an_id_the_index_still_lists_but_another_process_took_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let queue = indexed_queue(dir.path());
        let tasks = queue.enqueue_batch("a", (0..3).map(|_| new()).collect()).unwrap();
        assert_eq!(queue.peek("a").unwrap().unwrap().task.id, tasks[0].id);
        // Another process (a queue without the index) claims the head.
        let other = Queue::new(queue.config().clone());
        assert_eq!(other.claim("a", "x").unwrap().unwrap().task.id, tasks[0].id);
        let mine = queue.claim("a", "w").unwrap().unwrap();
        assert_eq!(mine.task.id, tasks[1].id);
        assert_eq!(mine.task.claimed_by.as_deref(), Some("w"));
    }

    #[test]
    fn lost_events_and_replaced_folders_make_a_stream_stale() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared {
            streams_dir: dir.path().join("streams"),
            streams: Mutex::new(HashMap::new()),
        };
        let entry: Arc<Mutex<StreamIndex>> = Arc::default();
        lock(&shared.streams).insert("a".to_owned(), entry.clone());
        let fresh = || lock(&entry).checked_at = Some(Instant::now());
        let event = |kind, path: &str| Ok(notify::Event::new(kind).add_path(dir.path().join(path)));
        use notify::EventKind::{Access, Create, Other, Remove};

        fresh();
        // An overflowed kernel queue: events were lost.
        shared.observe(Ok(notify::Event::new(Other).set_flag(notify::event::Flag::Rescan)));
        assert!(!lock(&entry).is_current());
        fresh();
        // `pending/` replaced (a checkout): files came or went unseen.
        shared.observe(event(
            Create(notify::event::CreateKind::Folder),
            "streams/a/pending",
        ));
        assert!(!lock(&entry).is_current());
        fresh();
        // Reads and the lock file change nothing.
        shared.observe(event(Access(notify::event::AccessKind::Any), "streams/a/pending"));
        shared.observe(event(Create(notify::event::CreateKind::File), "streams/a/.lock"));
        assert!(lock(&entry).is_current());
        // A task file that is not there (its event came late) is forgotten;
        // an extra copy from a sync sends listings to the folder.
        lock(&entry).pending.insert(TaskId::generate());
        let id = lock(&entry).pending.first().cloned().unwrap();
        shared.observe(event(
            Remove(notify::event::RemoveKind::File),
            &format!("streams/a/pending/{id}.json"),
        ));
        assert!(lock(&entry).pending.is_empty());
        shared.observe(event(
            Create(notify::event::CreateKind::File),
            &format!("streams/a/done/{id}.json~theirs"),
        ));
        assert!(lock(&entry).extras);
    }

    #[test]
    fn pages_and_counts_from_the_index_agree_with_the_folders() {
        let dir = tempfile::tempdir().unwrap();
        let queue = indexed_queue(dir.path());
        let folders = Queue::new(queue.config().clone());
        queue
            .enqueue_batch("a", (0..30).map(|_| new()).collect())
            .unwrap();
        for i in 0..12 {
            let c = queue.claim("a", "w").unwrap().unwrap();
            let report = crate::queue::Report {
                token: c.task.claim_token.clone(),
                ..Default::default()
            };
            if i % 3 == 0 {
                queue.fail(c.task.id.as_str(), "broke", report).unwrap();
            } else if i % 3 == 1 {
                queue
                    .complete(c.task.id.as_str(), json!({"summary": "ok"}), report)
                    .unwrap();
            }
        }
        let stream = Name::parse("a").unwrap();
        // The index hears of each change a moment after it happens: wait
        // (bounded) for it to catch up, then it must agree exactly.
        let deadline = Instant::now() + Duration::from_secs(20);
        while queue.counts(&stream).unwrap() != folders.counts(&stream).unwrap() {
            assert!(Instant::now() < deadline, "the index never caught up");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(queue.indexed_counts(&stream).is_some(), "counted from the index");
        let ids = |page: crate::queue::TaskPage| {
            page.tasks
                .into_iter()
                .map(|t| (t.id, t.status))
                .collect::<Vec<_>>()
        };
        for limit in [1, 5, 50] {
            let filter = crate::queue::TaskFilter {
                limit: Some(limit),
                ..Default::default()
            };
            assert_eq!(
                ids(queue.list_tasks(&filter).unwrap()),
                ids(folders.list_tasks(&filter).unwrap())
            );
        }
    }

    #[test]
    fn a_dead_claim_is_swept_when_its_time_comes() {
        let dir = tempfile::tempdir().unwrap();
        let queue = indexed_queue(dir.path());
        let task = queue.enqueue("a", new()).unwrap();
        let claimed = queue.claim("a", "w").unwrap().unwrap();
        assert_eq!(claimed.task.id, task.id);
        assert_eq!(queue.peek("a").unwrap(), None);
        // The claim's worker went silent long ago: rewrite the file as
        // another process would see it (an event tells the index).
        let stream = Name::parse("a").unwrap();
        let mut old = claimed.task.clone();
        let long_ago = Timestamp::parse("2001-01-01T00:00:00Z").unwrap();
        old.started_at = Some(long_ago);
        old.updated_at = long_ago;
        old.max_attempts = 2;
        queue.spool.write_task(&old).unwrap();
        // The folder overrules: whether or not the event has come, the
        // index reads the changed claim before deciding.
        let entry = queue.index.as_ref().unwrap().stream(&stream);
        lock(&entry).running.insert(task.id.clone(), None);
        let again = queue.claim("a", "w2").unwrap().expect("the dead claim, requeued");
        assert_eq!(again.task.id, task.id);
        assert_eq!(again.task.attempts, 2);
    }
}
