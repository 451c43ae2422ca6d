//! The queue's errors: every way a request can be refused or fail, each
//! message naming what was wrong and, on a second line, what to do.

use crate::model::{InvalidName, TaskStatus};
use crate::spool;

/// How a front door should treat an error (HTTP status, exit code, MCP
/// error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something named does not exist.
    NotFound,
    /// The request itself is malformed or breaks a rule.
    Invalid,
    /// The request is fine but the state does not allow it now.
    Conflict,
    /// The spool could not be read or written.
    Internal,
}

/// Why a queue operation did not happen. Nothing changes on disk when one
/// of these is returned, except [`Error::ClaimNotUndone`], which says
/// what was left.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    #[error(
        "invalid task id '{given}'\n  Task ids look like 'tsk_01jd2k3m4n5p6q7r8s9t0v'; copy one from 'sparkq tasks'."
    )]
    InvalidId { given: String },
    #[error(
        "no session named '{name}'\n  {}",
        known_hint("session", known, "sparkq session create")
    )]
    UnknownSession { name: String, known: Vec<String> },
    #[error(
        "no stream named '{name}'\n  {}",
        known_hint("stream", known, "sparkq stream create")
    )]
    UnknownStream { name: String, known: Vec<String> },
    #[error("unknown tool '{name}'\n  Known tools: {}. Register tools under 'tools:' in sparkq.yml.", known.join(", "))]
    UnknownTool { name: String, known: Vec<String> },
    #[error("no task with id '{id}'\n  List tasks with 'sparkq tasks'.")]
    UnknownTask { id: String },
    #[error(
        "session '{name}' already exists\n  Pick another name, or use it as it is ('sparkq session list')."
    )]
    SessionExists { name: String },
    #[error(
        "stream '{name}' already exists\n  Stream names are unique across the project; pick another name."
    )]
    StreamExists { name: String },
    #[error("session '{name}' has ended\n  Create a new session with 'sparkq session create NAME'.")]
    SessionEnded { name: String },
    #[error(
        "stream '{name}' has ended: it accepts and hands out no tasks\n  Create a new stream with 'sparkq stream create NAME --session S'."
    )]
    StreamEnded { name: String },
    #[error("{what} is not valid: {message}\n  {hint}")]
    InvalidInput {
        what: &'static str,
        message: String,
        hint: &'static str,
    },
    #[error(
        "{what} is {size} bytes, over the limit of {limit} bytes\n  Write large outputs to a file and put its path in the result, or raise 'limits:' in sparkq.yml."
    )]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("task {id} is {}, not running\n  Only a running task can be completed, failed or heartbeaten; see 'sparkq task {id}'.", status.as_str())]
    NotRunning { id: String, status: TaskStatus },
    #[error("task {id} is {}; only a failed or succeeded task can be requeued", status.as_str())]
    NotFinished { id: String, status: TaskStatus },
    #[error(
        "task {id} is no longer yours: the claim token does not match\n  Your claim was taken back (it outlived twice its timeout) and the task may be with another worker. Do not retry; claim a new task."
    )]
    StaleToken { id: String },
    #[error(
        "{error}\n  But task {id} could not be put back in the queue ({back}): it sits in claimed/ with no worker, and is taken back once it outlives twice its timeout."
    )]
    ClaimNotUndone {
        id: String,
        error: Box<Error>,
        back: spool::Error,
    },
    #[error(transparent)]
    Spool(#[from] spool::Error),
}

impl Error {
    /// The error's kind, mapped once per front door.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownSession { .. } | Error::UnknownStream { .. } | Error::UnknownTask { .. } => {
                ErrorKind::NotFound
            }
            Error::InvalidName(_)
            | Error::InvalidId { .. }
            | Error::UnknownTool { .. }
            | Error::InvalidInput { .. }
            | Error::TooLarge { .. } => ErrorKind::Invalid,
            Error::SessionExists { .. }
            | Error::StreamExists { .. }
            | Error::SessionEnded { .. }
            | Error::StreamEnded { .. }
            | Error::NotRunning { .. }
            | Error::NotFinished { .. }
            | Error::StaleToken { .. } => ErrorKind::Conflict,
            Error::Spool(spool::Error::AlreadyExists { .. }) => ErrorKind::Conflict,
            Error::Spool(_) | Error::ClaimNotUndone { .. } => ErrorKind::Internal,
        }
    }

    /// A short stable code for machine-readable errors (`unknown_stream`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidName(_) => "invalid_name",
            Error::InvalidId { .. } => "invalid_id",
            Error::UnknownSession { .. } => "unknown_session",
            Error::UnknownStream { .. } => "unknown_stream",
            Error::UnknownTool { .. } => "unknown_tool",
            Error::UnknownTask { .. } => "unknown_task",
            Error::SessionExists { .. } => "session_exists",
            Error::StreamExists { .. } => "stream_exists",
            Error::SessionEnded { .. } => "session_ended",
            Error::StreamEnded { .. } => "stream_ended",
            Error::InvalidInput { .. } => "invalid_input",
            Error::TooLarge { .. } => "too_large",
            Error::NotRunning { .. } => "not_running",
            Error::NotFinished { .. } => "not_finished",
            Error::StaleToken { .. } => "stale_token",
            Error::Spool(_) | Error::ClaimNotUndone { .. } => "storage",
        }
    }

    /// An [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, message: impl Into<String>, hint: &'static str) -> Error {
        Error::InvalidInput {
            what,
            message: message.into(),
            hint,
        }
    }
}

fn known_hint(what: &str, known: &[String], create: &str) -> String {
    if known.is_empty() {
        format!("There are no {what}s yet; create one with '{create} NAME'.")
    } else {
        format!("Known {what}s: {}.", known.join(", "))
    }
}
