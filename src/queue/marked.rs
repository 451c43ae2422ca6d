//! A claimed file that git wrote conflict markers into while a worker was
//! running it (a sync merged while the worker worked): the worker's report
//! is still taken.
//!
//! The worker's own claim is one of the two versions between the markers
//! (the one holding its token). The report is applied to that version,
//! and the marked file is set aside beside it as an extra copy
//! (`<id>.json~merge`), never removed: `doctor` settles it with the new
//! state like any copy, so the other side's version (another claim,
//! another finish) is kept too. A file that holds no version of this
//! claim is refused as before.

use super::{Error, Queue, Result};
use crate::model::{Name, Task, TaskId, TaskStatus};
use crate::spool::{self, Split};

/// The suffix of the extra copy a marked claimed file is set aside as.
const SET_ASIDE: &str = "~merge";

impl Queue {
    /// The running copy of `id` from a claimed file with conflict markers:
    /// the version that holds `token` (or, without a token, the newer
    /// claim). `None` if the file has no markers or no such version.
    pub(super) fn read_marked_running(
        &self,
        stream: &Name,
        id: &TaskId,
        token: Option<&str>,
    ) -> Result<Option<Task>> {
        let path = self
            .spool
            .state_path(stream, TaskStatus::Running)
            .join(id.file_name());
        let Some(bytes) = self.spool.read_bytes(&path)? else {
            return Ok(None);
        };
        let Split::Versions(a, b) = spool::split_conflict(&String::from_utf8_lossy(&bytes)) else {
            return Ok(None);
        };
        let mut versions: Vec<Task> = [a, b]
            .iter()
            .filter_map(|v| serde_json::from_str::<Task>(v).ok())
            .filter(|t| t.id == *id && t.status == TaskStatus::Running)
            .filter(|t| token.is_none_or(|token| t.claim_token.as_deref() == Some(token)))
            .collect();
        versions.sort_by_key(|t| (t.attempts, t.updated_at));
        Ok(versions.pop())
    }

    /// Moves the marked claimed file of `id` aside as an extra copy, so the
    /// version the report did not touch is settled later, not lost.
    pub(super) fn set_marked_aside(&self, stream: &Name, id: &TaskId) -> Result<()> {
        let dir = self.spool.state_path(stream, TaskStatus::Running);
        let from = dir.join(id.file_name());
        let to = dir.join(format!("{}{SET_ASIDE}", id.file_name()));
        std::fs::rename(&from, &to).map_err(|e| Error::from(spool::Error::io(&from, "set aside", e)))
    }
}
