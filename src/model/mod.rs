//! Domain types: tasks, sessions, streams, ids, names and timestamps.
//!
//! Everything here is plain data with validation; nothing does I/O.

mod bounds;
mod conflict;
mod excerpt;
mod id;
mod listing;
mod name;
mod original;
mod session;
mod span;
mod stream;
mod task;
mod time;
mod transition;

pub use bounds::{
    MAX_JSON_DEPTH, MAX_PURGE_DAYS, MAX_RECHECK_SECS, MAX_SYNC_EVERY_SECS, MAX_TIMEOUT_SECS, MAX_WAIT_SECS,
    MAX_WORKER_BYTES, deadline_after, json_depth,
};
pub use conflict::{Conflict, ConflictKind};
pub use excerpt::{EXCERPT_END_BYTES, EXCERPT_LINES, excerpt};
pub use id::TaskId;
pub use listing::{KEY_CHARS, PREVIEW_CHARS, TaskListing, payload_key, preview};
pub use name::{InvalidName, Name};
pub use session::{Session, SessionStatus};
pub use span::{SpanError, parse_span};
pub use stream::{Stream, StreamRef, StreamStatus};
pub use task::{Attempt, AttemptEnd, Task, TaskStatus};
pub use time::Timestamp;
pub use transition::{Outcome, Phase, auto_fail_message};
