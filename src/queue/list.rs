//! Reading: task lists (newest first, cursor-paged), one task, and streams
//! with their counts.
//!
//! A page lists file names only and reads just the task files it returns,
//! so its cost grows with the number of files in the folders it lists, not
//! with their size.

use serde::Serialize;

use super::filter::{TaskMatch, check_window};
use super::{Error, Queue, Result};
use crate::model::{Name, Stream, StreamStatus, Task, TaskId, TaskListing, TaskStatus, Timestamp};
use crate::spool::{NewestAsk, PendingScan};

/// The most tasks one page may hold.
pub const MAX_PAGE: usize = 1000;

/// The most threads [`Queue::fold_tasks`] reads with.
pub(super) const MAX_READERS: usize = 8;

/// Below this many tasks, [`Queue::fold_tasks`] reads on the caller's
/// thread: starting threads would cost more than they save.
pub(super) const PARALLEL_FROM: usize = 2000;

/// Runs `read_part` over `items`: in one go when there are few (below
/// [`PARALLEL_FROM`]) or one core, else over up to [`MAX_READERS`] scoped
/// threads, one chunk each; one answer per chunk, in order. A reader's
/// panic is passed on.
pub(super) fn in_parallel<T: Sync, R: Send>(items: &[T], read_part: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READERS));
    if threads < 2 || items.len() < PARALLEL_FROM {
        return vec![read_part(items)];
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let readers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| read_part(part)))
            .collect();
        readers
            .into_iter()
            .map(|reader| {
                reader
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub stream: Option<String>,
    /// Only running tasks past their timeout.
    pub stale: bool,
    /// At most this many (1..=1000); 50 if `None`.
    pub limit: Option<usize>,
    /// Only tasks older than this id (the previous page's `next_cursor`).
    pub before: Option<String>,
    /// Only tasks with this text (any case) in their summary, error or
    /// payload (its JSON text).
    pub text: Option<String>,
    /// Only tasks of this tool.
    pub tool: Option<String>,
    /// Only tasks claimed by this worker (`claimed_by`).
    pub worker: Option<String>,
    /// Only tasks last updated at or after this moment.
    pub since: Option<Timestamp>,
    /// Only tasks last updated before this moment.
    pub until: Option<Timestamp>,
}

/// One page of tasks, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_cursor: Option<TaskId>,
}

impl TaskPage {
    /// The page as lists show it: listings instead of full tasks, so its
    /// size does not grow with what the tasks carry.
    pub fn into_listings(self, now: Timestamp) -> ListingPage {
        ListingPage {
            tasks: self.tasks.into_iter().map(|t| TaskListing::of(t, now)).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// One page of task listings, newest first: what `GET /api/tasks` and
/// `sparkq tasks --json` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListingPage {
    pub tasks: Vec<TaskListing>,
    /// Pass as `before` (the API's `cursor`) to get the next page; `None`
    /// on the last page.
    pub next_cursor: Option<TaskId>,
}

/// How many tasks a stream holds in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    /// Running tasks past their timeout (included in `running`).
    pub stale: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// A stream with its task counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamInfo {
    #[serde(flatten)]
    pub stream: Stream,
    pub counts: Counts,
}

/// What a page of [`Queue::list_tasks`] asks for, checked.
struct PageAsk {
    limit: usize,
    before: Option<TaskId>,
    wanted: TaskMatch,
    streams: Vec<Stream>,
    statuses: Vec<TaskStatus>,
    /// Per stream, the read of `pending/` its look made, holding the
    /// page's newest queued ids (see [`Queue::touch_quietly`]).
    listed: Vec<Option<PendingScan>>,
}

/// A page's rows, newest first, and the cursor of the next page.
type Rows<R> = (Vec<R>, Option<TaskId>);

impl Queue {
    /// `filter` checked, with the streams and folders it lists; each of
    /// those streams is looked at first (drops adopted, dead claims swept).
    fn page_ask(&self, filter: &TaskFilter) -> Result<PageAsk> {
        let limit = filter.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("{limit} is out of range"),
                "Ask for 1 to 1000 tasks per page.",
            ));
        }
        let before = filter.before.as_deref().map(super::parse_task_id).transpose()?;
        check_window(filter.since, filter.until)?;
        let wanted = TaskMatch::of(filter, Timestamp::now());
        let streams = match &filter.stream {
            Some(name) => vec![self.stream(name)?],
            None => self.all_streams()?,
        };
        let statuses: Vec<TaskStatus> = match (filter.stale, filter.status) {
            (true, _) => vec![TaskStatus::Running],
            (false, Some(status)) => vec![status],
            (false, None) => TaskStatus::ALL.to_vec(),
        };
        // The page's queued ids come from the look's read of `pending/`
        // when the page can use them.
        let newest =
            (wanted.is_everything() && statuses.contains(&TaskStatus::Queued)).then_some(NewestAsk {
                n: limit + 1,
                before: before.as_ref(),
            });
        let listed = streams
            .iter()
            .map(|stream| self.touch_quietly(stream, newest))
            .collect();
        Ok(PageAsk {
            limit,
            before,
            wanted,
            streams,
            statuses,
            listed,
        })
    }

    /// One page of task listings matching `filter`, newest first, their
    /// staleness judged at `now`: what [`Queue::list_tasks`] then
    /// [`TaskPage::into_listings`] answer. A long-lived process serves the
    /// rows of files unchanged since it last read them from its index
    /// (see `index::listing`).
    pub fn list_listings(&self, filter: &TaskFilter, now: Timestamp) -> Result<ListingPage> {
        let ask = self.page_ask(filter)?;
        if let Some(index) = &self.index
            && ask.wanted.is_everything()
        {
            let read = |stream: &Name, status: TaskStatus, id: &TaskId| {
                index.listings.row(&self.spool, stream, status, id, now)
            };
            let page = self.newest_page(&ask, &ask.listed, read, |row: &TaskListing| &row.id)?;
            if let Some((tasks, next_cursor)) = page {
                return Ok(ListingPage { tasks, next_cursor });
            }
        }
        Ok(self.tasks_page(&ask)?.into_listings(now))
    }

    /// One page of tasks matching `filter`, newest first.
    pub fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage> {
        self.tasks_page(&self.page_ask(filter)?)
    }

    /// The page `ask` (checked, its streams looked at) asks for.
    fn tasks_page(&self, ask: &PageAsk) -> Result<TaskPage> {
        let PageAsk {
            limit,
            wanted,
            streams,
            statuses,
            ..
        } = ask;
        let (limit, before) = (*limit, ask.before.as_ref());
        if wanted.is_everything() {
            let read =
                |stream: &Name, status: TaskStatus, id: &TaskId| self.spool.read_task(stream, status, id);
            if let Some((tasks, next_cursor)) = self.newest_page(ask, &ask.listed, read, |t: &Task| &t.id)? {
                return Ok(TaskPage { tasks, next_cursor });
            }
            // The page met two copies of one task (or an extra copy, or an
            // unreadable file):
            // remove the copies that lost and carry nothing (SPEC 9's safe
            // part), then try the fast path once more.
            for stream in streams {
                self.settle_quietly(stream);
            }
            // Settling changed the folders: they are read again.
            if let Some((tasks, next_cursor)) = self.newest_page(ask, &[], read, |t: &Task| &t.id)? {
                return Ok(TaskPage { tasks, next_cursor });
            }
        }
        // A filter on what the index keeps of each task (tool, worker,
        // update window) reads only the page's files.
        if !wanted.needs_file()
            && let Some(page) = self.indexed_filtered_page(streams, statuses, wanted, before, limit)
        {
            return Ok(page);
        }
        let entries = self.every_id(streams, statuses, before)?;

        // The ids are known; which tasks match is known only by reading
        // them, newest first, until the page is full. They are read in
        // windows that start at a page and double, each on a few threads
        // once large (see `fold_tasks`), so a filter that matches little
        // does not read one file at a time through the whole spool.
        let mut tasks: Vec<Task> = Vec::new();
        let (mut start, mut window) = (0, limit + 1);
        while start < entries.len() && tasks.len() < limit {
            let end = start.saturating_add(window).min(entries.len());
            let found = self.fold_tasks(streams, &entries[start..end], Vec::new, |found, _, _, task| {
                if wanted.matches(&task) {
                    found.push(task);
                }
            });
            let room = limit - tasks.len();
            tasks.extend(found.into_iter().flatten().take(room));
            (start, window) = (end, window.saturating_mul(2));
        }
        // A next page exists when any task is listed after the last shown.
        let next_cursor = match (tasks.last(), entries.last()) {
            (Some(last), Some((final_id, ..))) if tasks.len() == limit && last.id != *final_id => {
                Some(last.id.clone())
            }
            _ => None,
        };
        Ok(TaskPage { tasks, next_cursor })
    }

    /// Every task of `streams` in `statuses` older than `before`, as (id,
    /// index into `streams`, folder), newest first and each task once: of
    /// two copies of one id, the one the lattice ranks higher (as
    /// `get_task` and `doctor` would have it), and of copies it cannot
    /// tell apart, the later folder. Reads only the files of ids found in
    /// more than one folder.
    pub(super) fn every_id(
        &self,
        streams: &[Stream],
        statuses: &[TaskStatus],
        before: Option<&TaskId>,
    ) -> Result<Vec<(TaskId, usize, TaskStatus)>> {
        let mut entries: Vec<(TaskId, usize, TaskStatus)> = Vec::new();
        for (i, stream) in streams.iter().enumerate() {
            for status in statuses {
                for id in self.spool.list_ids(&stream.name, *status)? {
                    if before.is_none_or(|b| id < *b) {
                        entries.push((id, i, *status));
                    }
                }
            }
        }
        entries.sort_unstable_by(|a, b| b.0.cmp(&a.0).then((b.2 as u8).cmp(&(a.2 as u8))));
        let duplicated: Vec<bool> = (0..entries.len())
            .map(|i| {
                (i > 0 && entries[i - 1].0 == entries[i].0)
                    || (i + 1 < entries.len() && entries[i + 1].0 == entries[i].0)
            })
            .collect();
        let mut kept = Vec::with_capacity(entries.len());
        for (entry, duplicated) in entries.into_iter().zip(duplicated) {
            if !duplicated || !self.is_superseded(&streams[entry.1].name, &entry.0, entry.2)? {
                kept.push(entry);
            }
        }
        let mut entries = kept;
        entries.dedup_by(|a, b| a.0 == b.0);
        Ok(entries)
    }

    /// Reads the task of every entry (see [`Queue::every_id`]) and folds
    /// it into an accumulator made by `init`, spread over up to
    /// [`MAX_READERS`] threads when there are many (reading and parsing
    /// files from the page cache scales with cores); returns one
    /// accumulator per thread, for the caller to merge. Files that are gone
    /// or unreadable are skipped, as a list skips them.
    pub(super) fn fold_tasks<A, I, F>(
        &self,
        streams: &[Stream],
        entries: &[(TaskId, usize, TaskStatus)],
        init: I,
        fold: F,
    ) -> Vec<A>
    where
        A: Send,
        I: Fn() -> A + Sync,
        F: Fn(&mut A, usize, TaskStatus, Task) + Sync,
    {
        in_parallel(entries, |part| {
            let mut acc = init();
            for (id, stream, status) in part {
                if let Ok(Some(task)) = self.spool.read_task(&streams[*stream].name, *status, id) {
                    fold(&mut acc, *stream, *status, task);
                }
            }
            acc
        })
    }

    /// The fast path of [`Queue::list_tasks`] when no condition needs the
    /// task's content (stale, text, tool, worker, time):
    /// only the `limit + 1` newest ids of each folder are collected, and
    /// only the returned tasks are read, by `read` (a task, or its list
    /// row), which `id_of` names. `None` when that is not enough to be sure
    /// of the page (the same id in two folders, or unreadable files among
    /// the candidates); the caller then lists everything. A stream's queued
    /// ids come from its read of `pending/` in `listed`, if there is one.
    fn newest_page<R>(
        &self,
        ask: &PageAsk,
        listed: &[Option<PendingScan>],
        read: impl Fn(&Name, TaskStatus, &TaskId) -> std::result::Result<Option<R>, crate::spool::Error>,
        id_of: impl Fn(&R) -> &TaskId,
    ) -> Result<Option<Rows<R>>> {
        let (streams, statuses, limit) = (&ask.streams, &ask.statuses[..], ask.limit);
        let before = ask.before.as_ref();
        let want = limit + 1;
        let mut entries: Vec<(TaskId, usize, TaskStatus)> = Vec::new();
        let mut truncated = false;
        for (i, stream) in streams.iter().enumerate() {
            for status in statuses {
                let (ids, extra_copies) = match listed.get(i).and_then(Option::as_ref) {
                    Some(PendingScan {
                        newest: Some(newest),
                        extras,
                        ..
                    }) if *status == TaskStatus::Queued => (newest.clone(), *extras),
                    _ => self.newest_ids(&stream.name, *status, before, want)?,
                };
                if extra_copies {
                    return Ok(None);
                }
                truncated |= ids.len() == want;
                entries.extend(ids.into_iter().map(|id| (id, i, *status)));
            }
        }
        entries.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Ok(None);
        }
        let mut tasks = Vec::new();
        let mut rest = entries.into_iter();
        for (id, stream, status) in rest.by_ref() {
            match read(&streams[stream].name, status, &id) {
                Ok(Some(task)) => tasks.push(task),
                // Moved since its id was listed (a claim, a finish; an
                // index hears of it a moment later): read it where it is
                // now, if the page asks for that state.
                Ok(None) => match statuses
                    .iter()
                    .filter(|s| **s != status)
                    .find_map(|s| read(&streams[stream].name, *s, &id).ok().flatten())
                {
                    Some(task) => tasks.push(task),
                    None => return Ok(None),
                },
                Err(_) => return Ok(None),
            }
            if tasks.len() == limit {
                break;
            }
        }
        let more = rest.next().is_some();
        if tasks.len() < limit && truncated {
            return Ok(None);
        }
        let next_cursor = if more {
            tasks.last().map(|t| id_of(t).clone())
        } else {
            None
        };
        Ok(Some((tasks, next_cursor)))
    }

    /// The listing of the task file `id` in `stream`'s folder for `status`
    /// as it is now, without looking elsewhere; `None` when that file is
    /// gone or unreadable. For live updates, which name the file that
    /// changed.
    pub fn listing_at(&self, stream: &str, status: TaskStatus, id: &str) -> Option<TaskListing> {
        let stream = Name::parse(stream).ok()?;
        let id = TaskId::parse(id)?;
        let task = self.spool.read_task(&stream, status, &id).ok()??;
        Some(TaskListing::of(task, Timestamp::now()))
    }

    /// The task with id `id`, wherever it is.
    pub fn get_task(&self, id: &str) -> Result<Task> {
        let id = super::parse_task_id(id)?;
        let mut best: Option<Task> = None;
        for (stream, status) in self.spool.locate(&id)? {
            if let Ok(Some(task)) = self.spool.read_task(&stream, status, &id)
                && best
                    .as_ref()
                    .is_none_or(|b| task.lattice_key(status) > b.lattice_key(b.status))
            {
                best = Some(task);
            }
        }
        best.ok_or(Error::UnknownTask { id: id.to_string() })
    }

    /// Streams, with counts, optionally only those of one session.
    pub fn list_streams(&self, session: Option<&str>) -> Result<Vec<StreamInfo>> {
        let session = session.map(|s| self.session(s)).transpose()?;
        let mut infos = Vec::new();
        for stream in self.all_streams()? {
            if session.as_ref().is_some_and(|s| s.name != stream.session) {
                continue;
            }
            let listed = self.touch_quietly(&stream, None);
            let counts = self.counts_listed(&stream.name, listed.as_ref())?;
            infos.push(StreamInfo { stream, counts });
        }
        Ok(infos)
    }

    /// One stream, whole brief and counts: what `stream show` prints.
    pub fn stream_info(&self, name: &str) -> Result<StreamInfo> {
        let stream = self.stream(name)?;
        let listed = self.touch_quietly(&stream, None);
        let counts = self.counts_listed(&stream.name, listed.as_ref())?;
        Ok(StreamInfo { stream, counts })
    }

    /// How many tasks `stream` holds in each state.
    pub fn counts(&self, stream: &Name) -> Result<Counts> {
        self.counts_listed(stream, None)
    }

    /// [`Queue::counts`], taking the queued count from `listed`, a read of
    /// `pending/` just made (see [`Queue::touch_quietly`]), when given.
    fn counts_listed(&self, stream: &Name, listed: Option<&PendingScan>) -> Result<Counts> {
        if let Some(counts) = self.indexed_counts(stream) {
            return Ok(counts);
        }
        let (running, stale) = self.count_claims(stream, Timestamp::now())?;
        let queued = match listed {
            Some(scan) => scan.total,
            None => self.spool.count_ids(stream, TaskStatus::Queued)?,
        };
        Ok(Counts {
            queued,
            running,
            stale,
            succeeded: self.spool.count_ids(stream, TaskStatus::Succeeded)?,
            failed: self.spool.count_ids(stream, TaskStatus::Failed)?,
        })
    }

    /// Every stream, by name. A stream file that cannot be read is skipped
    /// here (and reported by `doctor`), so one bad file does not hide the rest.
    pub fn all_streams(&self) -> Result<Vec<Stream>> {
        let mut streams = Vec::new();
        for name in self.spool.stream_names()? {
            if let Ok(Some(stream)) = self.spool.read_stream(&name) {
                streams.push(stream);
            }
        }
        Ok(streams)
    }

    /// Sweeps dead claims of a stream and, if it is active, adopts drops,
    /// when the spool can be written; a read-only spool (a mirrored
    /// dashboard) is shown as it is. Ending a stream stops new work, not the
    /// sweep: its running tasks still fail or go back to the queue. An ended
    /// stream that has something dropped into it is looked at in full, so
    /// the drop fails with "stream ended" rather than waiting unseen.
    ///
    /// A process without an index gets back the look's read of `pending/`
    /// as it is afterwards, with the page `newest` asks for: its count and
    /// page then need no second read of a folder that may hold 100k files.
    pub(super) fn touch_quietly(
        &self,
        stream: &Stream,
        newest: Option<NewestAsk<'_>>,
    ) -> Option<PendingScan> {
        let lock = self.spool.lock_stream(&stream.name).ok()?;
        let one_shot = self.index.is_none();
        let ended = (stream.status != StreamStatus::Active)
            .then(|| self.spool.scan_pending_for(&stream.name, newest));
        let dropped_into = |scan: &PendingScan| !scan.drops.is_empty() || !scan.foreign.is_empty();
        match ended {
            Some(scan) if !scan.as_ref().is_ok_and(dropped_into) => {
                // Only when one can be due with an index, else reading only
                // the claims that changed (see `sweep_hint`).
                let swept = self
                    .sweep_indexed(stream)
                    .unwrap_or_else(|| self.sweep_dead_hinted(stream, Timestamp::now()));
                // A claim the sweep put back is not in the read made before.
                scan.ok()
                    .filter(|_| one_shot && swept.is_ok_and(|r| r.is_empty()))
            }
            _ if one_shot => self.touch_one_shot_for(stream, &lock, newest).ok(),
            _ => {
                // With an index, this sweeps only when a claim can be dead,
                // and keeps the index current for the page and counts.
                let _ = self.touch_indexed(stream, &lock);
                None
            }
        }
    }

    /// Removes the copies of `stream`'s tasks that lost at a sync and carry
    /// nothing, if the spool can be written. It reads every folder of the
    /// stream, so it runs only when a listing has met a duplicate; claims
    /// just skip such copies, keeping their cost to `pending/`.
    fn settle_quietly(&self, stream: &Stream) {
        if let Ok(_lock) = self.spool.lock_stream(&stream.name) {
            let _ = self.settle_safely(&stream.name);
        }
    }
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
