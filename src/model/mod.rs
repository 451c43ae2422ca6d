//! Domain types: tasks, sessions, streams, ids, names and timestamps.
//!
//! Everything here is plain data with validation; nothing does I/O.

mod conflict;
mod id;
mod name;
mod original;
mod session;
mod stream;
mod task;
mod time;

pub use conflict::{Conflict, ConflictKind};
pub use id::TaskId;
pub use name::{InvalidName, Name};
pub use session::{Session, SessionStatus};
pub use stream::{Stream, StreamRef, StreamStatus};
pub use task::{Attempt, AttemptEnd, Task, TaskStatus};
pub use time::Timestamp;
