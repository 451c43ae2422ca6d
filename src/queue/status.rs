//! `status`: who serves the project and what is active in it. The one
//! answer `sparkq status` and `GET /api/status` both give, so they never
//! disagree (a pid file left by a server that died is no server, for both).

use serde::Serialize;

use super::{Queue, Result, StreamInfo, SyncReport};
use crate::model::{Session, SessionStatus, StreamStatus};
use crate::runtime::PidFile;

/// The state of the project at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The project's name (from sparkq.yml).
    pub project: String,
    /// The server serving the project: the process holding its lock. A pid
    /// file whose lock nobody holds was left by a server that died, and
    /// names no server.
    pub server: Option<PidFile>,
    /// The active sessions.
    pub sessions: Vec<Session>,
    /// The active streams of the active sessions, with their counts.
    pub streams: Vec<StreamInfo>,
    /// The last `sparkq sync` and how it went.
    pub last_sync: Option<SyncReport>,
}

impl Queue {
    /// The project's status (see [`Status`]).
    pub fn status(&self) -> Result<Status> {
        let sessions: Vec<Session> = self
            .list_sessions()?
            .into_iter()
            .filter(|s| s.status == SessionStatus::Active)
            .collect();
        let streams = self
            .list_streams(None)?
            .into_iter()
            .filter(|s| s.stream.status == StreamStatus::Active)
            .filter(|s| sessions.iter().any(|a| a.name == s.stream.session))
            .collect();
        Ok(Status {
            project: self.config.project_name.clone(),
            server: self.server(),
            sessions,
            streams,
            last_sync: self.last_sync(),
        })
    }
}
