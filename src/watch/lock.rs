//! The watcher lock, `sparkq-<stream>.lock`: the pid of the one watcher of
//! a stream on this machine, as a decimal number and a newline (the format
//! existing worker scripts read).
//!
//! Invariants:
//! - The lock file appears with its pid already in it: it is written to a
//!   temp file and hard-linked into place, which fails if a lock exists.
//! - A lock naming a live process is never taken; one naming a dead process
//!   (or nothing readable) is taken over.
//! - A watcher whose lock no longer names it (removed by `sparkq stop
//!   --stream`, or taken over in a race) stops; on its way out it removes
//!   the lock only if the lock is still its own.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{Error, Result};

/// A held watcher lock; released (removed, if still ours) on drop.
#[derive(Debug)]
pub(crate) struct WatcherLock {
    path: PathBuf,
    pid: u32,
}

/// What taking a lock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    Fresh,
    /// The lock named this pid, which is dead.
    FromDead(Option<u32>),
}

impl WatcherLock {
    /// Takes the lock at `path` for this process, refusing if it names
    /// another live process.
    pub(crate) fn acquire(path: &Path, stream: &str) -> Result<(WatcherLock, Taken)> {
        let pid = std::process::id();
        let dir = path.parent().unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            ".{}.{pid}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("sparkq.lock"),
            fastrand::u32(..)
        ));
        std::fs::write(&temp, format!("{pid}\n")).map_err(|e| Error::io(&temp, "write", e))?;
        let mut taken = Taken::Fresh;
        let result = loop {
            match std::fs::hard_link(&temp, path) {
                Ok(()) => break Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => break Err(Error::io(path, "create lock", e)),
            }
            match read_pid(path) {
                Some(other) if other != pid && pid_alive(other) => {
                    break Err(Error::AlreadyWatched {
                        stream: stream.to_owned(),
                        pid: other,
                        lock: path.to_owned(),
                    });
                }
                other => {
                    taken = Taken::FromDead(other);
                    match std::fs::remove_file(path) {
                        Err(e) if e.kind() != ErrorKind::NotFound => {
                            break Err(Error::io(path, "remove stale lock", e));
                        }
                        _ => {}
                    }
                }
            }
        };
        let _ = std::fs::remove_file(&temp);
        result.map(|()| {
            (
                WatcherLock {
                    path: path.to_owned(),
                    pid,
                },
                taken,
            )
        })
    }

    /// Whether the lock file still names this process.
    pub(crate) fn is_still_ours(&self) -> bool {
        read_pid(&self.path) == Some(self.pid)
    }
}

impl Drop for WatcherLock {
    fn drop(&mut self) {
        if self.is_still_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The pid a lock file names, if it can be read.
pub(crate) fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether process `pid` is alive. A zombie counts as dead, and so does a
/// thread id: `/proc/<tid>` exists for every thread of every process, and a
/// dead watcher's pid is soon reused as some thread's id.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::trim)
                .unwrap_or("")
        };
        return field("Tgid:") == pid.to_string() && !field("State:").starts_with('Z');
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lock_is_refused_and_a_dead_one_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparkq-a.lock");
        // pid 1 is alive and is not us.
        std::fs::write(&path, "1\n").unwrap();
        assert!(matches!(
            WatcherLock::acquire(&path, "a"),
            Err(Error::AlreadyWatched { pid: 1, .. })
        ));
        std::fs::write(&path, "999999999\n").unwrap();
        let (lock, taken) = WatcherLock::acquire(&path, "a").unwrap();
        assert_eq!(taken, Taken::FromDead(Some(999_999_999)));
        assert_eq!(read_pid(&path), Some(std::process::id()));
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn a_lock_taken_by_another_is_left_alone_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparkq-a.lock");
        let (lock, taken) = WatcherLock::acquire(&path, "a").unwrap();
        assert_eq!(taken, Taken::Fresh);
        std::fs::write(&path, "1\n").unwrap();
        assert!(!lock.is_still_ours());
        drop(lock);
        assert_eq!(read_pid(&path), Some(1));
    }
}
