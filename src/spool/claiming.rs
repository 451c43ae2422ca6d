//! The in-flight rewrite of a claimed task file, whose flush runs without
//! the stream lock (see `queue::claim`).
//!
//! A claim renames `pending/<id>.json` into `claimed/` under the stream
//! lock and, still under the lock, creates its *marker*
//! `claimed/.<id>.<token>.claiming.tmp`: the temp file the claim's new
//! content is written and flushed into after the lock is released, and
//! which is then renamed over `claimed/<id>.json` under the lock again.
//!
//! Invariants kept here and by the sweep (`queue::stale`):
//! - **A held marker means "in flight".** The claimer locks its marker
//!   (`flock`, through `File::lock`) right after creating it, under the
//!   stream lock, and holds that lock until the claim is written or undone;
//!   the kernel releases it when the claimer dies, however it dies. A
//!   claimed file whose content still says queued (it lags its folder) and
//!   that has a marker still locked and younger than [`STALE_TEMP_AGE`] is
//!   left alone by every sweep: not repaired, not taken back. Its claimer
//!   is between the two halves of the claim.
//! - **A marker nobody holds is a claimer that died**, and so is one older
//!   than [`STALE_TEMP_AGE`] (a claimer stopped for that long, or a file
//!   system without locks). The sweep then repairs the lagging file as it
//!   repairs any crash between rename and rewrite, and removes those
//!   markers of that id in the same hold of the lock. So a claimer killed
//!   mid-claim leaves a task that the next look repairs, as before claims
//!   were split, not one that waits for the marker to age.
//! - **The marker is named by the claim's token**, which no other claim
//!   shares, so a claimer that finds its own marker gone under the lock
//!   knows a sweep took its claim over, and never writes (see
//!   [`InFlightClaim::is_marked`]).
//!
//! The marker is a temp file to everything else: git ignores it, nothing
//! reads it as a task, and `doctor --fix` removes it once it is stale.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use super::{Error, FolderFlush, STALE_TEMP_AGE, Spool};
use crate::model::{Name, TaskId, TaskStatus};

/// The suffix of a claim's marker (see the module doc).
const MARKER_SUFFIX: &str = ".claiming.tmp";

/// A claim's marker, created under the stream lock; removed on drop unless
/// committed.
#[derive(Debug)]
pub(crate) struct InFlightClaim {
    file: File,
    marker: PathBuf,
    target: PathBuf,
    fsync: bool,
    committed: bool,
}

impl Spool {
    /// Creates the marker of the claim of task `id` with `token`, beside
    /// its claimed file. The caller holds the stream lock and has just
    /// renamed the task into `claimed/`.
    pub(crate) fn begin_claim(
        &self,
        stream: &Name,
        id: &TaskId,
        token: &str,
    ) -> Result<InFlightClaim, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.state_path(stream, TaskStatus::Running);
        let marker = dir.join(format!(".{id}.{token}{MARKER_SUFFIX}"));
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&marker)
            .map_err(|e| Error::io(&marker, "create the claim's temp file", e))?;
        // Held until this claim is written or undone, released by the
        // kernel if the claimer dies: the sweep's sign of life (see the
        // module doc). A new file no one else has opened: never waits.
        if let Err(e) = file.lock() {
            let _ = std::fs::remove_file(&marker);
            return Err(Error::io(&marker, "lock the claim's temp file", e));
        }
        Ok(InFlightClaim {
            file,
            marker,
            target: dir.join(id.file_name()),
            fsync: self.fsync,
            committed: false,
        })
    }

    /// Whether task `id` of `stream` has a claim in flight: a marker in
    /// `claimed/` that its claimer still holds, younger than
    /// [`STALE_TEMP_AGE`]. The other markers of `id` are removed (their
    /// claimers died). `markers` are the marker names the caller's listing
    /// of `claimed/` found. The caller holds the stream lock.
    pub(crate) fn claim_in_flight(&self, stream: &Name, id: &TaskId, markers: &[String]) -> bool {
        let dir = self.state_path(stream, TaskStatus::Running);
        let prefix = format!(".{id}.");
        let mut in_flight = false;
        for name in markers.iter().filter(|n| n.starts_with(&prefix)) {
            let path = dir.join(name);
            let young = std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|at| SystemTime::now().duration_since(at).unwrap_or_default() <= STALE_TEMP_AGE);
            if young && is_held(&path) {
                in_flight = true;
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
        in_flight
    }
}

/// Whether the marker at `path` is locked by its claimer. Only a lock we
/// could take ourselves says no one holds it; a marker we cannot open or
/// lock for another reason (a file system without locks) counts as held,
/// leaving the call to its age.
///
/// A claimer only ever makes a regular file; anything else under a
/// marker's name (a FIFO, whose open would wait for a writer forever, a
/// link, a folder) is opened without waiting or following and held by no
/// one.
fn is_held(path: &std::path::Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    match opened {
        Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => matches!(
            file.try_lock(),
            Err(std::fs::TryLockError::WouldBlock) | Err(std::fs::TryLockError::Error(_))
        ),
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::NotFound) && e.raw_os_error() != Some(libc::ELOOP),
    }
}

/// Whether `name` (an entry of `claimed/`) is a claim's marker.
pub(crate) fn is_claim_marker(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(MARKER_SUFFIX)
}

impl InFlightClaim {
    /// Writes the claimed task's `bytes` into the marker and, with fsync,
    /// flushes them: the slow half, done without the stream lock.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.marker, "write", e))?;
        if self.fsync {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.marker, "flush", e))?;
        }
        Ok(())
    }

    /// Whether the marker is still there: if a sweep removed it, the claim
    /// was taken over and must not be written. The caller holds the lock.
    pub(crate) fn is_marked(&self) -> bool {
        std::fs::symlink_metadata(&self.marker).is_ok_and(|m| m.is_file())
    }

    /// The claimed file this claim rewrites.
    pub(crate) fn target(&self) -> &std::path::Path {
        &self.target
    }

    /// Renames the written marker over the claimed file, leaving the flush
    /// of the folder to the caller. The caller holds the stream lock and
    /// has checked that the claimed file is still the one it renamed.
    pub(crate) fn commit_unflushed(mut self) -> Result<FolderFlush, Error> {
        // The old content is left under the marker's name and removed by
        // the flush, after the lock (see `atomic::replace_keeping_old`).
        // Until then the marker's name holds a file no one locks: a sweep
        // in between removes it, and finds the claim already written.
        let aside = super::atomic::replace_keeping_old(&self.marker, &self.target)?;
        self.committed = true;
        let dir = self.target.parent().map(PathBuf::from);
        Ok(FolderFlush::new(dir.filter(|_| self.fsync)).removing(aside))
    }
}

impl Drop for InFlightClaim {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.marker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_locked_regular_file_is_held_and_nothing_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("free"), b"").unwrap();
        let locked = File::create(path("locked")).unwrap();
        locked.lock().unwrap();
        // Opening a FIFO to read waits for a writer, unless told not to: a
        // file system that does not say an entry's type hands it here.
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            path("fifo"),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink(path("locked"), path("link")).unwrap();
        std::fs::create_dir(path("folder")).unwrap();

        assert!(is_held(&path("locked")));
        for name in ["free", "fifo", "link", "folder", "missing"] {
            assert!(!is_held(&path(name)), "{name}");
        }
        drop(locked);
        assert!(!is_held(&path("locked")), "released with its file");
    }
}
