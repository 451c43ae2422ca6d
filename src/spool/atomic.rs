//! Atomic file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Error;

/// Similar to `fs::write`, but atomic: the bytes go to a `.`-prefixed temp
/// file beside `path` and are renamed over it, so no reader ever sees a
/// half-written file and a crash leaves either the old file or the new one.
///
/// With `fsync`, the temp file is flushed before the rename and the folder
/// after it, so the write also survives a power loss. Missing parent
/// folders are created (git does not track empty folders).
pub fn write_atomic(path: &Path, bytes: &[u8], fsync: bool) -> Result<(), Error> {
    stage(path, bytes, fsync)?.commit()
}

/// The first half of [`write_atomic`]: the bytes are written (and, with
/// `fsync`, flushed) to a temp file beside `path`, not yet visible under
/// its name. Lets a caller do the slow part before taking a lock.
pub(crate) fn stage(path: &Path, bytes: &[u8], fsync: bool) -> Result<Staged, Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = match temp_in(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create folder", e))?;
            temp_in(dir)
        }
        other => other,
    }
    .map_err(|e| Error::io(dir, "create a temp file in", e))?;
    temp.write_all(bytes)
        .map_err(|e| Error::io(temp.path(), "write", e))?;
    if fsync {
        temp.as_file()
            .sync_data()
            .map_err(|e| Error::io(temp.path(), "flush", e))?;
    }
    Ok(Staged {
        temp,
        path: path.to_owned(),
        fsync,
    })
}

/// A write [`stage`] prepared; [`Staged::commit`] puts it in place, and
/// dropping it instead removes the temp file.
#[derive(Debug)]
pub(crate) struct Staged {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
    fsync: bool,
}

impl Staged {
    /// The second half of [`write_atomic`]: renames the staged file over its
    /// target and, with `fsync`, flushes the folder.
    pub(crate) fn commit(self) -> Result<(), Error> {
        self.commit_unflushed()?.flush()
    }

    /// Like [`Staged::commit`], but the folder flush is left to the returned
    /// [`FolderFlush`], so a caller can release a lock before waiting on the
    /// disk. The file is in place and its bytes are durable either way;
    /// until the flush, a power loss may undo the rename.
    pub(crate) fn commit_unflushed(self) -> Result<FolderFlush, Error> {
        let Staged { temp, path, fsync } = self;
        temp.persist(&path)
            .map_err(|e| Error::io(&path, "rename into place", e.error))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        Ok(FolderFlush {
            dir: fsync.then_some(dir),
        })
    }
}

/// A folder whose new entries still have to be flushed to disk (nothing to
/// do without fsync). Flush it before telling anyone the write is done.
#[derive(Debug)]
#[must_use = "flush the folder before reporting the write as done"]
pub(crate) struct FolderFlush {
    dir: Option<PathBuf>,
}

impl FolderFlush {
    /// A flush of `dir` (`None`: nothing to flush, fsync is off).
    pub(crate) fn new(dir: Option<PathBuf>) -> FolderFlush {
        FolderFlush { dir }
    }

    /// Flushes the folder's entries (with fsync; otherwise does nothing).
    pub(crate) fn flush(self) -> Result<(), Error> {
        match &self.dir {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }
}

fn temp_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    temp_builder().tempfile_in(dir)
}

/// Flushes a folder's entries (a rename or unlink in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "flush folder", e))
}

/// Temp files for spool writes: `.`-prefixed, `.tmp`-suffixed, and created
/// with mode 0666 less the umask like any other file (tempfile's own default
/// of 0600 would hide tasks from the user's other tools and groups).
pub(crate) fn temp_builder() -> tempfile::Builder<'static, 'static> {
    use std::os::unix::fs::PermissionsExt;
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(".")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666));
    builder
}
