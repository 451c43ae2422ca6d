//! Lock files held with the OS file lock (`flock(2)`) for as long as their
//! process runs: the server's `spool/.sparkq.lock` and each watcher's
//! `<stream>.lock`. The file's content names the holder (its pid) for
//! people and for `status`/`stop`; the OS lock says whether it is held.
//!
//! Invariants:
//! - Taking a lock is atomic: two processes starting at the same moment
//!   cannot both hold it (the kernel grants one exclusive lock per file).
//! - A lock is held only on the file its path names: a process that locked
//!   a file another one had just removed or replaced tries again on the new
//!   one, so "locked" and "named by the path" never part.
//! - A dead holder frees the lock with its last breath (the kernel drops
//!   it), so a stale pid in a file is never taken for a live process.
//! - Looking ([`probe`]) takes a shared lock for a moment; a starter that
//!   meets it (the file names no live process) looks again instead of
//!   giving up.

use std::fs::{File, Metadata, TryLockError};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files::check_owner;
use super::{Error, PidFile, Result, pid_alive};

/// The most of a lock file ever read: a pid or a small JSON object.
const MAX_CONTENT_BYTES: u64 = 4096;

/// How long a starter keeps looking while a lock is held by no live
/// process (someone probing it, or a holder that has not written its pid).
const SETTLE: Duration = Duration::from_secs(2);

/// A lock file this process holds; removed (if still the one its path
/// names) and released on drop.
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    file: File,
    /// What the file said when it was taken (a dead holder's pid), if anything.
    previous: String,
}

/// What trying to take a lock found.
#[derive(Debug)]
pub enum Acquired {
    /// It is ours now.
    Ours(LockFile),
    /// Another live process holds it; its content (the holder's pid).
    Held { content: String },
}

/// What a lock file says about its holder, without taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No lock file.
    Missing,
    /// A lock file no process holds (its holder died); its content.
    Free { content: String },
    /// A held lock and its content.
    Held { content: String },
}

impl LockFile {
    /// Tries to take the lock at `path`, creating the file (mode 0600) if
    /// needed. A file that is not the user's own regular file is refused.
    pub fn try_take(path: &Path) -> Result<Acquired> {
        let settle_until = Instant::now() + SETTLE;
        loop {
            let file = open_checked(path, true)?;
            match file.try_lock() {
                Ok(()) => {
                    if !names(path, &file) {
                        // Removed or replaced between our open and our lock.
                        continue;
                    }
                    let previous = read_content(&file, path)?;
                    return Ok(Acquired::Ours(LockFile {
                        path: path.to_owned(),
                        file,
                        previous,
                    }));
                }
                Err(TryLockError::WouldBlock) => {
                    let content = read_content(&file, path)?;
                    let holder_lives = pid_in(&content).is_some_and(pid_alive);
                    if holder_lives || Instant::now() >= settle_until {
                        return Ok(Acquired::Held { content });
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(path, "lock", e)),
            }
        }
    }

    /// Replaces the file's content (the holder's pid, and more).
    pub fn write(&self, content: &str) -> Result<()> {
        self.file
            .write_all_at(content.as_bytes(), 0)
            .and_then(|()| self.file.set_len(content.len() as u64))
            .map_err(|e| Error::io(&self.path, "write", e))
    }

    /// What the file said before this process took it.
    pub fn previous(&self) -> &str {
        &self.previous
    }

    /// Whether the path still names this file: `false` once someone has
    /// removed it (`sparkq stop --stream`) or put another in its place.
    pub fn is_current(&self) -> bool {
        names(&self.path, &self.file)
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Removed before the lock goes (with the file), so no one can take
        // this file in between and believe the path is theirs.
        if self.is_current() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Looks at the lock at `path` without taking it.
pub fn probe(path: &Path) -> Result<Probe> {
    let file = match open_checked(path, false) {
        Ok(file) => file,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Probe::Missing);
        }
        Err(e) => return Err(e),
    };
    let content = read_content(&file, path)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Probe::Free { content }),
        Err(TryLockError::WouldBlock) => Ok(Probe::Held { content }),
        Err(TryLockError::Error(e)) => Err(Error::io(path, "look at the lock", e)),
    }
}

/// The pid a lock file's content names: a watcher's `<pid>\n`, or the
/// server's JSON pid file.
pub fn pid_in(content: &str) -> Option<u32> {
    content
        .trim()
        .parse()
        .ok()
        .or_else(|| PidFile::parse(content).map(|p| p.pid))
}

/// Opens the lock file at `path` (creating it if `create`) without
/// following a link, and refuses anything but the user's own regular file.
fn open_checked(path: &Path, create: bool) -> Result<File> {
    let mut options = File::options();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .mode(0o600);
    if create {
        options.write(true).create(true);
    }
    let file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            return Error::WrongKind {
                path: path.to_owned(),
                expected: "lock file (it is a symbolic link)",
            };
        }
        Error::io(path, "open", e)
    })?;
    let meta = file.metadata().map_err(|e| Error::io(path, "look at", e))?;
    if !meta.is_file() {
        return Err(Error::WrongKind {
            path: path.to_owned(),
            expected: "lock file",
        });
    }
    check_owner(path, &meta)?;
    Ok(file)
}

fn read_content(file: &File, path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    let mut reader = file;
    reader
        .by_ref()
        .take(MAX_CONTENT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether `path` names the open `file` (same device and inode).
fn names(path: &Path, file: &File) -> bool {
    let same = |a: &Metadata, b: &Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(on_disk), Ok(open)) => same(&on_disk, &open),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(path: &Path) -> LockFile {
        match LockFile::try_take(path).unwrap() {
            Acquired::Ours(lock) => lock,
            Acquired::Held { content } => panic!("held: {content}"),
        }
    }

    #[test]
    fn one_holder_at_a_time_and_a_dead_ones_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.lock");
        assert_eq!(probe(&path).unwrap(), Probe::Missing);
        // A file left by a holder that died: nobody holds it.
        std::fs::write(&path, "999999999\n").unwrap();
        assert!(matches!(probe(&path).unwrap(), Probe::Free { .. }));
        let lock = take(&path);
        assert_eq!(lock.previous().trim(), "999999999");
        lock.write(&format!("{}\n", std::process::id())).unwrap();
        let me = std::process::id().to_string();
        assert!(matches!(probe(&path).unwrap(), Probe::Held { content } if content.trim() == me));
        // A second taker (another open file, as another process would have).
        assert!(matches!(
            LockFile::try_take(&path).unwrap(),
            Acquired::Held { content } if content.trim() == me
        ));
        drop(lock);
        assert!(!path.exists());
        drop(take(&path));
    }

    #[test]
    fn a_removed_lock_is_no_longer_current_and_its_successor_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.lock");
        let first = take(&path);
        std::fs::remove_file(&path).unwrap();
        assert!(!first.is_current());
        let second = take(&path);
        drop(first);
        assert!(path.exists(), "the old holder removed its successor's file");
        assert!(second.is_current());
    }

    #[test]
    fn links_and_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "1\n").unwrap();
        let link = dir.path().join("a.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(LockFile::try_take(&link), Err(Error::WrongKind { .. })));
        assert!(matches!(probe(&link), Err(Error::WrongKind { .. })));
        let folder = dir.path().join("b.lock");
        std::fs::create_dir(&folder).unwrap();
        assert!(matches!(
            LockFile::try_take(&folder),
            Err(Error::WrongKind { .. }) | Err(Error::Io { .. })
        ));
    }

    #[test]
    fn the_pid_is_read_from_either_format() {
        assert_eq!(pid_in("42\n"), Some(42));
        assert_eq!(
            pid_in(r#"{"pid": 7, "url": null, "started_at": "2026-01-01T00:00:00.000000Z"}"#),
            Some(7)
        );
        assert_eq!(pid_in(""), None);
    }
}
