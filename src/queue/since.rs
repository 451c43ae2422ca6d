//! "Since you left": what finished in a window, grouped by stream with the
//! failures first, for `GET /api/since` and `sparkq tasks --since`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::filter::{TaskMatch, check_window};
use super::{Error, Queue, Result, TaskFilter};
use crate::model::{Name, Stream, TaskId, TaskListing, TaskStatus, Timestamp};

/// The most tasks one stream of a report lists (its counts count all).
pub const MAX_SINCE_TASKS: usize = 200;

/// What finished in `[since, until)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinceReport {
    pub since: Timestamp,
    pub until: Timestamp,
    /// When the first and the last of these tasks finished; `None` when
    /// none did.
    pub first_finished_at: Option<Timestamp>,
    pub last_finished_at: Option<Timestamp>,
    pub counts: FinishedCounts,
    /// Streams with failures first, then by name.
    pub streams: Vec<StreamSince>,
}

/// How many tasks succeeded and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FinishedCounts {
    pub succeeded: usize,
    pub failed: usize,
}

/// One stream's part of a [`SinceReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamSince {
    pub stream: Name,
    pub succeeded: usize,
    pub failed: usize,
    /// Whether `tasks` was cut to [`MAX_SINCE_TASKS`].
    pub truncated: bool,
    /// Failed tasks first, then newest finished first.
    pub tasks: Vec<TaskListing>,
}

impl Queue {
    /// The tasks that finished in `[filter.since, filter.until)` (until:
    /// now when absent), narrowed by the filter's stream, status, text,
    /// tool and worker. A task's finish is its `finished_at` (its last
    /// update for a file that lacks one).
    pub fn since(&self, filter: &TaskFilter) -> Result<SinceReport> {
        let now = Timestamp::now();
        let Some(since) = filter.since else {
            return Err(Error::invalid(
                "since",
                "it is missing",
                "Pass since: an age such as 8h (meaning 8 hours ago) or an RFC 3339 time.",
            ));
        };
        let until = filter.until.unwrap_or(now);
        check_window(Some(since), Some(until))?;
        let statuses: Vec<TaskStatus> = match filter.status {
            None => vec![TaskStatus::Succeeded, TaskStatus::Failed],
            Some(status) if status.is_finished() => vec![status],
            Some(status) => {
                return Err(Error::invalid(
                    "status",
                    format!("'{}' tasks have not finished", status.as_str()),
                    "This view lists finished tasks: give status succeeded or failed, or none.",
                ));
            }
        };
        let streams = match &filter.stream {
            Some(name) => vec![self.stream(name)?],
            None => self.all_streams()?,
        };
        for stream in &streams {
            self.touch_quietly(stream, None);
        }
        // Text, tool and worker; the window is on the finish, not the update.
        let content = TaskMatch::of(
            &TaskFilter {
                since: None,
                until: None,
                stale: false,
                ..filter.clone()
            },
            now,
        );
        let groups = match self.since_from_index(&streams, &statuses, &content, since, until, now) {
            Some(groups) => groups,
            None => self.since_from_folders(&streams, &statuses, &content, since, until, now)?,
        };
        let mut report = SinceReport {
            since,
            until,
            first_finished_at: None,
            last_finished_at: None,
            counts: FinishedCounts::default(),
            streams: Vec::new(),
        };
        for group in groups {
            report.first_finished_at = report.first_finished_at.min(group.first).or(group.first);
            report.last_finished_at = report.last_finished_at.max(group.last);
            report.counts.failed += group.failed;
            report.counts.succeeded += group.succeeded;
            report.streams.push(StreamSince {
                stream: streams[group.stream].name.clone(),
                succeeded: group.succeeded,
                failed: group.failed,
                truncated: group.truncated,
                tasks: group.tasks,
            });
        }
        report.streams.sort_by(|a, b| {
            (b.failed > 0)
                .cmp(&(a.failed > 0))
                .then(a.stream.as_str().cmp(b.stream.as_str()))
        });
        Ok(report)
    }

    /// The groups of a report, from one pass over every finished task file.
    fn since_from_folders(
        &self,
        streams: &[Stream],
        statuses: &[TaskStatus],
        content: &TaskMatch,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<Group>> {
        let entries = self.every_id(streams, statuses, None)?;
        let found = self.fold_tasks(streams, &entries, Vec::new, |found, stream, _, task| {
            let finished = task.finished_at.unwrap_or(task.updated_at);
            if finished >= since && finished < until && content.matches(&task) {
                found.push((stream, TaskListing::of(task, now)));
            }
        });
        let mut groups: BTreeMap<usize, Vec<TaskListing>> = BTreeMap::new();
        for (stream, listing) in found.into_iter().flatten() {
            groups.entry(stream).or_default().push(listing);
        }
        Ok(groups
            .into_iter()
            .map(|(stream, tasks)| {
                Group::of(stream, tasks, |t| {
                    (t.status, t.finished_at.unwrap_or(t.updated_at), &t.id)
                })
            })
            .collect())
    }

    /// The groups of a report from the index's summaries, reading only the
    /// files a report lists; `None` when the index cannot answer (none
    /// kept, a filter that needs every file's content, or a listed
    /// file that moved meanwhile): the caller reads the folders.
    fn since_from_index(
        &self,
        streams: &[Stream],
        statuses: &[TaskStatus],
        content: &TaskMatch,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Option<Vec<Group>> {
        if content.needs_file() {
            return None;
        }
        let summaries = self.indexed_summaries(streams, statuses)?;
        let mut groups: BTreeMap<usize, Vec<(TaskId, TaskStatus, Timestamp)>> = BTreeMap::new();
        for (stream, status, summary) in summaries {
            let finished = summary.finish();
            if finished >= since && finished < until && content.matches_summary(&summary) {
                groups
                    .entry(stream)
                    .or_default()
                    .push((summary.id.clone(), status, finished));
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (stream, found) in groups {
            let group = Group::of(stream, found, |(id, status, finished)| (*status, *finished, id));
            let mut tasks = Vec::with_capacity(group.tasks.len());
            for (id, status, _) in &group.tasks {
                match self.spool.read_task(&streams[stream].name, *status, id) {
                    Ok(Some(task)) => tasks.push(TaskListing::of(task, now)),
                    _ => return None,
                }
            }
            out.push(Group {
                stream,
                succeeded: group.succeeded,
                failed: group.failed,
                first: group.first,
                last: group.last,
                truncated: group.truncated,
                tasks,
            });
        }
        Some(out)
    }
}

/// One stream's part of a report before it is named: its counts, when its
/// first and last tasks finished, and the tasks it lists (sorted, cut).
struct Group<T = TaskListing> {
    stream: usize,
    succeeded: usize,
    failed: usize,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    truncated: bool,
    tasks: Vec<T>,
}

impl<T> Group<T> {
    /// The group of `stream`'s finishes in `found`, each seen through `key`
    /// as (status, finished at, id): counted, spanned, then sorted failures
    /// first and newest first (id breaks ties) and cut at
    /// [`MAX_SINCE_TASKS`].
    fn of(
        stream: usize,
        mut found: Vec<T>,
        key: impl Fn(&T) -> (TaskStatus, Timestamp, &TaskId),
    ) -> Group<T> {
        let first = found.iter().map(|t| key(t).1).min();
        let last = found.iter().map(|t| key(t).1).max();
        let failed = found.iter().filter(|t| key(t).0 == TaskStatus::Failed).count();
        found.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            (b.0 == TaskStatus::Failed)
                .cmp(&(a.0 == TaskStatus::Failed))
                .then(b.1.cmp(&a.1))
                .then(b.2.cmp(a.2))
        });
        let succeeded = found.len() - failed;
        let truncated = found.len() > MAX_SINCE_TASKS;
        found.truncate(MAX_SINCE_TASKS);
        Group {
            stream,
            succeeded,
            failed,
            first,
            last,
            truncated,
            tasks: found,
        }
    }
}
