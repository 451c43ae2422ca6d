//! "Since you left": what finished in a window, grouped by stream with the
//! failures first, for `GET /api/since` and `sparkq tasks --since`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::filter::{TaskMatch, check_window};
use super::{Error, Queue, Result, TaskFilter};
use crate::model::{Name, TaskListing, TaskStatus, Timestamp};

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
            self.touch_quietly(stream);
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
        let entries = self.every_id(&streams, &statuses, None)?;
        let found = self.fold_tasks(&streams, &entries, Vec::new, |found, stream, _, task| {
            let finished = task.finished_at.unwrap_or(task.updated_at);
            if finished >= since && finished < until && content.matches(&task) {
                found.push((stream, TaskListing::of(task, now)));
            }
        });
        let mut groups: BTreeMap<usize, Vec<TaskListing>> = BTreeMap::new();
        for (stream, listing) in found.into_iter().flatten() {
            groups.entry(stream).or_default().push(listing);
        }
        let mut report = SinceReport {
            since,
            until,
            first_finished_at: None,
            last_finished_at: None,
            counts: FinishedCounts::default(),
            streams: Vec::new(),
        };
        for (stream, mut tasks) in groups {
            let finish = |t: &TaskListing| t.finished_at.unwrap_or(t.updated_at);
            for t in &tasks {
                let at = Some(finish(t));
                report.first_finished_at = report.first_finished_at.min(at).or(at);
                report.last_finished_at = report.last_finished_at.max(at);
            }
            let failed = tasks.iter().filter(|t| t.status == TaskStatus::Failed).count();
            tasks.sort_by(|a, b| {
                (b.status == TaskStatus::Failed)
                    .cmp(&(a.status == TaskStatus::Failed))
                    .then(finish(b).cmp(&finish(a)))
                    .then(b.id.cmp(&a.id))
            });
            let succeeded = tasks.len() - failed;
            report.counts.failed += failed;
            report.counts.succeeded += succeeded;
            let truncated = tasks.len() > MAX_SINCE_TASKS;
            tasks.truncate(MAX_SINCE_TASKS);
            report.streams.push(StreamSince {
                stream: streams[stream].name.clone(),
                succeeded,
                failed,
                truncated,
                tasks,
            });
        }
        report.streams.sort_by(|a, b| {
            (b.failed > 0)
                .cmp(&(a.failed > 0))
                .then(a.stream.as_str().cmp(b.stream.as_str()))
        });
        Ok(report)
    }
}
