//! Sessions: create, list, end.

use super::{Error, Queue, Result};
use crate::model::{Name, Session, SessionStatus, StreamStatus, Timestamp};
use crate::spool;

impl Queue {
    /// Creates an active session.
    pub fn create_session(&self, name: &str, description: Option<String>) -> Result<Session> {
        let name = Name::parse(name)?;
        let described = description.as_deref().map_or(0, str::len);
        self.check_size("description", described, self.config.limits.payload_bytes)?;
        let now = Timestamp::now();
        let session = Session {
            name: name.clone(),
            description: description.filter(|d| !d.trim().is_empty()),
            status: SessionStatus::Active,
            created_at: now,
            updated_at: now,
            ended_at: None,
        };
        self.spool.ensure_layout()?;
        match self.spool.create_session(&session) {
            Ok(()) => Ok(session),
            Err(spool::Error::AlreadyExists { .. }) => Err(Error::SessionExists {
                name: name.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every session, by name.
    pub fn list_sessions(&self) -> Result<Vec<Session>> {
        Ok(self.spool.list_sessions()?)
    }

    /// The session named `name`.
    pub fn session(&self, name: &str) -> Result<Session> {
        let name = Name::parse(name)?;
        match self.spool.read_session(&name)? {
            Some(session) => Ok(session),
            None => Err(Error::UnknownSession {
                name: name.to_string(),
                known: self
                    .list_sessions()?
                    .into_iter()
                    .map(|s| s.name.to_string())
                    .collect(),
            }),
        }
    }

    /// Ends a session and every active stream in it. Ending an ended
    /// session changes nothing.
    pub fn end_session(&self, name: &str) -> Result<Session> {
        let mut session = self.session(name)?;
        for stream in self.spool.stream_names()? {
            if let Some(s) = self.spool.read_stream(&stream)?
                && s.session == session.name
                && s.status == StreamStatus::Active
            {
                self.end_stream(s.name.as_str())?;
            }
        }
        if session.status == SessionStatus::Active {
            let now = Timestamp::now();
            session.status = SessionStatus::Ended;
            session.ended_at = Some(now);
            session.updated_at = now;
            self.spool.write_session(&session)?;
        }
        Ok(session)
    }
}
