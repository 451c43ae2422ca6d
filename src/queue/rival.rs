//! Reports from a rival claim: the worker whose claim of an attempt lost,
//! when two machines claimed the same task between syncs.
//!
//! Settling keeps one claim and records the other in the task's
//! `conflicts` (a rival claim). That worker is still running and will
//! report with its own token. Its report is not refused as stale: a
//! heartbeat is accepted and changes nothing, and a finish is recorded in
//! its conflict entry, so its result is shown beside the winner's instead
//! of being lost. The task's own state never changes here.

use super::{Queue, Report, Result};
use crate::model::{Outcome, Task, TaskStatus, Timestamp};

impl Queue {
    /// The task `id` if `token` is one of its recorded rival claims that
    /// has not finished yet.
    pub(super) fn rival_task(&self, id: &str, token: &str) -> Result<Option<Task>> {
        let Ok(task) = self.get_task(id) else {
            return Ok(None);
        };
        let is_rival = task.claim_token.as_deref() != Some(token)
            && task
                .conflicts
                .iter()
                .any(|c| c.status == TaskStatus::Running && c.claim_token.as_deref() == Some(token));
        Ok(is_rival.then_some(task))
    }

    /// Records the finish of rival claim `token` of `task` in its conflict
    /// entry: `outcome`'s status, result and error.
    pub(super) fn record_rival_finish(
        &self,
        task: &Task,
        token: &str,
        outcome: Outcome,
        report: Report,
    ) -> Result<Task> {
        let _lock = self.spool.lock_stream(&task.stream)?;
        // Re-read under the lock: the task may have moved since.
        let Some(mut task) = self.rival_task(task.id.as_str(), token)? else {
            let now = self.get_task(task.id.as_str())?;
            return Err(super::fence::refusal(&now, Some(token)));
        };
        let now = Timestamp::now();
        if let Some(entry) = task
            .conflicts
            .iter_mut()
            .find(|c| c.status == TaskStatus::Running && c.claim_token.as_deref() == Some(token))
        {
            (entry.status, entry.result, entry.error) = outcome.into_parts();
            entry.stdout = report.stdout;
            entry.stderr = report.stderr;
            entry.finished_at = Some(now);
        }
        task.updated_at = now;
        self.spool.write_task(&task)?;
        Ok(task)
    }
}
