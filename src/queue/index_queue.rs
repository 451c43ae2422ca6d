//! How the queue uses its [`Index`]: claims and peeks that try the
//! index's ids first, sweeps only when a claim can be due, pages and
//! counts from the index. The folder still decides (see the `index` module).
//! Keeping the index current (start, background recheck, rebuilds) is
//! `index_refresh`.

use std::ops::Bound;
use std::sync::Arc;

use super::refresh::has_drops;
use super::{Alive, INDEX_RECHECK, Index, StreamIndex, lock, merge};
use crate::model::{Name, Stream, TaskId, TaskStatus, Timestamp};
use crate::queue::{Queue, Result, SweepReport};
use crate::spool::{PendingScan, SCAN_OLDEST, StreamLock};

/// Longer than a file system's clock tick for folder times (a jiffy, at
/// most 10 ms on Linux), with room to spare.
const MTIME_TICK: std::time::Duration = std::time::Duration::from_millis(50);

impl Queue {
    /// Uses `index`, kept by the caller across queues of the same project
    /// (`sparkq mcp` makes a queue per call); ignored if it watches another
    /// spool.
    pub fn with_index(mut self, index: Arc<Index>) -> Queue {
        if index.spool_root() == Some(self.spool.root()) {
            self.attach(index);
        }
        self
    }

    /// Uses `index`, which watches this queue's spool, and the stream lock
    /// files it keeps open.
    pub(in crate::queue) fn attach(&mut self, index: Arc<Index>) {
        self.spool = self.spool.clone().with_lock_files(Some(index.lock_files.clone()));
        self.index = Some(index);
    }

    /// Calls `on` for every change its index's watch hears of in the
    /// spool (see [`Index::listen`]); without an index watching the whole
    /// spool (only the server's does), `on` is given back and the caller
    /// watches the spool itself.
    pub(crate) fn listen_to_spool<F>(&self, on: F) -> std::result::Result<super::Listening, F>
    where
        F: FnMut(crate::spool::TreeEvent<'_>) + Send + 'static,
    {
        match &self.index {
            Some(index) => index.listen(on),
            None => Err(on),
        }
    }

    /// The index this queue keeps, if any, to share with later queues.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.clone()
    }

    /// Waits (at most 10 s) until the reading of the spool a warm index
    /// makes at start is over, without hurrying it: for a server's
    /// housekeeping at start (the purge, the temp files), which would
    /// otherwise list the same folders beside it while the first requests
    /// wait. At once without a warm index.
    pub fn after_warm_up(&self) {
        if let Some(index) = &self.index {
            index.wait_for_warm_up(false);
        }
    }

    /// The ids of `stream`'s `status` folder below `floor` (all without
    /// one), oldest first, from the index when it is current; `None`
    /// otherwise, and the caller lists the folder. An id whose file is gone
    /// meanwhile is the caller's to skip; one whose event has not come yet
    /// is missed, as by a listing made a moment earlier.
    pub(in crate::queue) fn indexed_ids_below(
        &self,
        stream: &Name,
        status: TaskStatus,
        floor: Option<&str>,
    ) -> Option<Vec<TaskId>> {
        let index = self.index.as_ref()?;
        let entry = index.stream(stream);
        let ix = entry.built();
        if !ix.is_current() {
            return None;
        }
        let below = |id: &&TaskId| floor.is_none_or(|f| id.as_str() < f);
        Some(match status {
            TaskStatus::Queued => ix.pending.iter().take_while(below).cloned().collect(),
            TaskStatus::Running => ix.running.keys().take_while(below).cloned().collect(),
            TaskStatus::Succeeded => ix.done.iter().take_while(below).cloned().collect(),
            TaskStatus::Failed => ix.failed.iter().take_while(below).cloned().collect(),
        })
    }

    /// Marks a request as being served until the guard is dropped: the
    /// index's reading of summaries in the background gives way to it (see
    /// `Index::yield_to_requests`). For a server, around each request;
    /// `None` without an index.
    pub fn serving(&self) -> Option<super::Serving> {
        self.index.clone().map(super::Serving::start)
    }

    /// What a claim or a peek does first, holding the stream lock: with an
    /// index, recover batches, sweep if a claim can be dead, and propose the
    /// oldest pending ids; without one (or when the index must be rebuilt,
    /// or a dropped file waits), the full look of [`Queue::touch`].
    pub(in crate::queue) fn touch_indexed(
        &self,
        stream: &Stream,
        lock_: &StreamLock,
    ) -> Result<(PendingScan, SweepReport)> {
        let Some(index) = &self.index else {
            return self.touch_one_shot(stream, lock_);
        };
        let entry = index.stream(&stream.name);
        // A listing being made (the warm-up at start) is waited for, not
        // made again here.
        let mut ix = entry.built();
        if !ix.is_current() {
            let (scan, report) = self.touch(stream, lock_)?;
            self.rebuild(&mut ix, stream, &scan)?;
            return Ok((scan, report));
        }
        if ix.drops {
            let (scan, report) = self.touch(stream, lock_)?;
            ix.drops = has_drops(&scan);
            return Ok((scan, report));
        }
        // As in `touch`: a batch whose writer died is finished first.
        self.recover_batches_indexed(&mut ix, &stream.name);
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

    /// [`crate::spool::Spool::recover_batches`] for a look through the
    /// index: the stream folder is listed only when a batch folder can be
    /// there, i.e. one was left at the last listing (its writer lives on),
    /// an event named one since, or the index was stale, and at least
    /// every [`INDEX_RECHECK`] all the same. Otherwise every claim would
    /// list the folder (five system calls) to find nothing. A batch whose
    /// writer dies is recovered by the first look after its folder's event
    /// arrives, as a one-shot look right after the death would; until
    /// then its tasks are simply not queued yet (a batch is published whole
    /// or not at all either way). The caller holds the stream lock.
    fn recover_batches_indexed(&self, ix: &mut StreamIndex, stream: &Name) {
        if ix.batches_listed.is_some_and(|at| at.elapsed() < INDEX_RECHECK) {
            return;
        }
        // Cleared before listing: an event that comes meanwhile (the index
        // lock is held, so it is applied after) sets it back.
        ix.batches_listed = None;
        // One that cannot be finished now (a full disk) must not stop the
        // stream: the next look tries again, as `touch` does.
        if let Ok((_, false)) = self.spool.recover_batches_left(stream) {
            ix.batches_listed = Some(std::time::Instant::now());
        }
    }

    /// The oldest pending ids after `after` (a claim that skipped every id
    /// of the last scan asks for more): from the index while it has some,
    /// then from the folder, which has the last word.
    pub(in crate::queue) fn scan_after(
        &self,
        stream: &Stream,
        after: Option<&TaskId>,
    ) -> Result<PendingScan> {
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
            ix.mark_stale();
        }
        Ok(scan)
    }

    /// Tells the index that this process just claimed `id`, so the next
    /// claim does not try it first (its event may not have come yet).
    /// This process wrote task `id` of `stream` in the folders of
    /// `statuses`: its index learns it now, not when the events arrive
    /// (see [`Index::heard_task`]), so a list or count right after an
    /// enqueue, report, heartbeat or requeue shows it.
    pub(in crate::queue) fn index_wrote(&self, stream: &Name, id: &TaskId, statuses: &[TaskStatus]) {
        if let Some(index) = &self.index {
            index.heard_task(stream, id, statuses);
        }
    }

    pub(in crate::queue) fn index_claimed(&self, stream: &Name, id: &TaskId) {
        if let Some(index) = &self.index {
            let entry = index.stream(stream);
            let mut ix = lock(&entry);
            ix.pending.remove(id);
            // Running now, its time read before the next sweep decision,
            // as the rename's event would say (read your writes).
            ix.file_changed(TaskStatus::Running, id);
            ix.running.set(id.clone(), None);
            // A listing being made unlocked may have seen the file before
            // the claim took it: its replay looks the file up again.
            if let Some(journal) = &mut ix.journal {
                let dir = index.shared.streams_dir.join(stream.as_str());
                journal.paths.push(dir.join("pending").join(id.file_name()));
                journal.paths.push(dir.join("claimed").join(id.file_name()));
            }
        }
    }

    /// A sweep of `stream`'s dead claims through the index (see
    /// [`Queue::sweep_if_due`]); `None` without an index or when it must
    /// be rebuilt first, and the caller sweeps every claim. The caller
    /// holds the stream lock.
    pub(in crate::queue) fn sweep_indexed(&self, stream: &Stream) -> Option<Result<SweepReport>> {
        let index = self.index.as_ref()?;
        let entry = index.stream(&stream.name);
        let mut ix = entry.built();
        if !ix.is_current() {
            return None;
        }
        Some(self.sweep_if_due(&mut ix, stream))
    }

    /// Sweeps `stream`'s dead claims if one can be due: reads the claims
    /// whose time is unknown (new or changed), then sweeps when the
    /// earliest time has passed. The caller holds the stream lock.
    pub(super) fn sweep_if_due(&self, ix: &mut StreamIndex, stream: &Stream) -> Result<SweepReport> {
        let now = Timestamp::now();
        let retry = now.saturating_add(INDEX_RECHECK);
        self.read_unknown_claims(ix, &stream.name, now);
        let due = ix.running.next_dead();
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
        ix.running.postpone_dead(now, retry);
        Ok(report)
    }

    /// Before a waiter's look (see `look`): adds to the index the claims
    /// whose event has not reached it yet. A look woken by a claim's rename
    /// out of `pending/` can come before the index hears of its rename
    /// into `claimed/` (two watches, two threads), and would then set no
    /// timer for the new claim's death; a claim that releases the lock
    /// before its rewrite is flushed (see `claim`) makes that likely. So
    /// when `claimed/` changed since the last check (its modification
    /// time, one `stat`), its names are listed and `running` made to match
    /// them. A time younger than [`MTIME_TICK`] is never trusted: a second
    /// change within the file system's clock tick keeps it. Claims and
    /// peeks set no timer and skip this, so their cost stays independent
    /// of the running set. The caller holds the stream lock.
    pub(in crate::queue) fn index_catch_up_claims(&self, stream: &Name) {
        if let Some(index) = &self.index {
            let entry = index.stream(stream);
            let mut ix = lock(&entry);
            if ix.is_current() {
                self.catch_up_claims(&mut ix, stream);
            }
        }
    }

    /// [`Queue::index_catch_up_claims`] on the index of one stream.
    fn catch_up_claims(&self, ix: &mut StreamIndex, stream: &Name) {
        let dir = self.spool.state_path(stream, TaskStatus::Running);
        let Ok(modified) = std::fs::metadata(&dir).and_then(|m| m.modified()) else {
            return;
        };
        let settled = std::time::SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age > MTIME_TICK);
        if settled && ix.claimed_seen == Some(modified) {
            return;
        }
        let Ok((claims, _)) = self.spool.list_claims(stream) else {
            return;
        };
        let listed: std::collections::BTreeSet<TaskId> = claims.into_iter().map(|claim| claim.id).collect();
        ix.running.retain(|id| listed.contains(id));
        for id in listed {
            ix.running.add(id);
        }
        ix.claimed_seen = settled.then_some(modified);
    }

    /// Reads the claims whose times the index does not know (new or
    /// changed since it last read them): one read per change.
    pub(super) fn read_unknown_claims(&self, ix: &mut StreamIndex, stream: &Name, now: Timestamp) {
        for id in ix.running.unknown() {
            match self.claim_alive(stream, &id, now) {
                Some(alive) => ix.running.set(id, Some(alive)),
                None => ix.running.remove(&id),
            }
        }
    }

    /// When the claim of `id` turns stale and dead, as its file says;
    /// `None` if it is no longer claimed. An unreadable file counts as
    /// alive until the next recheck (the sweep skips it too).
    pub(super) fn claim_alive(&self, stream: &Name, id: &TaskId, now: Timestamp) -> Option<Alive> {
        match self.spool.read_task(stream, TaskStatus::Running, id) {
            Ok(Some(task)) => Some(Alive {
                stale_at: task.stale_at().unwrap_or(now),
                dead_at: task.dead_at().unwrap_or(now),
            }),
            Ok(None) => None,
            Err(_) => {
                let later = now.saturating_add(INDEX_RECHECK);
                Some(Alive {
                    stale_at: later,
                    dead_at: later,
                })
            }
        }
    }

    /// The `n` newest ids of `stream`'s `status` folder older than
    /// `before`, newest first, and whether the folder holds extra copies:
    /// from the index when it is current, else from the folder (see
    /// [`crate::spool::Spool::newest_ids`]).
    pub(in crate::queue) fn newest_ids(
        &self,
        stream: &Name,
        status: TaskStatus,
        before: Option<&TaskId>,
        n: usize,
    ) -> Result<(Vec<TaskId>, bool)> {
        if let Some(index) = &self.index {
            let entry = index.stream(stream);
            let ix = entry.built();
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
    pub(in crate::queue) fn indexed_counts(&self, stream: &Name) -> Option<crate::queue::Counts> {
        let index = self.index.as_ref()?;
        let entry = index.stream(stream);
        let mut ix = entry.built();
        if !ix.is_current() {
            return None;
        }
        let now = Timestamp::now();
        self.read_unknown_claims(&mut ix, stream, now);
        Some(crate::queue::Counts {
            queued: ix.pending.len(),
            running: ix.running.len(),
            stale: ix.running.stale_at(now),
            succeeded: ix.done.len(),
            failed: ix.failed.len(),
        })
    }
}
