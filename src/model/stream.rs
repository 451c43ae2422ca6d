//! Streams: FIFO lanes of tasks inside a session.

use serde::{Deserialize, Serialize};

use super::{Name, Timestamp};

/// Whether a stream accepts and hands out tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    Active,
    /// Accepts no new tasks and hands out none; its files stay.
    Ended,
}

/// A stream, exactly as stored in `streams/<name>/stream.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub name: Name,
    pub session: Name,
    /// The brief every claim returns: goal, context, done-when.
    #[serde(default)]
    pub instructions: String,
    pub status: StreamStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
}

/// The part of a stream a claim hands to the worker. Stream names are unique
/// across a project, so the name is also the stream's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRef {
    pub id: Name,
    pub name: Name,
    pub instructions: String,
}

impl From<&Stream> for StreamRef {
    fn from(s: &Stream) -> Self {
        StreamRef {
            id: s.name.clone(),
            name: s.name.clone(),
            instructions: s.instructions.clone(),
        }
    }
}
