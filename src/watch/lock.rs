//! The watcher lock, `<stream>.lock` in the project's runtime folder: held
//! with the OS lock by the one watcher of a stream, and naming its pid as a
//! decimal number and a newline (the format existing worker scripts read).
//!
//! Invariants (the locking itself is [`crate::runtime::LockFile`]'s):
//! - A lock held by a live watcher is never taken; a file left by a dead
//!   one (the OS lock went with it) is taken over.
//! - A watcher whose lock file is removed (by `sparkq stop --stream`) or
//!   replaced stops; on its way out it removes the file only if it is
//!   still its own.

use std::path::Path;

use super::{Error, Result};
use crate::runtime::{Acquired, LockFile, Probe, pid_in, probe};

/// A held watcher lock; released (removed, if still ours) on drop.
#[derive(Debug)]
pub(crate) struct WatcherLock {
    file: LockFile,
}

/// What taking a lock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    Fresh,
    /// A dead watcher's file, naming this pid (if readable).
    FromDead(Option<u32>),
}

impl WatcherLock {
    /// Takes the lock at `path` for this process, refusing if another live
    /// watcher holds it.
    pub(crate) fn acquire(path: &Path, stream: &str) -> Result<(WatcherLock, Taken)> {
        let file = match LockFile::try_take(path)? {
            Acquired::Ours(file) => file,
            Acquired::Held { content } => {
                return Err(Error::AlreadyWatched {
                    stream: stream.to_owned(),
                    pid: pid_in(&content).unwrap_or(0),
                    lock: path.to_owned(),
                });
            }
        };
        let taken = if file.previous().trim().is_empty() {
            Taken::Fresh
        } else {
            Taken::FromDead(pid_in(file.previous()))
        };
        file.write(&format!("{}\n", std::process::id()))?;
        Ok((WatcherLock { file }, taken))
    }

    /// Whether the lock file is still this watcher's.
    pub(crate) fn is_still_ours(&self) -> bool {
        self.file.is_current()
    }
}

/// The pid of the live watcher holding the lock at `path`, if one does.
pub(crate) fn holder(path: &Path) -> Option<u32> {
    match probe(path) {
        Ok(Probe::Held { content }) => pid_in(&content),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_and_a_dead_ones_file_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.lock");
        std::fs::write(&path, "999999999\n").unwrap();
        assert_eq!(holder(&path), None);
        let (lock, taken) = WatcherLock::acquire(&path, "a").unwrap();
        assert_eq!(taken, Taken::FromDead(Some(999_999_999)));
        assert_eq!(holder(&path), Some(std::process::id()));
        assert!(matches!(
            WatcherLock::acquire(&path, "a"),
            Err(Error::AlreadyWatched { pid, .. }) if pid == std::process::id()
        ));
        drop(lock);
        assert!(!path.exists());
        assert_eq!(holder(&path), None);
    }

    #[test]
    fn a_removed_lock_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.lock");
        let (lock, taken) = WatcherLock::acquire(&path, "a").unwrap();
        assert_eq!(taken, Taken::Fresh);
        assert!(lock.is_still_ours());
        std::fs::remove_file(&path).unwrap();
        assert!(!lock.is_still_ours());
    }
}
