//! The spool's errors: an I/O failure on a named path, or a file whose
//! content cannot be used.

use std::io;
use std::path::{Path, PathBuf};

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
