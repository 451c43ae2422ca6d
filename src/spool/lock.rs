//! The per-stream lock that serializes state changes on one machine.

use std::fs::File;
use std::path::Path;

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
    _file: File,
}

impl StreamLock {
    /// Blocks until the lock at `path` is held.
    ///
    /// The lock file is opened like every spool file: never through a link
    /// (a link planted there would make SparkQ create or lock a file
    /// elsewhere), and without blocking (a FIFO planted there would hang
    /// every command of the stream); such a file is refused with an error.
    pub(crate) fn acquire(path: &Path) -> Result<StreamLock, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io(path, "open lock file", e))?;
        file.lock().map_err(|e| Error::io(path, "lock", e))?;
        Ok(StreamLock { _file: file })
    }
}
