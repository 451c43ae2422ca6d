//! Complete, fail and heartbeat: the running worker's reports.
//!
//! **Fencing.** When the caller presents a claim token, it must be the
//! task's current one; a worker whose claim was taken back (and perhaps
//! handed on) is refused and nothing changes, so a late report is never
//! recorded over the new holder's work. All three hold the stream lock, so
//! they never interleave with a sweep or another report. A token of a
//! rival claim recorded by settling a merged spool is not stale: see
//! `rival`. Rivals are looked for only once a token missed the task's
//! claim, so a report from the claim's holder costs no search for them.

use serde_json::Value;

use super::{Error, Queue, Result, fence};
use crate::model::{Name, Outcome, Task, TaskId, TaskStatus, Timestamp};

/// What a worker reports with `complete` or `fail`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The claim token, proving the caller still holds the claim.
    pub token: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

impl Queue {
    /// Finishes a running task with `result`, a JSON object with a
    /// non-empty string `summary`; moves it to `done/`.
    pub fn complete(&self, id: &str, result: Value, report: Report) -> Result<Task> {
        let summary = result.get("summary").and_then(Value::as_str).map(str::trim);
        if !result.is_object() {
            return Err(Error::invalid(
                "result",
                "it must be a JSON object",
                "Pass e.g. --result '{\"summary\": \"Added the login endpoint; tests pass\"}'. The task is still running.",
            ));
        }
        if summary.is_none_or(str::is_empty) {
            // A key that differs only in case is the likely slip: name it.
            let near = result.as_object().and_then(|fields| {
                fields
                    .keys()
                    .find(|k| *k != "summary" && k.eq_ignore_ascii_case("summary"))
            });
            let message = match near {
                Some(key) => format!(
                    "it has no non-empty string \"summary\" (it has \"{key}\": keys are case-sensitive, write \"summary\")"
                ),
                None => "it has no non-empty string \"summary\"".to_owned(),
            };
            return Err(Error::invalid(
                "result",
                message,
                "Add a one-paragraph \"summary\" of what you did, e.g. {\"summary\": \"...\"}. The task is still running.",
            ));
        }
        self.check_json("result", &result)?;
        self.finish(id, report, Outcome::Succeeded { result })
    }

    /// Finishes a running task as failed with `error`; moves it to `failed/`.
    pub fn fail(&self, id: &str, error: &str, report: Report) -> Result<Task> {
        if error.trim().is_empty() {
            return Err(Error::invalid(
                "error",
                "it is empty",
                "Say what went wrong and what you tried, e.g. --error \"tests fail: missing fixture\". The task is still running.",
            ));
        }
        self.check_size("error", error.len(), self.config.limits.output_bytes)?;
        self.finish(
            id,
            report,
            Outcome::Failed {
                error: error.to_owned(),
            },
        )
    }

    /// Marks a running task alive now, so a long task is not taken back.
    pub fn heartbeat(&self, id: &str, token: Option<&str>) -> Result<Task> {
        match self.heartbeat_claim(id, token) {
            Err(e) if fence::is_refusal(&e) => match token.map(|t| self.rival_task(id, t)).transpose()? {
                Some(Some(task)) => Ok(task),
                _ => Err(e),
            },
            other => other,
        }
    }

    /// [`Queue::heartbeat`] of the task's current claim.
    fn heartbeat_claim(&self, id: &str, token: Option<&str>) -> Result<Task> {
        let (stream, id) = self.locate_running(id, token)?;
        let _lock = self.spool.lock_stream(&stream)?;
        let (mut task, marked) = self.read_running_or_marked(&stream, &id, token)?;
        task.heartbeat(Timestamp::now());
        if marked {
            self.set_marked_aside(&stream, &id)?;
        }
        self.spool.write_task(&task)?;
        self.index_wrote(&task.stream, &task.id, &[task.status]);
        Ok(task)
    }

    /// Moves a running task to `done/` or `failed/`.
    ///
    /// With fsync, the finished copy is built from an unlocked read and
    /// staged (written and flushed) before the stream lock is taken: the
    /// flush is the slow part of a durable write, and holding the lock
    /// through it would queue every other worker's claim behind the disk.
    /// Under the lock the claimed copy is read again; if it is unchanged the
    /// staged copy is renamed into place, else (a heartbeat came in between)
    /// the finished copy is rebuilt from what is there now. Without fsync
    /// there is nothing to gain, and all of it happens under the lock. Token
    /// checks and the move itself always happen under the lock.
    ///
    /// With fsync, the flush of `done/` (or `failed/`) after the rename
    /// waits too until the lock is released, and the claimed copy is
    /// removed after that flush: until then the task has two copies, the
    /// state a crash between the two steps leaves, in which the finished
    /// copy wins (SPEC 9) and every look skips or settles the claimed one.
    /// Removing it only once the finished copy's entry is on disk keeps a
    /// power loss from persisting the removal without the new entry.
    fn finish(&self, id: &str, report: Report, outcome: Outcome) -> Result<Task> {
        let limit = self.config.limits.output_bytes;
        for (what, text) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
            self.check_size(what, text.as_ref().map_or(0, String::len), limit)?;
        }
        let task = match self.finish_claim(id, &report, outcome.clone()) {
            Err(e) if fence::is_refusal(&e) => {
                let Some(token) = report.token.clone() else {
                    return Err(e);
                };
                match self.rival_task(id, &token)? {
                    Some(task) => self.record_rival_finish(&task, &token, outcome, report),
                    None => Err(e),
                }
            }
            other => other,
        }?;
        self.index_wrote(&task.stream, &task.id, &[TaskStatus::Running, task.status]);
        Ok(task)
    }

    /// Notes that this process claimed task `id` of `stream`, for
    /// [`Queue::locate_running`].
    pub(super) fn note_claimed(&self, stream: &Name, id: &TaskId) {
        self.claimed_in.note(stream, id);
    }

    /// [`Queue::finish`] of the task's current claim.
    fn finish_claim(&self, id: &str, report: &Report, outcome: Outcome) -> Result<Task> {
        let token = report.token.as_deref();
        let (stream, id) = self.locate_running(id, token)?;
        let now = Timestamp::now();
        let staged = if self.spool.fsync() {
            let (seen, _) = self.read_running_or_marked(&stream, &id, token)?;
            let task = finished(seen.clone(), report, outcome.clone(), now);
            let staged = self.spool.stage_task(&task)?;
            Some((seen, task, staged))
        } else {
            None
        };

        let lock = self.spool.lock_stream(&stream)?;
        // Another copy of the task that a sync brought into `done/` or
        // `failed/` would be written over: settle first (see `settle`).
        // If the claim lost, the read below refuses and the report is
        // recorded as a rival's, beside the winner.
        self.settle_before_moving(&stream, &id, TaskStatus::Running)?;
        let (current, marked) = self.read_running_or_marked(&stream, &id, token)?;
        let task = match staged {
            Some((seen, task, staged)) if seen == current && !marked => {
                // See the doc above: flush and remove after the lock.
                let flush = staged.commit_unflushed()?;
                drop(lock);
                flush.flush()?;
                let _ = self.spool.remove_task(&stream, TaskStatus::Running, &id);
                return Ok(task);
            }
            _ => {
                let task = finished(current, report, outcome, now);
                self.spool.write_task(&task)?;
                task
            }
        };
        // The finished copy is written before the claimed one is removed: a
        // crash in between leaves both, and the finished one wins. So once
        // it is in place the report is recorded, and a failed removal is
        // no failure of the report (saying so would invite a second one):
        // the claimed copy is superseded and settled on a later look. A
        // file with conflict markers is set aside instead (see `marked`).
        // The removal waits until the lock is let go, as with fsync: freeing
        // a file can wait on the disk (a file system mounted with `discard`
        // trims its blocks then and there), and a look meanwhile sees the
        // two copies a crash would leave, which it skips or settles.
        if marked {
            let _ = self.set_marked_aside(&stream, &id);
        } else {
            drop(lock);
            let _ = self.spool.remove_task(&stream, TaskStatus::Running, &id);
        }
        Ok(task)
    }

    /// The stream holding running task `id`; if the task is unknown or not
    /// running, an error that says what became of it (see `fence`).
    fn locate_running(&self, id: &str, token: Option<&str>) -> Result<(Name, TaskId)> {
        let id = super::parse_task_id(id)?;
        // A task this process claimed: one check, no listing of streams.
        if let Some(stream) = self.claimed_in.stream_of(&id)
            && self.spool.has_task(&stream, TaskStatus::Running, &id)
        {
            return Ok((stream, id));
        }
        // The common case first, one check per stream; the full search is
        // only needed to say where a task that is not running is.
        for stream in self.spool.stream_names()? {
            if self.spool.has_task(&stream, TaskStatus::Running, &id) {
                return Ok((stream, id));
            }
        }
        let copies = self.spool.locate(&id)?;
        if let Some((stream, _)) = copies.iter().find(|(_, s)| *s == TaskStatus::Running) {
            return Ok((stream.clone(), id));
        }
        Err(fence::refusal(&self.get_task(id.as_str())?, token))
    }

    /// [`Queue::read_running`], but a claimed file git wrote conflict
    /// markers into yields the version of this claim (see `marked`); the
    /// flag says it came from such a file.
    fn read_running_or_marked(
        &self,
        stream: &Name,
        id: &TaskId,
        token: Option<&str>,
    ) -> Result<(Task, bool)> {
        match self.read_running(stream, id, token) {
            Err(Error::Spool(crate::spool::Error::Corrupt { .. })) => {
                match self.read_marked_running(stream, id, token)? {
                    Some(task) => Ok((task, true)),
                    None => self.read_running(stream, id, token).map(|t| (t, false)),
                }
            }
            other => other.map(|t| (t, false)),
        }
    }

    /// Re-reads the claimed copy under the lock and checks the token.
    fn read_running(&self, stream: &Name, id: &TaskId, token: Option<&str>) -> Result<Task> {
        let Some(task) = self.spool.read_task(stream, TaskStatus::Running, id)? else {
            // Moved between the lookup and the lock: report where it is now.
            let (_, id) = self.locate_running(id.as_str(), token)?;
            return Err(Error::UnknownTask { id: id.to_string() });
        };
        if let Some(token) = token
            && task.claim_token.as_deref() != Some(token)
        {
            return Err(fence::refusal(&task, Some(token)));
        }
        Ok(task)
    }
}

/// The streams of tasks a long-lived process claimed, by id: where its own
/// reports look first. Bounded: when full it starts over, which only costs
/// the next reports a listing of the streams.
#[derive(Debug, Default)]
pub(super) struct ClaimedIn(std::sync::Mutex<std::collections::HashMap<TaskId, Name>>);

/// How many claims [`ClaimedIn`] remembers at most.
const CLAIMED_IN_MAX: usize = 4096;

impl ClaimedIn {
    fn note(&self, stream: &Name, id: &TaskId) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CLAIMED_IN_MAX {
            map.clear();
        }
        map.insert(id.clone(), stream.clone());
    }

    /// The stream task `id` was claimed in, if this process claimed it.
    fn stream_of(&self, id: &TaskId) -> Option<Name> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(id).cloned()
    }
}

/// `task` as it is once finished with `outcome` at `now`, with the
/// report's output.
fn finished(mut task: Task, report: &Report, outcome: Outcome, now: Timestamp) -> Task {
    task.finish(outcome, report.stdout.clone(), report.stderr.clone(), now);
    task
}
