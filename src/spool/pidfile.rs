//! Pid files: who runs what for a project (`spool/.sparkq.lock` for the
//! server), as one small JSON object.

use serde::{Deserialize, Serialize};

use super::{Error, write_atomic};
use crate::model::Timestamp;

/// The content of a pid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PidFile {
    pub pid: u32,
    /// Where the process serves, if it is a server.
    #[serde(default)]
    pub url: Option<String>,
    pub started_at: Timestamp,
}

impl PidFile {
    /// Reads a pid file; `None` if it is missing or unreadable (a pid file
    /// half-written by a process that died is as good as none). Read like
    /// any spool file: never through a link, never from a FIFO, capped.
    pub fn read(path: &std::path::Path) -> Option<PidFile> {
        const PID_FILE_CAP_BYTES: u64 = 64 * 1024;
        let bytes = super::read::read_capped(path, PID_FILE_CAP_BYTES).ok()?.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes the pid file atomically.
    pub fn write(&self, path: &std::path::Path) -> Result<(), Error> {
        write_atomic(path, &super::meta::to_json(self), false)
    }
}
