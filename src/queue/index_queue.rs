//! How the queue uses its [`Index`]: claims and peeks that try the
//! index's ids first, sweeps only when a claim can be due, pages and
//! counts from the index. The folder still decides (see the `index` module).

use std::ops::Bound;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::{Alive, INDEX_RECHECK, Index, REFRESH_TICK, StreamIndex, lock, merge};
use crate::model::{Name, Stream, StreamStatus, TaskId, TaskStatus, Timestamp};
use crate::queue::{Queue, Result, SweepReport};
use crate::spool::{PendingScan, SCAN_OLDEST, StreamLock};

impl Queue {
    /// Keeps an in-memory index of this queue's spool from now on (see the
    /// `index` module); for long-lived processes. Clones made afterwards
    /// share it. An error (no inotify watches left) leaves the queue
    /// reading its folders, as a one-shot call does.
    pub fn start_index(&mut self) -> notify::Result<()> {
        if self.index.is_none() {
            let index = Arc::new(Index::watch(self.spool.root())?);
            *lock(&index.refresher) = Some(self.without_index());
            let weak = Arc::downgrade(&index);
            std::thread::Builder::new()
                .name("sparkq-index".to_owned())
                .spawn(move || refresh_loop(&weak))
                .map_err(notify::Error::io)?;
            self.index = Some(index);
        }
        Ok(())
    }

    /// This queue as a one-shot call sees the spool: no index.
    fn without_index(&self) -> Queue {
        Queue {
            index: None,
            ..self.clone()
        }
    }

    /// Tells the background recheck of this queue's index to read the
    /// folders as this queue does (after a reload changed the config).
    pub(in crate::queue) fn refresh_with_this_config(&self) {
        if let Some(index) = &self.index {
            *lock(&index.refresher) = Some(self.without_index());
        }
    }

    /// Rebuilds every stream of `index` that is stale or soon would be,
    /// each holding its stream lock as a look does.
    fn refresh(&self, index: &Index) {
        let entries: Vec<_> = lock(&index.shared.streams)
            .iter()
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect();
        let due = |ix: &StreamIndex| {
            ix.checked_at
                .is_none_or(|at| at.elapsed() + INDEX_RECHECK / 3 >= INDEX_RECHECK)
        };
        for (name, entry) in entries {
            if !due(&lock(&entry)) {
                continue;
            }
            // A stream that cannot be read or locked (removed, a read-only
            // mirror) is left to the looks, which read its folders.
            let Ok(stream) = self.stream(&name) else { continue };
            let Ok(lock_) = self.spool.lock_stream(&stream.name) else {
                continue;
            };
            {
                let mut ix = lock(&entry);
                if !due(&ix) {
                    continue;
                }
                // As `touch_quietly` looks: an ended stream is swept, not
                // adopted into, unless something was dropped into it.
                let scan = if stream.status == StreamStatus::Active || ix.drops {
                    self.touch(&stream, &lock_).map(|(scan, _)| scan)
                } else {
                    self.sweep_dead_locked(&stream, Timestamp::now())
                        .and_then(|_| Ok(self.spool.scan_pending(&stream.name)?))
                };
                if let Ok(scan) = scan {
                    let _ = self.rebuild(&mut ix, &stream, &scan);
                }
            }
            drop(lock_);
            // Files changed without an event: found by looking each up,
            // holding no lock.
            self.verify_summaries(&entry, &stream.name);
        }
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
    pub(in crate::queue) fn touch_indexed(
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
            ix.checked_at = None;
        }
        Ok(scan)
    }

    /// Tells the index that this process just claimed `id`, so the next
    /// claim does not try it first (its event may not have come yet).
    pub(in crate::queue) fn index_claimed(&self, stream: &Name, id: &TaskId) {
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
        // Not current after lost events (or never read): no summary read
        // before can be trusted. After a periodic recheck, the files whose
        // events came are the ones that changed.
        let trusted = ix.checked_at.is_some();
        ix.prune_summaries(trusted);
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
    pub(in crate::queue) fn newest_ids(
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
    pub(in crate::queue) fn indexed_counts(&self, stream: &Name) -> Option<crate::queue::Counts> {
        let index = self.index.as_ref()?;
        let entry = index.stream(stream);
        let mut ix = lock(&entry);
        if !ix.is_current() {
            return None;
        }
        let now = Timestamp::now();
        self.read_unknown_claims(&mut ix, stream, now);
        Some(crate::queue::Counts {
            queued: ix.pending.len(),
            running: ix.running.len(),
            stale: ix.running.values().flatten().filter(|a| a.stale_at < now).count(),
            succeeded: ix.done.len(),
            failed: ix.failed.len(),
        })
    }
}

/// The background recheck of one index: every [`REFRESH_TICK`], rebuilds
/// the streams that are stale or close to ageing out, so that no request
/// waits for a full look at a big folder. Holds the index only while it
/// works: when the last queue lets go of it, the loop ends.
fn refresh_loop(index: &Weak<Index>) {
    loop {
        std::thread::sleep(REFRESH_TICK);
        let Some(index) = index.upgrade() else { return };
        let queue = lock(&index.refresher).clone();
        if let Some(queue) = queue {
            queue.refresh(&index);
        }
    }
}
