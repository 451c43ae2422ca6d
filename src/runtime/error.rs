//! Why a runtime file or folder could not be used: each error names the
//! path and, on a second line, what to do.

use std::path::PathBuf;

/// A runtime file or folder that could not be made, opened or trusted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not {action} {path}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error(
        "{path} belongs to user {owner}, not to you (user {me}), so SparkQ will not use it\n  Another user may have made it to block or overhear SparkQ: remove it, or set SPARKQ_RUNTIME_DIR to a folder of your own."
    )]
    NotOwned { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "{path} can be read or written by other users (mode {mode:o}), so SparkQ will not use it\n  Make it private with 'chmod 700 {path}', or set SPARKQ_RUNTIME_DIR to a folder of your own."
    )]
    NotPrivate { path: PathBuf, mode: u32 },
    #[error("{path} is not a {expected}\n  It is not SparkQ's: remove it, then try again.")]
    WrongKind { path: PathBuf, expected: &'static str },
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
