//! The per-stream lock that serializes state changes on one machine.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::Error;

/// An exclusive OS file lock on a stream's `.lock` file, released on drop
/// (or when the process dies, however it dies).
///
/// Every state change of a task in the stream (claim, complete, fail,
/// heartbeat, re-queue, adoption) happens while holding it, so two processes
/// on one machine never move the same task at once and claimers take tasks
/// in FIFO order. The rename is still what makes a claim atomic.
#[derive(Debug)]
pub(crate) struct StreamLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// A lock file opened for this hold alone, closed with it.
    Own { _file: File },
    /// The lock file a long-lived process keeps open (see [`LockFiles`]).
    Kept(Arc<KeptFile>),
}

impl StreamLock {
    /// Blocks until the lock at `path` is held.
    ///
    /// The lock file is opened like every spool file: never through a link
    /// (a link planted there would make SparkQ create or lock a file
    /// elsewhere), and without blocking (a FIFO planted there would hang
    /// every command of the stream); such a file is refused with an error.
    pub(crate) fn acquire(path: &Path) -> Result<StreamLock, Error> {
        let file = open_lock_file(path)?;
        file.lock().map_err(|e| Error::io(path, "lock", e))?;
        Ok(StreamLock {
            held: Held::Own { _file: file },
        })
    }

    /// Like [`StreamLock::acquire`], through the lock files `kept` holds
    /// open: no open and close of the file per hold.
    pub(crate) fn acquire_kept(path: &Path, kept: &LockFiles) -> Result<StreamLock, Error> {
        let entry = kept.entry(path);
        entry.take_turn();
        match entry.lock_file(path) {
            Ok(()) => Ok(StreamLock {
                held: Held::Kept(entry),
            }),
            Err(e) => {
                entry.end_turn();
                Err(e)
            }
        }
    }
}

impl Drop for StreamLock {
    fn drop(&mut self) {
        if let Held::Kept(entry) = &self.held {
            // Released before the next thread's turn: it locks the same
            // open file, which would not wait for a lock already held.
            if let Some(file) = entry.guard().file.as_ref() {
                let _ = file.unlock();
            }
            entry.end_turn();
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, "open lock file", e))
}

/// The stream lock files of a long-lived process, kept open across holds.
///
/// Invariants:
/// - **One thread at a time per file.** `flock` belongs to the open file,
///   not to the thread: two threads locking one kept file would both get
///   it. So each kept file has an in-process turn ([`KeptFile::take_turn`])
///   taken before the `flock` and given back after the unlock; other
///   processes (and other opens of the file in this one) still wait on the
///   `flock` itself.
/// - **Only the file at the path counts.** A lock on a file that has been
///   removed or replaced (a stream folder deleted and made again, a
///   checkout) would exclude nobody who opens the path now, so after each
///   `flock` the kept file's link count is checked (one `fstat`); with no
///   link left it is closed and the path opened and locked afresh.
#[derive(Debug, Default)]
pub(crate) struct LockFiles(Mutex<HashMap<PathBuf, Arc<KeptFile>>>);

/// One kept lock file and the in-process turn for it.
#[derive(Debug, Default)]
pub(crate) struct KeptFile {
    state: Mutex<KeptState>,
    turn_free: Condvar,
}

#[derive(Debug, Default)]
struct KeptState {
    file: Option<File>,
    /// A thread of this process holds (or is taking) the lock.
    busy: bool,
}

impl LockFiles {
    fn entry(&self, path: &Path) -> Arc<KeptFile> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(path.to_owned()).or_default().clone()
    }
}

impl KeptFile {
    fn guard(&self) -> MutexGuard<'_, KeptState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other thread of this process holds the lock.
    fn take_turn(&self) {
        let mut state = self.guard();
        while state.busy {
            state = self.turn_free.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.busy = true;
    }

    fn end_turn(&self) {
        self.guard().busy = false;
        self.turn_free.notify_one();
    }

    /// Locks the kept file (opening it first if needed) and checks that it
    /// is still the file at `path`. The caller has the turn.
    fn lock_file(&self, path: &Path) -> Result<(), Error> {
        use std::os::unix::fs::MetadataExt;
        // The turn keeps other threads out: the state lock is only held
        // for the opens, never while waiting on the flock.
        loop {
            let file = match self.guard().file.take() {
                Some(file) => file,
                None => open_lock_file(path)?,
            };
            file.lock().map_err(|e| Error::io(path, "lock", e))?;
            let linked = file
                .metadata()
                .map_err(|e| Error::io(path, "look up the lock file", e))?
                .nlink()
                > 0;
            if linked {
                self.guard().file = Some(file);
                return Ok(());
            }
            // Removed or replaced while it was kept: drop it (which
            // unlocks it) and open what the path names now.
            drop(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn threads_sharing_a_kept_lock_file_and_other_opens_of_it_hold_it_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let kept = LockFiles::default();
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (path, kept, inside, most) = (&path, &kept, &inside, &most);
                scope.spawn(move || {
                    for _ in 0..300 {
                        // Three threads share the kept file; the fourth
                        // opens its own, as another process would.
                        let lock = if t == 0 {
                            StreamLock::acquire(path).unwrap()
                        } else {
                            StreamLock::acquire_kept(path, kept).unwrap()
                        };
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        for _ in 0..3 {
                            std::thread::yield_now();
                        }
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(lock);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
    }

    #[test]
    fn a_kept_lock_file_that_was_replaced_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let kept = LockFiles::default();
        drop(StreamLock::acquire_kept(&path, &kept).unwrap());
        // The stream folder made again: a new lock file at the same path.
        std::fs::remove_file(&path).unwrap();
        let other = || {
            File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap()
        };
        other();

        let held = StreamLock::acquire_kept(&path, &kept).unwrap();
        assert!(
            matches!(other().try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            "the lock is on the file the path names now"
        );
        drop(held);
        assert!(other().try_lock().is_ok(), "and released with the hold");
    }
}
