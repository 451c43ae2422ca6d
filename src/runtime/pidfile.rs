//! The server's pid file (`spool/.sparkq.lock`): who serves a project and
//! where, as one small JSON object. The file is a [`super::LockFile`]: it
//! names a running server only while that server holds it.

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// The content of the server's pid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PidFile {
    pub pid: u32,
    /// Where the process serves, once it listens.
    #[serde(default)]
    pub url: Option<String>,
    pub started_at: Timestamp,
}

impl PidFile {
    /// This process, not yet serving.
    pub fn this_process() -> PidFile {
        PidFile {
            pid: std::process::id(),
            url: None,
            started_at: Timestamp::now(),
        }
    }

    /// Reads the content of a pid file; `None` if it is not one (a file
    /// half-written by a process that died is as good as none).
    pub fn parse(content: &str) -> Option<PidFile> {
        serde_json::from_str(content).ok()
    }

    /// The content to write.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}
