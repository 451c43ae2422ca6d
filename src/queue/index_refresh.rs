//! Keeping the index current: starting it, the background recheck that
//! rebuilds a stream before it ages out (listing its folders without the
//! stream lock, see the `index` module), and the rebuild a full look makes.
//! The request side (claims, peeks, sweeps, pages and counts through the
//! index) is `index_queue`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::{INDEX_RECHECK, Index, Journal, REFRESH_TICK, Running, StreamEntry, StreamIndex, lock};
use crate::model::{Name, Stream, StreamStatus, TaskId, TaskStatus, Timestamp};
use crate::queue::{Queue, Result};
use crate::spool::PendingScan;

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
            // Requests that come before the warm-up's listings start wait
            // for them all the same.
            if warm {
                for stream in self.all_streams().unwrap_or_default() {
                    index.reserve_warm_up(&stream.name);
                }
            }
            *lock(&index.refresher) = Some(self.without_index());
            let weak = Arc::downgrade(&index);
            std::thread::Builder::new()
                .name("sparkq-index".to_owned())
                .spawn(move || refresh_loop(&weak))
                .map_err(notify::Error::io)?;
            self.attach(index);
        }
        Ok(())
    }

    /// This queue as a one-shot call sees the spool: no index.
    fn without_index(&self) -> Queue {
        Queue {
            index: None,
            spool: self.spool.clone().with_lock_files(None),
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
    /// and takes the lock only for what needs it. Then, for a warm index,
    /// reads the summaries missing, giving way to requests: every stream's
    /// ids first, which claims and pages need, then the summaries, which
    /// only the dashboard does.
    fn refresh(&self, index: &Index) {
        let entries: Vec<_> = lock(&index.shared.streams)
            .iter()
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect();
        let mut rebuilt = Vec::new();
        for (name, entry) in entries {
            if !due(&lock(&entry)) {
                continue;
            }
            // A stream that cannot be read (removed) is left to the looks,
            // which read its folders; a request waiting for its warm-up
            // goes on.
            let Ok(stream) = self.stream(&name) else {
                entry.release_reservation();
                continue;
            };
            match self.list_unlocked(&entry, &stream) {
                // Another listing is being made (a waiter's): it brings the
                // stream up to date, and requests wait for it.
                None => continue,
                Some(listed) => {
                    if !self.swap_in(index, &entry, listed) {
                        self.rebuild_locked(&entry, &stream);
                    }
                }
            }
            self.sweep_in_background(&entry, &stream);
            // Files changed without an event: found by looking each up,
            // holding no lock.
            self.verify_summaries(&entry, &stream.name);
            rebuilt.push((entry, stream));
        }
        if !index.warm {
            return;
        }
        for (entry, stream) in rebuilt {
            // Summaries never read, or dropped after lost events (by this
            // rebuild or a look's): read them now, outside every lock. A
            // few missing (files changed since) are read by the next
            // request that needs them.
            if lock(&entry).mostly_unsummarized() {
                self.warm_summaries(index, &entry, &stream);
            }
        }
    }

    /// Rebuilds `entry` from `stream`'s folders listed holding no lock,
    /// then swapped in with the events heard meanwhile applied again (see
    /// the `index` module). `false` when it cannot: the folders could not
    /// be read, events were lost meanwhile, or a dropped file waits for
    /// adoption, which needs the stream lock.
    pub(super) fn rebuild_unlocked(&self, index: &Index, entry: &StreamEntry, stream: &Stream) -> bool {
        match self.list_unlocked(entry, stream) {
            Some(listed) => self.swap_in(index, entry, listed),
            None => false,
        }
    }

    /// The first half of [`Queue::rebuild_unlocked`]: starts the journal
    /// (or takes over the one reserved for the warm-up), then lists the
    /// folders (and whether a dropped file waits). `None` when another
    /// unlocked rebuild of the stream is listing (one journal at a time).
    /// The caller must end it with [`Queue::swap_in`], which wakes the
    /// requests waiting for it.
    pub(super) fn list_unlocked(
        &self,
        entry: &StreamEntry,
        stream: &Stream,
    ) -> Option<Result<(Listing, bool)>> {
        {
            let mut ix = lock(entry);
            match &mut ix.journal {
                Some(journal) if journal.reserved => journal.reserved = false,
                Some(_) => return None,
                None => ix.journal = Some(Journal::default()),
            }
        }
        // A listing that panics ends its journal, so that no request waits
        // for it and the next recheck lists again.
        let unwinding = EndOnPanic(entry);
        let listed = self
            .list_folders(
                &stream.name,
                || Ok(self.spool.scan_pending_all(&stream.name)?),
                true,
            )
            .map(|listing| {
                let drops = listing.drops;
                (listing, drops)
            });
        drop(unwinding);
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
    /// the events heard meanwhile applied again; then wakes the requests
    /// waiting for it, whether it was swapped in or not (see
    /// `StreamEntry::built`).
    pub(super) fn swap_in(
        &self,
        index: &Index,
        entry: &StreamEntry,
        listed: Result<(Listing, bool)>,
    ) -> bool {
        let mut ix = lock(entry);
        let journal = ix.journal.take();
        let swapped = match (listed, journal) {
            (Ok((listing, false)), Some(journal)) if !journal.lost => {
                let old = ix.install(listing, false);
                index.shared.replay(&mut ix, &journal);
                drop(ix);
                drop(old);
                true
            }
            _ => {
                drop(ix);
                false
            }
        };
        entry.listing_ended();
        swapped
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
            ix.is_current() && ix.running.next_dead().is_some_and(|at| at <= now)
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

    /// Reads `stream`'s folders into `ix` after a full look, holding the
    /// stream lock and `ix`'s.
    pub(super) fn rebuild(&self, ix: &mut StreamIndex, stream: &Stream, scan: &PendingScan) -> Result<()> {
        // The look's scan holds every pending id unless the folder has more
        // than one scan keeps; only then is `pending/` listed again.
        let pending = || {
            Ok(if scan.has_more() {
                self.spool.scan_pending_all(&stream.name)?
            } else {
                PendingScan {
                    oldest: scan.oldest.clone(),
                    extras: scan.extras,
                    ..PendingScan::default()
                }
            })
        };
        let listing = self.list_folders(&stream.name, pending, false)?;
        ix.install(listing, has_drops(scan));
        Ok(())
    }

    /// Lists `stream`'s folders: `pending/` by `pending`, a scan holding
    /// every id (`Spool::scan_pending_all`), and `claimed/` on this
    /// thread, while another lists `done/` and `failed/` (at 100,000 tasks
    /// the two halves take about as long, and a request may wait for the
    /// listing; see `StreamEntry::built`). With `read_claims`, also reads
    /// when each running claim turns dead (a listing made without the
    /// stream lock, whose claims the next look must not have to read
    /// under it).
    fn list_folders(
        &self,
        stream: &Name,
        pending: impl FnOnce() -> Result<PendingScan>,
        read_claims: bool,
    ) -> Result<Listing> {
        let list =
            |status| -> Result<(Vec<TaskId>, bool)> { Ok(self.spool.list_ids_and_extras(stream, status)?) };
        let (pending, running, finished) = std::thread::scope(|s| {
            let finished = s.spawn(|| {
                Ok::<_, crate::queue::Error>((list(TaskStatus::Succeeded)?, list(TaskStatus::Failed)?))
            });
            let pending = pending();
            let running = list(TaskStatus::Running);
            let finished = finished
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (pending, running, finished)
        });
        let pending = pending?;
        debug_assert!(!pending.has_more(), "a scan of every pending id");
        let drops = has_drops(&pending);
        let (running, running_extras) = running?;
        let ((done, done_extras), (failed, failed_extras)) = finished?;
        let extras = pending.extras || running_extras || done_extras || failed_extras;
        let pending = pending.oldest;
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
            drops,
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
pub(super) fn has_drops(scan: &PendingScan) -> bool {
    !(scan.drops.is_empty() && scan.adopting.is_empty() && scan.foreign.is_empty())
}

/// What one read of a stream's folders found, to install in its index.
/// Built before the index's lock is taken, so that swapping it in costs
/// next to nothing however many tasks it holds.
pub(super) struct Listing {
    pending: BTreeSet<TaskId>,
    /// With the claims' times when they were read.
    running: Running,
    done: BTreeSet<TaskId>,
    failed: BTreeSet<TaskId>,
    extras: bool,
    /// `pending/` held something to adopt.
    drops: bool,
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
            listing.running.keep_times_of(&self.running);
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
        // Ends the warm-up however this pass ends (a panic too), so that no
        // request waits for it longer than the pass.
        let warm_up = WarmUp(first.then_some(&*index));
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
        drop(warm_up);
        first = false;
    }
}

/// Ends a listing's journal if the listing panics (see
/// [`Queue::list_unlocked`]).
struct EndOnPanic<'a>(&'a StreamEntry);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.0).journal = None;
            self.0.listing_ended();
        }
    }
}

/// The first pass of [`refresh_loop`]; dropping it ends the warm-up.
struct WarmUp<'a>(Option<&'a Index>);

impl Drop for WarmUp<'_> {
    fn drop(&mut self) {
        if let Some(index) = self.0 {
            index.warmed_up();
        }
    }
}
