//! What the dashboard's numbers need of each task, kept in the index:
//! `GET /api/stats` and `GET /api/since` answer from memory instead of
//! reading every task file (about a second at 100,000 tasks).
//!
//! **The folder stays the truth.** A summary is read from its file once per
//! change: every event about a file drops that file's summary, and a
//! summary read before the file's latest event is never stored (each file
//! keeps the event count of its latest event, its stamp). The ids come from
//! the index's sets, so a summary is used only while its file is where the
//! index says. Whenever the index cannot answer as the folders would (not
//! current, an extra copy from a sync, one id in two of the asked folders),
//! the caller reads the folders as a one-shot call does.
//!
//! Events lost without the kernel saying so are the periodic recheck's:
//! after rebuilding a stream it looks up each summarized file (`lstat`)
//! and drops the summaries whose file is no longer the one that was read
//! (another inode, size or modification time).

use std::sync::Arc;

use super::{StreamIndex, lock};
use crate::model::{Stream, Task, TaskId, TaskStatus, Timestamp};
use crate::queue::Queue;

/// What stats and `since` read of one task file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::queue) struct Summary {
    pub(in crate::queue) id: TaskId,
    pub(in crate::queue) tool_name: String,
    pub(in crate::queue) claimed_by: Option<String>,
    pub(in crate::queue) created_at: Timestamp,
    pub(in crate::queue) updated_at: Timestamp,
    pub(in crate::queue) started_at: Option<Timestamp>,
    pub(in crate::queue) finished_at: Option<Timestamp>,
    /// The file it was read from, as it was just before the read (`None`
    /// when read for one answer only, not kept).
    ident: Option<FileIdent>,
}

/// Which file a path held: a rewrite by rename makes a new inode, a write
/// in place changes the size or the modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdent {
    inode: u64,
    size: u64,
    modified: (i64, i64),
}

impl FileIdent {
    /// When the file was last changed (its modification time).
    pub(super) fn modified_at(self) -> std::time::SystemTime {
        let (secs, nanos) = self.modified;
        let since_epoch = std::time::Duration::new(secs.unsigned_abs(), u32::try_from(nanos).unwrap_or(0));
        if secs >= 0 {
            std::time::UNIX_EPOCH + since_epoch
        } else {
            std::time::UNIX_EPOCH - since_epoch
        }
    }

    pub(super) fn at(path: &std::path::Path) -> Option<FileIdent> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(FileIdent {
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

impl Summary {
    pub(in crate::queue) fn of(task: &Task) -> Summary {
        Summary {
            id: task.id.clone(),
            tool_name: task.tool_name.clone(),
            claimed_by: task.claimed_by.clone(),
            created_at: task.created_at,
            updated_at: task.updated_at,
            started_at: task.started_at,
            finished_at: task.finished_at,
            ident: None,
        }
    }

    /// When the task finished, as stats and `since` count it: its
    /// `finished_at`, or its last update for a file that lacks one.
    pub(in crate::queue) fn finish(&self) -> Timestamp {
        self.finished_at.unwrap_or(self.updated_at)
    }
}

/// One task as the index summarizes it: the stream's position in the
/// caller's list, the folder it is in, and its summary (which has its id).
type Summarized = (usize, TaskStatus, Arc<Summary>);

/// Keeps in `entry` the summaries `read` after the index had seen `events`
/// events: a summary read before its file's latest event is not kept (that
/// change wins; the next look reads it again), nor one of a file the index
/// no longer lists there.
fn keep(entry: &std::sync::Mutex<StreamIndex>, read: &[(TaskId, TaskStatus, Arc<Summary>)], events: u64) {
    let mut ix = lock(entry);
    for (id, status, summary) in read {
        let fresh = ix.stamps[*status as usize].get(id).is_none_or(|&at| at <= events);
        if fresh && ix.holds(*status, id) {
            ix.summaries[*status as usize].insert(id.clone(), summary.clone());
        }
    }
}

impl StreamIndex {
    /// The ids of the folder of `status`.
    fn ids(&self, status: TaskStatus) -> Box<dyn Iterator<Item = &TaskId> + '_> {
        match status {
            TaskStatus::Queued => Box::new(self.pending.iter()),
            TaskStatus::Running => Box::new(self.running.keys()),
            TaskStatus::Succeeded => Box::new(self.done.iter()),
            TaskStatus::Failed => Box::new(self.failed.iter()),
        }
    }

    fn holds(&self, status: TaskStatus, id: &TaskId) -> bool {
        match status {
            TaskStatus::Queued => self.pending.contains(id),
            TaskStatus::Running => self.running.contains_key(id),
            TaskStatus::Succeeded => self.done.contains(id),
            TaskStatus::Failed => self.failed.contains(id),
        }
    }

    /// Whether some id is in two of the folders of `statuses` (a finish
    /// whose second event has not come yet, or copies from a sync): a
    /// folder read settles which copy counts.
    fn has_duplicates(&self, statuses: &[TaskStatus]) -> bool {
        statuses.iter().enumerate().any(|(i, &a)| {
            statuses[i + 1..].iter().any(|&b| {
                let (small, large) = if self.len(a) <= self.len(b) {
                    (a, b)
                } else {
                    (b, a)
                };
                self.ids(small).any(|id| self.holds(large, id))
            })
        })
    }

    fn len(&self, status: TaskStatus) -> usize {
        match status {
            TaskStatus::Queued => self.pending.len(),
            TaskStatus::Running => self.running.len(),
            TaskStatus::Succeeded => self.done.len(),
            TaskStatus::Failed => self.failed.len(),
        }
    }

    /// An event about the file of `id` in the folder of `status`: its
    /// summary must be read again.
    pub(super) fn file_changed(&mut self, status: TaskStatus, id: &TaskId) {
        self.events += 1;
        self.stamps[status as usize].insert(id.clone(), self.events);
        self.summaries[status as usize].remove(id);
    }

    /// Whether most task files of the stream have no summary kept (never
    /// read, or dropped after lost events).
    pub(super) fn mostly_unsummarized(&self) -> bool {
        let kept: usize = self.summaries.iter().map(std::collections::HashMap::len).sum();
        let files: usize = TaskStatus::ALL.iter().map(|&status| self.len(status)).sum();
        kept * 2 < files
    }

    /// After a rebuild: summaries and stamps of files no longer listed go;
    /// when events were lost (`trusted` false) no summary is kept.
    pub(super) fn prune_summaries(&mut self, trusted: bool) {
        for status in TaskStatus::ALL {
            let slot = status as usize;
            if !trusted {
                self.summaries[slot].clear();
            }
            let mut summaries = std::mem::take(&mut self.summaries[slot]);
            summaries.retain(|id, _| self.holds(status, id));
            self.summaries[slot] = summaries;
            let mut stamps = std::mem::take(&mut self.stamps[slot]);
            stamps.retain(|id, _| self.holds(status, id));
            self.stamps[slot] = stamps;
        }
    }
}

impl Queue {
    /// Every task of `streams` in the folders of `statuses`, summarized,
    /// from the index; `None` when the index cannot answer as a folder
    /// read would (see the module doc), and the caller reads the folders.
    /// Files whose summary is not known yet are read here, outside the
    /// index's lock, and kept.
    pub(in crate::queue) fn indexed_summaries(
        &self,
        streams: &[Stream],
        statuses: &[TaskStatus],
    ) -> Option<Vec<Summarized>> {
        let index = self.index.as_ref()?;
        index.wait_for_warm_up(true);
        self.summaries_in(index, streams, statuses)
    }

    /// [`Queue::indexed_summaries`] from `index`, which the background
    /// recheck passes in (its queue keeps no index; see `start_index`).
    pub(super) fn summaries_in(
        &self,
        index: &super::Index,
        streams: &[Stream],
        statuses: &[TaskStatus],
    ) -> Option<Vec<Summarized>> {
        let mut all = Vec::new();
        for (i, stream) in streams.iter().enumerate() {
            let entry = index.stream(&stream.name);
            let (known, unknown, events) = {
                let ix = entry.built();
                if !ix.is_current() || ix.extras || ix.has_duplicates(statuses) {
                    return None;
                }
                let mut known = Vec::new();
                let mut unknown = Vec::new();
                for &status in statuses {
                    for id in ix.ids(status) {
                        match ix.summaries[status as usize].get(id) {
                            Some(summary) => known.push((i, status, summary.clone())),
                            None => unknown.push((id.clone(), status)),
                        }
                    }
                }
                (known, unknown, ix.events)
            };
            all.extend(known);
            let read = self.read_summaries(stream, &unknown);
            keep(&entry, &read, events);
            all.extend(read.into_iter().map(|(_, status, summary)| (i, status, summary)));
        }
        Some(all)
    }

    /// Reads the summaries `entry` (of `stream`) lacks and keeps them, in
    /// steps of [`super::WARM_UP_STEP`] files on this thread, giving way
    /// to the requests being served before each (see
    /// `Index::yield_to_requests`): the warm-up of a server, whose claims
    /// and pages must not share the cores with a second of reading at
    /// 100,000 tasks. Once a request waits for the reading to end, the
    /// rest is read at once, on every core. Stops when the index stops
    /// being current (the next recheck starts again).
    pub(super) fn warm_summaries(&self, index: &super::Index, entry: &super::StreamEntry, stream: &Stream) {
        let unknown: Vec<(TaskId, TaskStatus)> = {
            let ix = lock(entry);
            let mut unknown = Vec::new();
            for status in TaskStatus::ALL {
                let kept = &ix.summaries[status as usize];
                unknown.extend(
                    ix.ids(status)
                        .filter(|id| !kept.contains_key(*id))
                        .map(|id| (id.clone(), status)),
                );
            }
            unknown
        };
        let mut rest = &unknown[..];
        while !rest.is_empty() {
            let hurried = index.yield_to_requests();
            // Hurried: the rest at once, over every core (in steps, the
            // slower half of each step was waited for: measured, the first
            // dashboard at 100,000 tasks took a fifth longer).
            let step = if hurried { rest.len() } else { super::WARM_UP_STEP };
            let (part, later) = rest.split_at(step.min(rest.len()));
            rest = later;
            let events = {
                let ix = lock(entry);
                if !ix.is_current() {
                    return;
                }
                ix.events
            };
            let read = self.read_summaries(stream, part);
            keep(entry, &read, events);
        }
    }

    /// Reads the summaries of `files` of `stream` (spread over threads when
    /// there are many, as a folder read is); files that are gone or cannot
    /// be read are left out, as a folder read leaves them out.
    fn read_summaries(
        &self,
        stream: &Stream,
        files: &[(TaskId, TaskStatus)],
    ) -> Vec<(TaskId, TaskStatus, Arc<Summary>)> {
        crate::queue::list::in_parallel(files, |part| {
            part.iter()
                .filter_map(|(id, status)| {
                    // The file as it was before the read: the recheck keeps
                    // the summary while the file is still that one.
                    let path = self.spool.state_path(&stream.name, *status).join(id.file_name());
                    let ident = FileIdent::at(&path)?;
                    match self.spool.read_task(&stream.name, *status, id) {
                        Ok(Some(task)) => {
                            let summary = Summary {
                                ident: Some(ident),
                                ..Summary::of(&task)
                            };
                            Some((id.clone(), *status, Arc::new(summary)))
                        }
                        _ => None,
                    }
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    }

    /// Drops the summaries of `stream` whose file changed without an event
    /// (see the module doc); the files are looked up outside the index's
    /// lock. Run by the background recheck, after a rebuild.
    pub(super) fn verify_summaries(
        &self,
        entry: &std::sync::Mutex<StreamIndex>,
        stream: &crate::model::Name,
    ) {
        let kept: Vec<(TaskStatus, TaskId, Option<FileIdent>)> = {
            let ix = lock(entry);
            TaskStatus::ALL
                .iter()
                .flat_map(|&status| {
                    ix.summaries[status as usize]
                        .values()
                        .map(move |summary| (status, summary.id.clone(), summary.ident))
                })
                .collect()
        };
        let changed: Vec<(TaskStatus, TaskId)> = kept
            .into_iter()
            .filter(|(status, id, ident)| {
                let path = self.spool.state_path(stream, *status).join(id.file_name());
                ident.is_none() || FileIdent::at(&path) != *ident
            })
            .map(|(status, id, _)| (status, id))
            .collect();
        if changed.is_empty() {
            return;
        }
        let mut ix = lock(entry);
        for (status, id) in changed {
            ix.summaries[status as usize].remove(&id);
        }
    }

    /// One page of a filtered list from the index's summaries, for a
    /// filter that does not need the files ([`TaskMatch::needs_file`]): the
    /// matching ids, newest first, and the page's files read. The same
    /// page and cursor as the folder path of [`Queue::list_tasks`] (whose
    /// cursor is set when any task, matching or not, is older than the
    /// last one shown); `None` when the index cannot answer or a file of
    /// the page moved meanwhile.
    pub(in crate::queue) fn indexed_filtered_page(
        &self,
        streams: &[Stream],
        statuses: &[TaskStatus],
        wanted: &crate::queue::filter::TaskMatch,
        before: Option<&TaskId>,
        limit: usize,
    ) -> Option<crate::queue::TaskPage> {
        let summaries = self.indexed_summaries(streams, statuses)?;
        let listed = |s: &Summary| before.is_none_or(|b| s.id < *b);
        let oldest = summaries
            .iter()
            .filter(|(_, _, s)| listed(s))
            .map(|(_, _, s)| &s.id)
            .min();
        // The `limit` newest matches, kept in a bounded heap (oldest on top).
        // (Ids are unique here: the index answers only without duplicates.)
        let mut newest: std::collections::BinaryHeap<std::cmp::Reverse<(&TaskId, usize)>> =
            std::collections::BinaryHeap::with_capacity(limit + 1);
        for (i, (_, _, summary)) in summaries.iter().enumerate() {
            if listed(summary) && wanted.matches_summary(summary) {
                newest.push(std::cmp::Reverse((&summary.id, i)));
                if newest.len() > limit {
                    newest.pop();
                }
            }
        }
        let mut page: Vec<(&TaskId, usize)> = newest.into_iter().map(|r| r.0).collect();
        page.sort_unstable_by(|a, b| b.0.cmp(a.0));
        let mut tasks = Vec::with_capacity(page.len());
        for (id, i) in page {
            let (stream, status, _) = &summaries[i];
            match self.spool.read_task(&streams[*stream].name, *status, id) {
                Ok(Some(task)) => tasks.push(task),
                _ => return None,
            }
        }
        let next_cursor = match (tasks.last(), oldest) {
            (Some(last), Some(oldest)) if tasks.len() == limit && last.id != *oldest => Some(last.id.clone()),
            _ => None,
        };
        Some(crate::queue::TaskPage { tasks, next_cursor })
    }
}
