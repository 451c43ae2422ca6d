//! The queue's errors: every way a request can be refused or fail, each
//! message naming what was wrong and, on a second line, what to do.

use crate::model::{InvalidName, TaskStatus, Timestamp};
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
    #[error(
        "task {id} is queued, not running: nobody holds a claim on it\n  Claim it first with 'sparkq claim --stream {stream}'."
    )]
    NotClaimed { id: String, stream: String },
    #[error(
        "task {id} has already finished: it {} at {at}\n  Nothing changed. See 'sparkq task {id}'; to run it again, 'sparkq requeue {id}'.",
        status.as_str()
    )]
    AlreadyFinished {
        id: String,
        status: TaskStatus,
        at: Timestamp,
    },
    #[error(
        "task {id}: your report was already recorded: it {} at {at}\n  Nothing changed. Claim the next task.",
        status.as_str()
    )]
    AlreadyReported {
        id: String,
        status: TaskStatus,
        at: Timestamp,
    },
    #[error(
        "task {id}: your claim was taken back at {at}, after twice its {timeout}s timeout passed with no report or heartbeat; {now}\n  Nothing changed. Stop working on this task and do not report it again; claim a new task."
    )]
    ClaimTakenBack {
        id: String,
        at: Timestamp,
        timeout: u64,
        /// What became of the task since, as a clause.
        now: String,
    },
    #[error(
        "task {id}: wrong claim token: it matches no claim of this task\n  Nothing changed; the task is still running, claimed by {holder} since {since}. If you are that worker, pass the claim_token that 'claim' printed; if not, this task is not yours: claim a new one."
    )]
    WrongToken {
        id: String,
        holder: String,
        since: Timestamp,
    },
    #[error(
        "task {id} is {}; only a failed or succeeded task, or a queued task of an ended stream, can be requeued\n  Wait for it to finish, or end its stream first to move its queued tasks.",
        status.as_str()
    )]
    NotFinished { id: String, status: TaskStatus },
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
            | Error::NotClaimed { .. }
            | Error::AlreadyFinished { .. }
            | Error::AlreadyReported { .. }
            | Error::ClaimTakenBack { .. }
            | Error::WrongToken { .. }
            | Error::NotFinished { .. } => ErrorKind::Conflict,
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
            Error::NotClaimed { .. } => "not_claimed",
            Error::AlreadyFinished { .. } => "already_finished",
            Error::AlreadyReported { .. } => "already_reported",
            Error::ClaimTakenBack { .. } => "claim_taken_back",
            Error::WrongToken { .. } => "wrong_token",
            Error::NotFinished { .. } => "not_finished",
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
