//! The spool's errors: an I/O failure on a named path, a file whose
//! content cannot be used, or an entry that is not read at all.

use std::io;
use std::path::{Path, PathBuf};

use super::Foreign;

/// What went wrong touching the spool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not {action} {path}: {source}{}", hint(source))]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error(
        "{path} is not a valid {what}: {message}\n  Fix or remove the file by hand, or run 'sparkq doctor'."
    )]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    #[error("{path} already exists")]
    AlreadyExists { path: PathBuf },
    /// Not a regular file of a size SparkQ reads (see `spool::read`).
    #[error("{path} is not read: {}\n  Run 'sparkq doctor' to see it and 'sparkq doctor --fix' to set it aside, or remove it by hand.", what.describe())]
    Foreign { path: PathBuf, what: Foreign },
    /// A task file whose content names another task or stream than its
    /// name and folder do (the name and folder are the truth).
    #[error(
        "{path} is not read: {message}\n  Run 'sparkq doctor' to see it and 'sparkq doctor --fix' to set it aside, or remove it by hand."
    )]
    Mismatch { path: PathBuf, message: String },
    /// `git` or `rsync` refused or failed during a sync; nothing half-done
    /// was left behind.
    #[error("{message}\n  {hint}")]
    Sync { message: String, hint: String },
}

impl Error {
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            action,
            source,
        }
    }
}

fn hint(source: &io::Error) -> &'static str {
    // What opening without following links or blocking (see `read`) says
    // of a link (ELOOP) or of a FIFO nobody reads (ENXIO).
    if matches!(source.raw_os_error(), Some(libc::ELOOP | libc::ENXIO)) {
        return "\n  It is a symbolic link or a named pipe, which SparkQ never follows or waits on: remove it.";
    }
    match source.kind() {
        io::ErrorKind::PermissionDenied => {
            "\n  Check the spool folder's permissions (it must be readable and writable by you)."
        }
        io::ErrorKind::StorageFull => {
            "\n  The disk is full: free some space (or 'sparkq purge') and try again; nothing was changed."
        }
        _ => "",
    }
}
