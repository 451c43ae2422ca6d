//! What a list asks of one task's content: text, tool, worker, a time
//! window and staleness.
//!
//! This is kept apart from how a page finds its candidate ids (`list.rs`):
//! the page walks ids newest first and asks [`TaskMatch::matches`] of each
//! task it reads, so a faster way of finding candidates changes nothing
//! here.

use super::{Error, Result};
use crate::model::{Task, Timestamp};

/// The content conditions of a [`super::TaskFilter`], ready to test tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskMatch {
    /// Lowercased; found in the summary, the error or the payload's JSON.
    text: Option<String>,
    tool: Option<String>,
    worker: Option<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    /// Only running tasks past their timeout at this moment.
    stale_at: Option<Timestamp>,
}

impl TaskMatch {
    /// The conditions of `filter`, staleness judged at `now`.
    pub(crate) fn of(filter: &super::TaskFilter, now: Timestamp) -> TaskMatch {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        TaskMatch {
            text: non_empty(&filter.text).map(|t| t.to_lowercase()),
            tool: non_empty(&filter.tool),
            worker: non_empty(&filter.worker),
            since: filter.since,
            until: filter.until,
            stale_at: filter.stale.then_some(now),
        }
    }

    /// Whether every task matches, so a page need not read tasks to know.
    pub(crate) fn is_everything(&self) -> bool {
        self.text.is_none()
            && self.tool.is_none()
            && self.worker.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.stale_at.is_none()
    }

    /// Whether `task` meets every condition.
    /// Whether the filter needs more of a task than the index keeps: its
    /// text, or its staleness (which only the task file has).
    pub(crate) fn needs_file(&self) -> bool {
        self.text.is_some() || self.stale_at.is_some()
    }

    /// [`TaskMatch::matches`] on what the index keeps of a task, for a
    /// filter that does not [`TaskMatch::needs_file`].
    pub(crate) fn matches_summary(&self, task: &super::index::Summary) -> bool {
        !(self.tool.as_ref().is_some_and(|tool| *tool != task.tool_name)
            || self
                .worker
                .as_ref()
                .is_some_and(|worker| task.claimed_by.as_ref() != Some(worker))
            || self.since.is_some_and(|since| task.updated_at < since)
            || self.until.is_some_and(|until| task.updated_at >= until))
    }

    pub(crate) fn matches(&self, task: &Task) -> bool {
        if self.tool.as_ref().is_some_and(|tool| *tool != task.tool_name)
            || self
                .worker
                .as_ref()
                .is_some_and(|worker| task.claimed_by.as_ref() != Some(worker))
            || self.since.is_some_and(|since| task.updated_at < since)
            || self.until.is_some_and(|until| task.updated_at >= until)
            || self.stale_at.is_some_and(|now| !task.is_stale_at(now))
        {
            return false;
        }
        match &self.text {
            None => true,
            Some(text) => text_matches(task, text),
        }
    }
}

/// Whether `lowered` (already lowercase) is in the summary, the error or the
/// payload's JSON text of `task`, ignoring case.
fn text_matches(task: &Task, lowered: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(lowered);
    task.summary().is_some_and(has)
        || task.error.as_deref().is_some_and(has)
        || serde_json::to_string(&task.payload).is_ok_and(|json| has(&json))
}

/// A moment as filters take it: RFC 3339 (`2026-12-01T22:00:00Z`), or an
/// age meaning "that long before `now`" (`8h`, `90m`, `2d`). An age that
/// reaches back before 1970, however large its number (`1000000d`,
/// `99999999999999999h`), means 1970: everything (see `model::span`).
/// `what` names the parameter in the error.
pub fn parse_moment(what: &'static str, given: &str, now: Timestamp) -> Result<Timestamp> {
    let given = given.trim();
    if let Ok(at) = Timestamp::parse(given) {
        return Ok(at);
    }
    let epoch = Timestamp::from_system(std::time::UNIX_EPOCH);
    match crate::model::parse_span(given, std::time::Duration::MAX) {
        Ok(age) => Ok(now
            .to_system()
            .checked_sub(age)
            .map_or(epoch, Timestamp::from_system)),
        Err(crate::model::SpanError::TooLarge) => Ok(epoch),
        Err(crate::model::SpanError::Malformed(_)) => Err(Error::invalid(
            what,
            format!("'{given}' is neither a time nor an age"),
            "Give an age such as 8h, 90m or 2d (meaning that long ago), or an RFC 3339 time such as 2026-12-01T22:00:00Z.",
        )),
    }
}

/// Checks that a window `[since, until)` is not upside down.
pub fn check_window(since: Option<Timestamp>, until: Option<Timestamp>) -> Result<()> {
    match (since, until) {
        (Some(since), Some(until)) if since > until => Err(Error::invalid(
            "since",
            format!("since ({since}) is after until ({until})"),
            "Give a since that is earlier than until.",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_times_or_ages() {
        let now = Timestamp::parse("2026-12-02T10:00:00Z").unwrap();
        let at = |s: &str| parse_moment("since", s, now).map(|t| t.to_string());
        assert_eq!(at("8h").unwrap(), "2026-12-02T02:00:00.000000Z");
        assert_eq!(at("90m").unwrap(), "2026-12-02T08:30:00.000000Z");
        assert_eq!(at("2d").unwrap(), "2026-11-30T10:00:00.000000Z");
        assert_eq!(at("2026-12-01T22:00:00Z").unwrap(), "2026-12-01T22:00:00.000000Z");
        assert_eq!(at("100000d").unwrap(), "1970-01-01T00:00:00.000000Z");
        let err = at("yesterday").unwrap_err().to_string();
        assert!(err.contains("'yesterday' is neither a time nor an age"), "{err}");
        assert!(err.contains("8h, 90m or 2d"), "{err}");
    }

    #[test]
    fn an_upside_down_window_is_refused() {
        let early = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let late = Timestamp::parse("2026-12-02T00:00:00Z").unwrap();
        assert!(check_window(Some(early), Some(late)).is_ok());
        assert!(check_window(Some(late), None).is_ok());
        let err = check_window(Some(late), Some(early)).unwrap_err().to_string();
        assert!(err.contains("is after until"), "{err}");
    }
}
