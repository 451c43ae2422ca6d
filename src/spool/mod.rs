//! The spool: the only code that touches the spool folders.
//!
//! ```text
//! spool/
//!   .gitignore                  locks and temp files stay local
//!   sessions/<session>.json
//!   streams/<stream>/
//!     stream.json
//!     .lock                     serializes state changes on this machine
//!     .batch-*.tmp/             a batch being staged (see `batch`)
//!     pending/ claimed/ done/ failed/   <task-id>.json
//!     purged/<task-id>.json     tombstones of purged tasks (see `purged`)
//! ```
//!
//! Invariants kept here:
//! - **The folder a task file is in is its state.** Content that lags its
//!   folder (a crash between two steps) is repaired on the next read.
//! - **Every write is atomic**: a `.`-prefixed temp file in the target's own
//!   folder, flushed when `fsync` is on, then renamed over the target.
//! - **State changes are renames** (or, where a task must be rewritten on
//!   the way, "write the new copy, then remove the old one", so a crash
//!   leaves two copies that [`Task::lattice_key`] orders, never zero).
//! - Folders git cannot track (empty ones) may be missing: reading treats
//!   them as empty, writing creates them. New state folders get a `.keep`
//!   file so that git never sees one vanish (see `copies`).
//!
//! This module decides no rules; `queue` does.

mod adopt;
mod atomic;
mod batch;
mod change;
mod claiming;
mod copies;
mod error;
mod git;
mod gitsync;
mod listing;
mod lock;
mod markers;
mod meta;
mod purged;
mod read;
mod rsync;
mod tasks;
mod teardown;
mod temp;
mod tree_watch;

use std::path::{Path, PathBuf};

pub(crate) use adopt::{DroppedFile, Refused, is_settled};
pub use atomic::write_atomic;
pub(crate) use atomic::{FolderFlush, Staged, make_missing_folder, stage};
pub(crate) use batch::is_batch_dir;
pub use change::{Change, StreamPaths};
pub(crate) use claiming::{InFlightClaim, is_claim_marker};
pub use copies::KEEP_FILE;
pub(crate) use copies::{StreamFiles, TaskFile, extra_copy_id, extra_of, file_bytes, move_file, remove_file};
pub(crate) use error::Error;
pub(crate) use git::{GitMerge, forget_merge, record_merge};
pub(crate) use gitsync::{GitRepo, MergeOutcome, PushOutcome, SYNC_STATUS_FILE};
pub(crate) use lock::{LockFiles, StreamLock};
pub use markers::has_markers;
pub(crate) use markers::{Split, split_conflict};
pub(crate) use meta::StreamCache;
pub(crate) use purged::{PURGED_DIR, TOMBSTONE_DAYS, Tombstone};
pub(crate) use read::{DEFAULT_FILE_CAP, Foreign, file_cap_for};
pub(crate) use rsync::{local_arg, rsync};
pub(crate) use tasks::{ClaimMove, ClaimedFile, NewestAsk, PendingScan, SCAN_OLDEST, check_name_and_folder};
pub use teardown::Removal;
pub(crate) use temp::STALE_TEMP_AGE;
pub(crate) use tree_watch::{FolderWatch, TreeEvent, TreeWatch, watch_folders, watch_tree, watch_tree_paced};

use crate::model::{Name, TaskStatus};

/// The text of `spool/.gitignore`: what must never be tracked.
pub const GITIGNORE: &str = "# Written by sparkq: locks and temp files are local to one machine.\n.lock\n*.lock\n.*.tmp\n.*.adopt\n.new-*\n.sync-status.json\n";

/// A spool folder on disk.
#[derive(Debug, Clone)]
pub(crate) struct Spool {
    root: PathBuf,
    fsync: bool,
    /// The largest file read (see [`read::file_cap_for`]).
    file_cap: u64,
    /// The stream lock files a long-lived process keeps open (see
    /// [`LockFiles`]); `None`: each hold opens the file.
    lock_files: Option<std::sync::Arc<LockFiles>>,
}

/// The folder a task in `status` lives in.
pub(crate) fn state_dir(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Queued => "pending",
        TaskStatus::Running => "claimed",
        TaskStatus::Succeeded => "done",
        TaskStatus::Failed => "failed",
    }
}

impl Spool {
    /// A spool at `root`; `fsync` makes every task write durable before it
    /// is renamed into place.
    pub(crate) fn new(root: impl Into<PathBuf>, fsync: bool) -> Spool {
        Spool {
            root: root.into(),
            fsync,
            file_cap: DEFAULT_FILE_CAP,
            lock_files: None,
        }
    }

    /// The same spool, keeping the stream lock files in `kept` open
    /// across holds (`None`: opening them for each hold).
    pub(crate) fn with_lock_files(mut self, kept: Option<std::sync::Arc<LockFiles>>) -> Spool {
        self.lock_files = kept;
        self
    }

    /// The same spool, reading files of at most `file_cap` bytes.
    pub(crate) fn with_file_cap(mut self, file_cap: u64) -> Spool {
        self.file_cap = file_cap;
        self
    }

    /// Reads a spool file through the one reader (see `read`): regular
    /// files only, never through a link, at most the file cap. `None` if
    /// nothing is there; [`Error::Foreign`] for anything else.
    pub(crate) fn read_bytes(&self, path: &Path) -> Result<Option<Vec<u8>>, Error> {
        match read::read_capped(path, self.file_cap) {
            Ok(Ok(bytes)) => Ok(Some(bytes)),
            Ok(Err(what)) => Err(Error::Foreign {
                path: path.to_owned(),
                what,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, "read", e)),
        }
    }

    /// The spool's root folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Whether writes are flushed to disk.
    pub(crate) fn fsync(&self) -> bool {
        self.fsync
    }

    /// Creates the top-level folders and `.gitignore` if they are missing;
    /// returns the paths it created.
    pub(crate) fn ensure_layout(&self) -> Result<Vec<PathBuf>, Error> {
        let mut created = Vec::new();
        for dir in [self.root.clone(), self.sessions_dir(), self.streams_dir()] {
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create folder", e))?;
                created.push(dir);
            }
        }
        let ignore = self.root.join(".gitignore");
        if !ignore.exists() {
            write_atomic(&ignore, GITIGNORE.as_bytes(), self.fsync)?;
            created.push(ignore);
        }
        Ok(created)
    }

    fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    fn streams_dir(&self) -> PathBuf {
        self.root.join("streams")
    }

    /// The folder of stream `stream`.
    pub(crate) fn stream_dir(&self, stream: &Name) -> PathBuf {
        self.streams_dir().join(stream.as_str())
    }

    /// Stream `stream`'s own file, `stream.json`.
    pub(crate) fn stream_file(&self, stream: &Name) -> PathBuf {
        self.stream_dir(stream).join("stream.json")
    }

    /// The folder of `stream`'s tasks in `status`.
    pub(crate) fn state_path(&self, stream: &Name, status: TaskStatus) -> PathBuf {
        self.stream_dir(stream).join(state_dir(status))
    }
}

impl Spool {
    /// The server's pid file, `spool/.sparkq.lock`.
    pub(crate) fn server_pid_path(&self) -> PathBuf {
        self.root.join(".sparkq.lock")
    }
}
