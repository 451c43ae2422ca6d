//! Streams: create, end. Listing with counts lives in `list`.

use super::{Error, Queue, Result};
use crate::model::{Name, SessionStatus, Stream, StreamStatus, Timestamp};
use crate::spool;

impl Queue {
    /// Creates an active stream in an active session. Stream names are
    /// unique across the project.
    pub fn create_stream(&self, name: &str, session: &str, instructions: &str) -> Result<Stream> {
        let name = Name::parse(name)?;
        // Every claim hands the brief out again: it shares the payload's budget.
        self.check_size(
            "instructions",
            instructions.len(),
            self.config.limits.payload_bytes,
        )?;
        let session = self.session(session)?;
        if session.status == SessionStatus::Ended {
            return Err(Error::SessionEnded {
                name: session.name.to_string(),
            });
        }
        let now = Timestamp::now();
        let stream = Stream {
            name: name.clone(),
            session: session.name,
            instructions: instructions.to_owned(),
            status: StreamStatus::Active,
            created_at: now,
            updated_at: now,
            ended_at: None,
        };
        match self.spool.create_stream(&stream) {
            Ok(()) => Ok(stream),
            Err(spool::Error::AlreadyExists { .. }) => Err(Error::StreamExists {
                name: name.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a stream: it accepts no new tasks and hands out none; its files
    /// stay. Ending an ended stream changes nothing.
    pub fn end_stream(&self, name: &str) -> Result<Stream> {
        let mut stream = self.stream(name)?;
        if stream.status == StreamStatus::Active {
            let _lock = self.spool.lock_stream(&stream.name)?;
            let now = Timestamp::now();
            stream.status = StreamStatus::Ended;
            stream.ended_at = Some(now);
            stream.updated_at = now;
            self.spool.write_stream(&stream)?;
        }
        Ok(stream)
    }
}
