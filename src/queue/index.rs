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
//! - One watch on `spool/streams/` and every folder below it, for changes
//!   only (see `spool::tree_watch`); the server's watches the whole spool
//!   and passes each change on to its live pages ([`Index::listen`]), so
//!   that one thread, not two, wakes on every change. An event about a task file is
//!   not trusted for what it says happened: the file is looked up
//!   (`lstat`) when the event is handled, so the index converges to the
//!   folder whatever order or number of events arrive.
//! - A kernel queue that overflowed, a watch error, or a state folder that
//!   was replaced (a git checkout, rsync) marks the index stale; so does age
//!   ([`INDEX_RECHECK`]). A stale stream is rebuilt from its folders by a
//!   background thread, which rechecks every stream before it ages out and
//!   rebuilds a stale one within [`REFRESH_TICK`], so requests do not pay
//!   for it; a look that finds its stream stale all the same (right after
//!   lost events) rebuilds it through the same full look a one-shot call
//!   makes (adopting drops, sweeping every claim), holding the lock.
//! - The background rebuild lists the folders holding neither the stream
//!   lock nor the index's own, so claims and peeks go on meanwhile. The
//!   events that arrive while it lists are kept in a [`Journal`] as well
//!   as applied; when the listing is swapped in (under the index's lock)
//!   each of them is applied again, looking its file up afresh. A file
//!   that changed during the listing has an event either in the journal
//!   or after the swap, so the index converges to the folders as if the
//!   listing had been instant. Only when something needs the stream lock
//!   (a dropped file to adopt, a claim due to be swept) or events were lost
//!   meanwhile does the recheck take the lock, as a look would.
//! - Files dropped into `pending/` by hand are adopted by the full look, so
//!   while one waits there the look takes the folder path.
//!
//! Dead claims are swept only when one can be due: the index knows when
//! each running task's claim turns dead (reading each claimed file once per
//! change, not on every look), and the sweep runs when the earliest of
//! those times has passed.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::SweepReport;
use crate::model::{Name, TaskId, TaskStatus, Timestamp};
use crate::spool::{self, PendingScan, SCAN_OLDEST};

/// How long an index is trusted without a look at the folders: the safety
/// net for events that were lost without the kernel saying so.
pub const INDEX_RECHECK: Duration = Duration::from_secs(30);

/// How often the background thread looks for streams to recheck: those
/// stale, and those within a third of [`INDEX_RECHECK`] of ageing out.
const REFRESH_TICK: Duration = if cfg!(test) {
    Duration::from_millis(50)
} else {
    Duration::from_secs(5)
};

/// How long the index's watching thread gathers events between batches
/// (see `spool::watch_tree_paced`): each event costs the thread a look-up
/// of its file, and waking it for every change of a busy spool (a claim and
/// a complete make about ten) took a core's time from the workers. The
/// index may lag the folders by this much more, which costs nothing: the
/// folder decides every claim, and a claim finding few ids in the index
/// reads `pending/` itself (see `index_queue`).
const EVENT_PAUSE: Duration = Duration::from_millis(2);

/// The longest a request waits for a warm index's first reading (see
/// [`Index::wait_for_warm_up`]) before it reads the files itself.
const WARM_UP_WAIT: Duration = Duration::from_secs(10);

/// The longest a request waits for a listing of its stream that is being
/// made (see [`StreamEntry::built`]) before it reads the folders itself: a
/// listing that hangs (a stuck file system) delays requests by this much,
/// never for ever.
const BUILD_WAIT: Duration = Duration::from_secs(5);

/// How many task files the warm-up reads between two looks at the requests
/// being served (see [`Index::yield_to_requests`]): about a millisecond of
/// one core's work when the files are cached, more when read from disk.
const WARM_UP_STEP: usize = 64;

/// The longest the warm-up waits for the requests being served to end
/// before it reads its next step all the same: under constant load it
/// still ends, at about one step per this long.
const WARM_UP_YIELD: Duration = Duration::from_millis(20);

/// How long no request must have been served before the warm-up reads a
/// step: longer than the gap between the requests of a client that sends
/// them back to back (a tenth of a millisecond), which a step started in
/// would overlap with the next request.
const WARM_UP_QUIET: Duration = Duration::from_millis(2);

/// The live index of one spool. Cloned queues share it.
pub struct Index {
    shared: Arc<Shared>,
    /// The queue the background recheck reads the folders with (one
    /// without an index, so the two never keep each other alive); see
    /// [`Queue::start_index`].
    refresher: Mutex<Option<crate::queue::Queue>>,
    /// Whether the background recheck keeps the summaries of every stream
    /// read (the server's dashboard; see `Queue::start_index_with_summaries`).
    warm: bool,
    /// Whether the first reading of every stream (a warm index's, at
    /// start) is still going on; see [`Index::wait_for_warm_up`].
    warming: (Mutex<bool>, Condvar),
    /// The requests being served, which the warm-up's reading of summaries
    /// gives way to (see [`Index::yield_to_requests`]); notified when the
    /// last one ends or one starts waiting for the warm-up.
    requests: (Mutex<Requests>, Condvar),
    /// The streams' own files as last read, for [`Queue::stream`]: checked
    /// with a `stat` on every use (see `spool::StreamCache`), so it needs
    /// no events; it lives here because only a long-lived process gains.
    pub(super) stream_files: spool::StreamCache,
    /// The stream lock files, kept open by the queues that use this index
    /// (see `spool::LockFiles`).
    pub(super) lock_files: Arc<spool::LockFiles>,
    /// The task-list rows served last, checked with an `lstat` on every
    /// use (see `listing`); here for the same reason as `stream_files`.
    pub(super) listings: listing::ListingCache,
    /// Dropping it stops the events.
    _watch: spool::TreeWatch,
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
    streams: Mutex<HashMap<String, Arc<StreamEntry>>>,
    /// Whether the watch covers the whole spool (sessions too), not only
    /// `streams/`: a warm index's (the server's), whose live pages hear of
    /// every change through it (see [`Index::listen`]).
    whole_spool: bool,
    /// Who else hears every change the watch reports, after the index
    /// applied it (see [`Index::listen`]).
    listeners: Mutex<Listeners>,
}

/// A receiver of the changes an index's watch hears (see [`Index::listen`]).
type Listener = Box<dyn FnMut(spool::TreeEvent<'_>) + Send>;

/// The listeners of one index, by the number their [`Listening`] holds.
#[derive(Default)]
struct Listeners {
    next: u64,
    all: Vec<(u64, Listener)>,
}

/// A listener of an index's watch (see [`Index::listen`]); dropping it
/// stops the calls.
pub struct Listening {
    shared: std::sync::Weak<Shared>,
    id: u64,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening").field("id", &self.id).finish()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            lock(&shared.listeners).all.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The requests a server is serving (see [`Queue::serving`]).
#[derive(Debug, Default)]
struct Requests {
    serving: usize,
    /// When the last one ended.
    last_end: Option<Instant>,
    /// Of those, the ones waiting for the warm-up to end: it then reads on
    /// every core without giving way.
    waiting_for_warm_up: usize,
    /// Threads waiting for the requests to end (the warm-up's, see
    /// [`Index::yield_to_requests`]): only then does the end of the last
    /// one notify, so that a request ends without a system call to wake
    /// nobody once the warm-up is over.
    yielding: usize,
}

/// One stream's index, and the signal that a listing of it ended.
#[derive(Debug, Default)]
struct StreamEntry {
    index: Mutex<StreamIndex>,
    /// Notified when a listing made without the index's lock ends, swapped
    /// in or not (see [`StreamEntry::built`]).
    listed: Condvar,
}

impl std::ops::Deref for StreamEntry {
    type Target = Mutex<StreamIndex>;

    fn deref(&self) -> &Mutex<StreamIndex> {
        &self.index
    }
}

impl StreamEntry {
    /// The stream's index, locked, once no listing that would make it
    /// current is being made: a request that comes while the background
    /// lists the folders (above all the warm-up at start, at 100,000 tasks
    /// a few hundred milliseconds) waits for that listing instead of
    /// making its own full look beside it, which would list the same
    /// folders again, holding the stream lock. The listing ends swapped in
    /// or failed, and either wakes the waiters ([`Queue::swap_in`]); a
    /// failed one leaves the index stale, and the request reads the folders
    /// as before. Waits at most [`BUILD_WAIT`].
    fn built(&self) -> MutexGuard<'_, StreamIndex> {
        let deadline = Instant::now() + BUILD_WAIT;
        let mut ix = lock(self);
        while ix.building() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            ix.waiting += 1;
            ix = self
                .listed
                .wait_timeout(ix, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            ix.waiting -= 1;
        }
        ix
    }

    /// A listing ended (swapped in or not): requests waiting for it go on.
    fn listing_ended(&self) {
        self.listed.notify_all();
    }

    /// Ends the journal reserved for the warm-up if no listing took it
    /// over (see [`Index::reserve_warm_up`]).
    fn release_reservation(&self) {
        let mut ix = lock(self);
        if ix.journal.as_ref().is_some_and(|j| j.reserved) {
            ix.journal = None;
            drop(ix);
            self.listing_ended();
        }
    }
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
    running: Running,
    /// The modification time of `claimed/` when `running` was last checked
    /// against its listing (see [`Queue::catch_up_claims`]).
    claimed_seen: Option<std::time::SystemTime>,
    /// The ids in `done/` and `failed/`, for listing pages and counts.
    done: BTreeSet<TaskId>,
    failed: BTreeSet<TaskId>,
    /// When the stream folder was last listed for batch folders and none
    /// was left (see [`Queue::recover_batches_indexed`]); `None`: list it
    /// on the next look. An event about a batch folder, or a stale index,
    /// sets it back to `None`.
    batches_listed: Option<Instant>,
    /// A state folder holds an extra copy (`<id>.json~…`) from a sync:
    /// listings take the folder path, which settles it.
    extras: bool,
    /// Per state folder (by status), what stats and `since` need of each
    /// task file, read once per change (see `index_summary`).
    summaries: [HashMap<TaskId, Arc<Summary>>; 4],
    /// Per state folder, the event count at each file's latest event.
    stamps: [HashMap<TaskId, u64>; 4],
    /// Events about task files seen so far.
    events: u64,
    /// While the background recheck lists the folders unlocked: the events
    /// heard meanwhile, to replay on its listing.
    journal: Option<Journal>,
    /// Requests waiting for that listing (see [`StreamEntry::built`]).
    waiting: usize,
}

/// The events heard while a listing was made without the index's lock.
#[derive(Debug, Default)]
struct Journal {
    /// The task files whose events came, in order (looked up again on
    /// replay: the file as it is then decides, not the event).
    paths: Vec<PathBuf>,
    /// An event that makes the whole stream stale came (lost events, a
    /// replaced folder): the listing cannot be trusted.
    lost: bool,
    /// Begun when a warm index started, for the warm-up's first listing,
    /// which has not started yet: requests wait for it from the first
    /// moment (see [`Index::reserve_warm_up`]).
    reserved: bool,
}

/// When a running claim turns stale and dead, as its file said.
#[derive(Debug, Clone, Copy)]
struct Alive {
    stale_at: Timestamp,
    dead_at: Timestamp,
}

impl StreamIndex {
    /// Nothing the index holds of this stream can be trusted any more.
    fn mark_stale(&mut self) {
        self.checked_at = None;
        self.batches_listed = None;
        if let Some(journal) = &mut self.journal {
            journal.lost = true;
        }
    }

    fn is_current(&self) -> bool {
        self.checked_at.is_some_and(|at| at.elapsed() < INDEX_RECHECK)
    }

    /// Whether a listing is being made that will make the index current
    /// when it is swapped in (none after lost events: that one will not be).
    fn building(&self) -> bool {
        !self.is_current() && self.journal.as_ref().is_some_and(|j| !j.lost)
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
    /// (created if missing), or with `warm` (the server's index) the whole
    /// spool, whose every change its live pages hear of through the same
    /// watch (see [`Index::listen`]). Streams are read on their first look.
    pub fn watch(root: &Path, warm: bool) -> notify::Result<Index> {
        let streams_dir = root.join("streams");
        std::fs::create_dir_all(&streams_dir).map_err(notify::Error::io)?;
        let shared = Arc::new(Shared {
            streams_dir: streams_dir.clone(),
            streams: Mutex::new(HashMap::new()),
            whole_spool: warm,
            listeners: Mutex::default(),
        });
        let events = shared.clone();
        let watched = if warm { root } else { &streams_dir };
        let watch = spool::watch_tree_paced(watched, Some(EVENT_PAUSE), move |event| {
            events.observe(event);
            events.tell_listeners(event);
        })
        .map_err(notify::Error::io)?;
        Ok(Index {
            shared,
            refresher: Mutex::new(None),
            warm,
            warming: (Mutex::new(warm), Condvar::new()),
            requests: (Mutex::new(Requests::default()), Condvar::new()),
            stream_files: spool::StreamCache::default(),
            lock_files: Arc::default(),
            listings: listing::ListingCache::default(),
            _watch: watch,
        })
    }

    /// Begins the journal of `stream` for the warm-up's first listing
    /// before the background thread starts it, so that requests coming in
    /// between wait for that listing too (see [`StreamEntry::built`]).
    /// Released at the end of the warm-up if no listing took it over.
    fn reserve_warm_up(&self, stream: &Name) {
        let entry = self.stream(stream);
        let mut ix = lock(&entry);
        if ix.journal.is_none() && !ix.is_current() {
            ix.journal = Some(Journal {
                reserved: true,
                ..Journal::default()
            });
        }
    }

    /// Ends the reservations no listing took over (a stream that could
    /// not be read), waking the requests that wait for them.
    fn release_reservations(&self) {
        let entries: Vec<_> = lock(&self.shared.streams).values().cloned().collect();
        for entry in entries {
            entry.release_reservation();
        }
    }

    /// Waits (up to [`WARM_UP_WAIT`]) for the reading of every stream at
    /// start to end: a request for every task's summary that comes
    /// meanwhile would read the same files beside it, and both take longer.
    /// With `hurry` (a request), the warm-up meanwhile reads on every
    /// core, giving way to no request (see [`Index::yield_to_requests`]).
    fn wait_for_warm_up(&self, hurry: bool) {
        let (warming, ended) = &self.warming;
        if !*lock(warming) {
            return;
        }
        let (requests, changed) = &self.requests;
        if hurry {
            lock(requests).waiting_for_warm_up += 1;
            changed.notify_all();
        }
        drop(
            ended
                .wait_timeout_while(lock(warming), WARM_UP_WAIT, |w| *w)
                .unwrap_or_else(PoisonError::into_inner),
        );
        if hurry {
            lock(requests).waiting_for_warm_up -= 1;
        }
    }

    /// The reading of every stream at start is over (or failed).
    fn warmed_up(&self) {
        self.release_reservations();
        let (warming, ended) = &self.warming;
        *lock(warming) = false;
        ended.notify_all();
    }

    /// Before each step of reading summaries in the background: waits
    /// until no request has been served for [`WARM_UP_QUIET`], so that at
    /// start (at 100,000 tasks a second or two of reading) the claims and
    /// pages that come meanwhile keep the cores and the disk; at most
    /// [`WARM_UP_YIELD`], so that under constant load the reading still
    /// ends. Returns whether a request waits for the reading to end: then
    /// it gives way to none (each step it gave way would add to that
    /// request's wait; measured, the first dashboard at 100,000 tasks took
    /// twice as long) and reads on every core.
    fn yield_to_requests(&self) -> bool {
        let (requests, changed) = &self.requests;
        let deadline = Instant::now() + WARM_UP_YIELD;
        let mut r = lock(requests);
        loop {
            if r.waiting_for_warm_up > 0 {
                return true;
            }
            let now = Instant::now();
            let quiet_at = match (r.serving, r.last_end) {
                (0, None) => return false,
                (0, Some(end)) if now.duration_since(end) >= WARM_UP_QUIET => return false,
                (0, Some(end)) => end + WARM_UP_QUIET,
                // Busy: woken when the last request ends.
                _ => deadline,
            };
            if now >= deadline {
                return false;
            }
            r.yielding += 1;
            r = changed
                .wait_timeout(r, quiet_at.min(deadline) - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            r.yielding -= 1;
        }
    }

    /// Brings the index in line at once with task `id`'s files in the
    /// folders of `statuses`, as their events will (looking each file up;
    /// doing it twice is harmless). For this process's own writes, so that
    /// what it wrote is what it lists and counts next (read your writes),
    /// not only once the watching thread takes the events, which it does
    /// in batches (see `EVENT_PAUSE`).
    pub(super) fn heard_task(&self, stream: &Name, id: &TaskId, statuses: &[TaskStatus]) {
        let dir = self.shared.streams_dir.join(stream.as_str());
        for &status in statuses {
            let path = dir.join(spool::state_dir(status)).join(id.file_name());
            self.shared.observe_path(&path);
        }
    }

    /// Calls `on` for every change in the spool this index's watch hears,
    /// on the watching thread, after the index applied it (what `on` reads
    /// through the index is as current as the change), until the returned
    /// [`Listening`] is dropped. Paths are reported once per batch of
    /// events, as the index takes them (see `EVENT_PAUSE`), and lost events
    /// as [`spool::TreeEvent::Lost`]. For the server's live pages: one
    /// watch of the spool, not a second one waking beside the index's on
    /// every change a claim makes. An error when the watch does not cover the
    /// whole spool (only a warm index's does): `on` is given back, and the
    /// caller watches the spool itself.
    pub(crate) fn listen<F>(&self, on: F) -> Result<Listening, F>
    where
        F: FnMut(spool::TreeEvent<'_>) + Send + 'static,
    {
        if !self.shared.whole_spool {
            return Err(on);
        }
        let mut listeners = lock(&self.shared.listeners);
        listeners.next += 1;
        let id = listeners.next;
        listeners.all.push((id, Box::new(on)));
        Ok(Listening {
            shared: Arc::downgrade(&self.shared),
            id,
        })
    }

    /// The spool folder this index watches.
    pub fn spool_root(&self) -> Option<&Path> {
        self.shared.streams_dir.parent()
    }

    /// Whether it keeps every stream's summaries read (see `warm`).
    pub(super) fn is_warm(&self) -> bool {
        self.warm
    }

    /// The entry of `stream`, created (stale) on first use.
    fn stream(&self, stream: &Name) -> Arc<StreamEntry> {
        lock(&self.shared.streams)
            .entry(stream.as_str().to_owned())
            .or_default()
            .clone()
    }
}

/// A request a server is serving (see [`Queue::serving`]); dropping it
/// ends it.
#[derive(Debug)]
pub struct Serving(Arc<Index>);

impl Serving {
    fn start(index: Arc<Index>) -> Serving {
        lock(&index.requests.0).serving += 1;
        Serving(index)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let (requests, changed) = &self.0.requests;
        let mut requests = lock(requests);
        requests.serving -= 1;
        requests.last_end = Some(Instant::now());
        if requests.serving == 0 && requests.yielding > 0 {
            changed.notify_all();
        }
    }
}

impl Shared {
    /// Applies one file-system event.
    fn observe(&self, event: spool::TreeEvent<'_>) {
        match event {
            spool::TreeEvent::Changed(path) => self.observe_path(path),
            // Events were lost: nothing the index holds can be trusted.
            spool::TreeEvent::Lost => self.mark_all_stale(),
        }
    }

    /// Passes one event on to the listeners (see [`Index::listen`]).
    fn tell_listeners(&self, event: spool::TreeEvent<'_>) {
        let mut listeners = lock(&self.listeners);
        for (_, on) in &mut listeners.all {
            on(event);
        }
    }

    fn mark_all_stale(&self) {
        let streams: Vec<_> = lock(&self.streams).values().cloned().collect();
        for stream in streams {
            lock(&stream).mark_stale();
        }
    }

    /// The parts of `path` below the streams folder (stream first), or
    /// `None` for a path outside it or not UTF-8.
    fn parts<'p>(&self, path: &'p Path) -> Option<Vec<&'p str>> {
        let relative = path.strip_prefix(&self.streams_dir).ok()?;
        relative
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect()
    }

    /// Brings the index in line with what `path` is now.
    fn observe_path(&self, path: &Path) {
        let Some(parts) = self.parts(path) else { return };
        let Some(stream) = parts.first() else {
            // The streams folder itself: everything may have changed.
            return self.mark_all_stale();
        };
        // Streams nobody has looked at yet are read on their first look.
        let Some(entry) = lock(&self.streams).get(*stream).cloned() else {
            return;
        };
        let mut index = lock(&entry);
        if let (Some(journal), [_, _]) = (&mut index.journal, &parts[1..]) {
            journal.paths.push(path.to_owned());
        }
        apply(&mut index, &parts[1..], path);
    }

    /// Applies again, on a listing just swapped in, the events a
    /// [`Journal`] kept.
    fn replay(&self, index: &mut StreamIndex, journal: &Journal) {
        for path in &journal.paths {
            if let Some(parts) = self.parts(path) {
                apply(index, &parts[1..], path);
            }
        }
    }
}

/// Brings `index` in line with what `path` (`rest`: its parts below the
/// stream's folder) is now, looking the file up.
fn apply(index: &mut StreamIndex, rest: &[&str], path: &Path) {
    match *rest {
        // The stream folder or one of its state folders was created,
        // removed or replaced: files may have come or gone unseen.
        [] => index.mark_stale(),
        [folder] if folder == "pending" || folder == "claimed" => index.mark_stale(),
        [folder] if folder == "done" || folder == "failed" => index.mark_stale(),
        // A batch being staged, published or abandoned (see `spool::batch`).
        [folder] if spool::is_batch_dir(folder) => index.batches_listed = None,
        [_, file] if spool::extra_copy_id(file).is_some() => index.extras = true,
        ["pending", file] => observe_pending(index, path, file),
        [folder @ ("done" | "failed"), file] => {
            if let Some(id) = TaskId::from_file_name(file) {
                let status = if folder == "done" {
                    TaskStatus::Succeeded
                } else {
                    TaskStatus::Failed
                };
                index.file_changed(status, &id);
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
                index.file_changed(TaskStatus::Running, &id);
                if std::fs::symlink_metadata(path).is_ok() {
                    // New or changed (a heartbeat, a new claim): read
                    // again before the next sweep decision.
                    index.running.set(id, None);
                } else {
                    index.running.remove(&id);
                }
            }
        }
        _ => {}
    }
}

/// Applies an event about `pending/<file>`.
fn observe_pending(index: &mut StreamIndex, path: &Path, file: &str) {
    let found = std::fs::symlink_metadata(path).ok();
    if let Some(id) = TaskId::from_file_name(file) {
        index.file_changed(TaskStatus::Queued, &id);
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

#[path = "index_queue.rs"]
mod queue_side;

#[path = "index_refresh.rs"]
mod refresh;

#[path = "index_running.rs"]
mod running;
use running::Running;

#[path = "index_listing.rs"]
mod listing;

#[path = "index_summary.rs"]
mod summary;
pub(in crate::queue) use summary::Summary;

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
