//! The errors of waiting and watching: each names the file or stream it is
//! about and, on a second line, what to do.

use std::path::PathBuf;

use crate::queue;

/// Why a wait or a watcher could not go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Queue(#[from] queue::Error),
    #[error("could not {action} {path}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("could not watch {path} for changes: {source}")]
    Notify { path: PathBuf, source: notify::Error },
    #[error(
        "a watcher for stream '{stream}' already runs (pid {pid}, lock {lock})\n  Stop it with 'sparkq stop --stream {stream}', or let it do the job."
    )]
    AlreadyWatched { stream: String, pid: u32, lock: PathBuf },
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
