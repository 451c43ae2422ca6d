//! Why a report is refused, said exactly.
//!
//! A worker acts on the words it is given, so each way a `complete`,
//! `fail` or `heartbeat` can miss its claim has its own error: a token that
//! matches no claim of the task (mistyped: the task is still the right
//! holder's), a claim taken back at a known time (and what became of the
//! task since), a report that was already recorded, a task that finished
//! under someone else's report, and a task nobody has claimed. The tokens
//! of past claims are kept in `history` so the cases can be told apart.
//! This file only explains; it never changes a task.

use super::Error;
use crate::model::{Attempt, AttemptEnd, Task, TaskStatus};

/// The error for a report with `token` (if any) on `task`, the task's
/// current copy, when the report cannot be recorded: the task is not
/// running, or `token` is not its current claim's.
pub(super) fn refusal(task: &Task, token: Option<&str>) -> Error {
    let id = task.id.to_string();
    let past = token.and_then(|token| {
        task.history
            .iter()
            .rev()
            .find(|a| a.claim_token.as_deref() == Some(token))
    });
    match past {
        Some(attempt) if matches!(attempt.outcome, AttemptEnd::Requeued | AttemptEnd::AutoFailed) => {
            Error::ClaimTakenBack {
                id,
                at: attempt.ended_at,
                timeout: task.timeout,
                now: since_taken_back(task, attempt),
            }
        }
        Some(attempt) => Error::AlreadyReported {
            id,
            status: if attempt.outcome == AttemptEnd::Succeeded {
                TaskStatus::Succeeded
            } else {
                TaskStatus::Failed
            },
            at: attempt.ended_at,
        },
        None => match task.status {
            TaskStatus::Running => Error::WrongToken {
                id,
                holder: task
                    .claimed_by
                    .clone()
                    .unwrap_or_else(|| "an unnamed worker".to_owned()),
                since: task.last_alive(),
            },
            TaskStatus::Queued => Error::NotClaimed {
                id,
                stream: task.stream.to_string(),
            },
            status => Error::AlreadyFinished {
                id,
                status,
                at: task.finished_at.unwrap_or(task.updated_at),
            },
        },
    }
}

/// Whether `error` is one [`refusal`] returns: the report missed its claim,
/// and nothing was changed.
pub(super) fn is_refusal(error: &Error) -> bool {
    matches!(
        error,
        Error::ClaimTakenBack { .. }
            | Error::AlreadyReported { .. }
            | Error::WrongToken { .. }
            | Error::NotClaimed { .. }
            | Error::AlreadyFinished { .. }
    )
}

/// What became of `task` after `attempt`, its caller's claim, was taken
/// back: a clause for [`Error::ClaimTakenBack`].
fn since_taken_back(task: &Task, attempt: &Attempt) -> String {
    if attempt.outcome == AttemptEnd::AutoFailed {
        return "the task was auto-failed (it had no attempts left)".to_owned();
    }
    match task.status {
        TaskStatus::Queued => "the task is queued again, waiting for a claim".to_owned(),
        TaskStatus::Running => format!(
            "the task was claimed again by {} at {}",
            task.claimed_by.as_deref().unwrap_or("an unnamed worker"),
            task.started_at.unwrap_or(task.updated_at)
        ),
        status => format!(
            "the task was claimed again since, and it {} at {}",
            status.as_str(),
            task.finished_at.unwrap_or(task.updated_at)
        ),
    }
}
