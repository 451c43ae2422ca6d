//! How the queue uses its [`Index`]: claims and peeks that try the
//! index's ids first, sweeps only when a claim can be due, pages and
//! counts from the index. The folder still decides (see the `index` module).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::{Alive, INDEX_RECHECK, Index, Journal, REFRESH_TICK, StreamIndex, lock, merge};
use crate::model::{Name, Stream, StreamStatus, TaskId, TaskStatus, Timestamp};
use crate::queue::{Queue, Result, SweepReport};
use crate::spool::{PendingScan, SCAN_OLDEST, StreamLock};

/// Longer than a file system's clock tick for folder times (a jiffy, at
/// most 10 ms on Linux), with room to spare.
const MTIME_TICK: std::time::Duration = std::time::Duration::from_millis(50);

impl Queue {
    /// Keeps an in-memory index of this queue's spool from now on (see the
    /// `index` module); for long-lived processes. Clones made afterwards
    /// share it. An error (no inotify watches left) leaves the queue
    /// reading its folders, as a one-shot call does.
    pub fn start_index(&mut self) -> notify::Result<()> {
        self.start(false)
    }

    /// [`Queue::start_index`], and keeps what stats and `since` need of
    /// every task in memory from the start (see `index_summary`): read by
    /// the background thread right away, and again after events were lost,
    /// so that the first dashboard after a start is answered from memory.
    /// Until then requests read the files themselves, as before. For the
    /// server, whose dashboard asks.
    pub fn start_index_with_summaries(&mut self) -> notify::Result<()> {
        self.start(true)
    }

    pub(in crate::queue) fn start(&mut self, warm: bool) -> notify::Result<()> {
        if self.index.is_none() {
            let index = Arc::new(Index::watch(self.spool.root(), warm)?);
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

    /// Rebuilds every stream of `index` that is stale or soon would be:
    /// lists its folders without holding its lock (see the `index` module),
    /// and takes the lock only for what needs it.
    fn refresh(&self, index: &Index) {
        let entries: Vec<_> = lock(&index.shared.streams)
            .iter()
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect();
        for (name, entry) in entries {
            if !due(&lock(&entry)) {
                continue;
            }
            // A stream that cannot be read (removed) is left to the looks,
            // which read its folders.
            let Ok(stream) = self.stream(&name) else { continue };
            if !self.rebuild_unlocked(index, &entry, &stream) {
                self.rebuild_locked(&entry, &stream);
            }
            self.sweep_in_background(&entry, &stream);
            // Files changed without an event: found by looking each up,
            // holding no lock.
            self.verify_summaries(&entry, &stream.name);
            // Summaries never read, or dropped after lost events (by this
            // rebuild or a look's): read them now, outside every lock (the
            // answer itself is not needed). A few missing (files changed
            // since) are read by the next request that needs them.
            if index.warm && lock(&entry).mostly_unsummarized() {
                let _ = self.summaries_in(index, std::slice::from_ref(&stream), &TaskStatus::ALL);
            }
        }
    }

    /// Rebuilds `entry` from `stream`'s folders listed holding no lock,
    /// then swapped in with the events heard meanwhile applied again (see
    /// the `index` module). `false` when it cannot: the folders could not
    /// be read, events were lost meanwhile, or a dropped file waits for
    /// adoption, which needs the stream lock.
    pub(super) fn rebuild_unlocked(
        &self,
        index: &Index,
        entry: &Mutex<StreamIndex>,
        stream: &Stream,
    ) -> bool {
        match self.list_unlocked(entry, stream) {
            Some(listed) => self.swap_in(index, entry, listed),
            None => false,
        }
    }

    /// The first half of [`Queue::rebuild_unlocked`]: starts the journal,
    /// then lists the folders (and whether a dropped file waits). `None`
    /// when another unlocked rebuild of the stream is listing (one journal
    /// at a time).
    pub(super) fn list_unlocked(
        &self,
        entry: &Mutex<StreamIndex>,
        stream: &Stream,
    ) -> Option<Result<(Listing, bool)>> {
        {
            let mut ix = lock(entry);
            if ix.journal.is_some() {
                return None;
            }
            ix.journal = Some(Journal::default());
        }
        let listed = (|| {
            let pending = self.spool.scan_pending_all(&stream.name)?;
            let drops = has_drops(&pending);
            let listing = self.list_folders(&stream.name, pending, true)?;
            Ok((listing, drops))
        })();
        Some(listed)
    }

    /// Builds `stream`'s index now if it is not current, holding no lock
    /// (see [`Queue::rebuild_unlocked`]): for a waiter, so that the claim
    /// it makes when a task arrives finds the index ready instead of
    /// reading every folder (every claim's file, to sweep) on the wake.
    /// Does nothing without an index; if it cannot, that claim rebuilds it.
    pub fn prepare_index(&self, stream: &Name) {
        let Some(index) = &self.index else { return };
        let entry = index.stream(stream);
        if lock(&entry).is_current() {
            return;
        }
        if let Ok(stream) = self.stream(stream.as_str()) {
            self.rebuild_unlocked(index, &entry, &stream);
        }
    }

    /// The second half: ends the journal and swaps the listing in, with
    /// the events heard meanwhile applied again.
    pub(super) fn swap_in(
        &self,
        index: &Index,
        entry: &Mutex<StreamIndex>,
        listed: Result<(Listing, bool)>,
    ) -> bool {
        let mut ix = lock(entry);
        let journal = ix.journal.take();
        let (Ok((listing, false)), Some(journal)) = (listed, journal) else {
            return false;
        };
        if journal.lost {
            return false;
        }
        let old = ix.install(listing, false);
        index.shared.replay(&mut ix, &journal);
        drop(ix);
        drop(old);
        true
    }

    /// Rebuilds `entry` holding `stream`'s lock, after the full look a
    /// one-shot call makes (adopting drops, sweeping every claim).
    fn rebuild_locked(&self, entry: &Mutex<StreamIndex>, stream: &Stream) {
        // A stream that cannot be locked (a read-only mirror) is left to
        // the looks, which read its folders.
        let Ok(lock_) = self.spool.lock_stream(&stream.name) else {
            return;
        };
        let mut ix = lock(entry);
        if !due(&ix) {
            return;
        }
        // As `touch_quietly` looks: an ended stream is swept, not adopted
        // into, unless something was dropped into it.
        let scan = if stream.status == StreamStatus::Active || ix.drops {
            self.touch(stream, &lock_).map(|(scan, _)| scan)
        } else {
            self.sweep_dead_locked(stream, Timestamp::now())
                .and_then(|_| Ok(self.spool.scan_pending(&stream.name)?))
        };
        if let Ok(scan) = scan {
            let _ = self.rebuild(&mut ix, stream, &scan);
        }
    }

    /// Sweeps `stream`'s dead claims from the background when one is due,
    /// so that a stream nobody claims from is swept all the same; takes the
    /// stream lock only then.
    fn sweep_in_background(&self, entry: &Mutex<StreamIndex>, stream: &Stream) {
        let due = {
            let mut ix = lock(entry);
            let now = Timestamp::now();
            self.read_unknown_claims(&mut ix, &stream.name, now);
            ix.is_current() && ix.running.values().flatten().any(|a| a.dead_at <= now)
        };
        if !due {
            return;
        }
        let Ok(lock_) = self.spool.lock_stream(&stream.name) else {
            return;
        };
        let mut ix = lock(entry);
        if ix.is_current() {
            let _ = self.sweep_if_due(&mut ix, stream);
        }
        drop(ix);
        drop(lock_);
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
            ix.drops = has_drops(&scan);
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
            ix.mark_stale();
        }
        Ok(scan)
    }

    /// Tells the index that this process just claimed `id`, so the next
    /// claim does not try it first (its event may not have come yet).
    pub(in crate::queue) fn index_claimed(&self, stream: &Name, id: &TaskId) {
        if let Some(index) = &self.index {
            let entry = index.stream(stream);
            let mut ix = lock(&entry);
            ix.pending.remove(id);
            // A listing being made unlocked may have seen the file before
            // the claim took it: its replay looks the file up again.
            if let Some(journal) = &mut ix.journal {
                let dir = index.shared.streams_dir.join(stream.as_str()).join("pending");
                journal.paths.push(dir.join(id.file_name()));
            }
        }
    }

    /// Reads `stream`'s folders into `ix` after a full look, holding the
    /// stream lock and `ix`'s.
    fn rebuild(&self, ix: &mut StreamIndex, stream: &Stream, scan: &PendingScan) -> Result<()> {
        // The look's scan holds every pending id unless the folder has more
        // than one scan keeps; only then is `pending/` listed again.
        let pending = if scan.has_more() {
            self.spool.scan_pending_all(&stream.name)?
        } else {
            PendingScan {
                oldest: scan.oldest.clone(),
                extras: scan.extras,
                ..PendingScan::default()
            }
        };
        let listing = self.list_folders(&stream.name, pending, false)?;
        ix.install(listing, has_drops(scan));
        Ok(())
    }

    /// Lists `stream`'s other three folders beside `pending`, a scan of
    /// `pending/` holding every id (`Spool::scan_pending_all`); with
    /// `read_claims`, also reads when each running claim turns dead (a
    /// listing made without the stream lock, whose claims the next look
    /// must not have to read under it).
    fn list_folders(&self, stream: &Name, pending: PendingScan, read_claims: bool) -> Result<Listing> {
        debug_assert!(!pending.has_more(), "a scan of every pending id");
        let mut extras = pending.extras;
        let mut list = |status| -> Result<Vec<TaskId>> {
            let (ids, extra) = self.spool.list_ids_and_extras(stream, status)?;
            extras |= extra;
            Ok(ids)
        };
        let pending = pending.oldest;
        let running = list(TaskStatus::Running)?;
        let done = list(TaskStatus::Succeeded)?;
        let failed = list(TaskStatus::Failed)?;
        let now = Timestamp::now();
        let running = running
            .into_iter()
            .filter_map(|id| {
                if !read_claims {
                    return Some((id, None));
                }
                // A claim gone since the listing is left out; its event
                // (in the journal) settles it.
                let alive = self.claim_alive(stream, &id, now)?;
                Some((id, Some(alive)))
            })
            .collect();
        Ok(Listing {
            pending: pending.into_iter().collect(),
            running,
            done: done.into_iter().collect(),
            failed: failed.into_iter().collect(),
            extras,
        })
    }

    /// A sweep of `stream`'s dead claims through the index (see
    /// [`Queue::sweep_if_due`]); `None` without an index or when it must
    /// be rebuilt first, and the caller sweeps every claim. The caller
    /// holds the stream lock.
    pub(in crate::queue) fn sweep_indexed(&self, stream: &Stream) -> Option<Result<SweepReport>> {
        let index = self.index.as_ref()?;
        let entry = index.stream(&stream.name);
        let mut ix = lock(&entry);
        if !ix.is_current() {
            return None;
        }
        Some(self.sweep_if_due(&mut ix, stream))
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
        let Ok((ids, _)) = self.spool.list_claims(stream) else {
            return;
        };
        let listed: std::collections::BTreeSet<TaskId> = ids.into_iter().collect();
        ix.running.retain(|id, _| listed.contains(id));
        for id in listed {
            ix.running.entry(id).or_insert(None);
        }
        ix.claimed_seen = settled.then_some(modified);
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
            match self.claim_alive(stream, &id, now) {
                Some(alive) => ix.running.insert(id, Some(alive)),
                None => ix.running.remove(&id),
            };
        }
    }

    /// When the claim of `id` turns stale and dead, as its file says;
    /// `None` if it is no longer claimed. An unreadable file counts as
    /// alive until the next recheck (the sweep skips it too).
    fn claim_alive(&self, stream: &Name, id: &TaskId, now: Timestamp) -> Option<Alive> {
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

/// Whether a stream is stale or close enough to ageing out that the
/// background recheck rebuilds it now.
fn due(ix: &StreamIndex) -> bool {
    ix.checked_at
        .is_none_or(|at| at.elapsed() + INDEX_RECHECK / 3 >= INDEX_RECHECK)
}

/// Whether `pending/` holds something to adopt.
fn has_drops(scan: &PendingScan) -> bool {
    !(scan.drops.is_empty() && scan.adopting.is_empty() && scan.foreign.is_empty())
}

/// What one read of a stream's folders found, to install in its index.
/// Built before the index's lock is taken, so that swapping it in costs
/// next to nothing however many tasks it holds.
pub(super) struct Listing {
    pending: BTreeSet<TaskId>,
    /// With the claims' times when they were read.
    running: BTreeMap<TaskId, Option<Alive>>,
    done: BTreeSet<TaskId>,
    failed: BTreeSet<TaskId>,
    extras: bool,
}

impl StreamIndex {
    /// Replaces what the index holds with `listing`; returns what it held,
    /// for the caller to free after letting go of the lock. Claim times
    /// the listing did not read stay known when the index was current (a
    /// claim that changed since sent an event that made its time unknown
    /// again); after lost events none is trusted.
    fn install(&mut self, mut listing: Listing, drops: bool) -> Listing {
        let trusted = self.checked_at.is_some();
        if trusted {
            for (id, at) in &mut listing.running {
                if at.is_none() {
                    *at = self.running.get(id).copied().flatten();
                }
            }
        }
        std::mem::swap(&mut self.pending, &mut listing.pending);
        std::mem::swap(&mut self.running, &mut listing.running);
        std::mem::swap(&mut self.done, &mut listing.done);
        std::mem::swap(&mut self.failed, &mut listing.failed);
        self.extras = listing.extras;
        self.drops = drops;
        // Not current after lost events (or never read): no summary read
        // before can be trusted. After a periodic recheck, the files whose
        // events came are the ones that changed.
        self.prune_summaries(trusted);
        self.checked_at = Some(Instant::now());
        listing
    }
}

/// The background recheck of one index: every [`REFRESH_TICK`] (and once
/// at start), rebuilds the streams that are stale or close to ageing out,
/// so that no request waits for a full look at a big folder. Holds the
/// index only while it works: when the last queue lets go of it, the loop
/// ends.
fn refresh_loop(index: &Weak<Index>) {
    let mut first = true;
    loop {
        let Some(strong) = index.upgrade() else { return };
        // A warm index reads the streams right away; others are read on
        // their first look.
        if !first || !strong.warm {
            drop(strong);
            std::thread::sleep(REFRESH_TICK);
        }
        let Some(index) = index.upgrade() else { return };
        let queue = lock(&index.refresher).clone();
        if let Some(queue) = queue {
            // Warm at start: every stream is read now, not on its first look.
            if first && index.warm {
                for stream in queue.all_streams().unwrap_or_default() {
                    index.stream(&stream.name);
                }
            }
            queue.refresh(&index);
        }
        if first {
            index.warmed_up();
        }
        first = false;
    }
}
