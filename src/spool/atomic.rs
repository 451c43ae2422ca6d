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
            make_missing_folder(dir).map_err(|e| Error::io(dir, "create folder", e))?;
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
        Ok(FolderFlush::new(fsync.then_some(dir)))
    }

    /// Like [`Staged::commit_unflushed`], but the file replaced is freed
    /// only by the returned [`FolderFlush`] (see [`replace_keeping_old`]):
    /// for a caller that commits under a lock and flushes after it.
    pub(crate) fn commit_replacing(self) -> Result<FolderFlush, Error> {
        let Staged { temp, path, fsync } = self;
        let (file, temp_path) = temp.into_parts();
        drop(file);
        let aside = replace_keeping_old(&temp_path, &path)?;
        // Renamed away (or holding the old file, removed by the flush):
        // nothing of the temp file's own is left to remove.
        let _ = temp_path.keep();
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        Ok(FolderFlush::new(fsync.then_some(dir)).removing(aside))
    }
}

/// Renames `from` over `to`, but as an exchange of the two where the file
/// system can (`renameat2(RENAME_EXCHANGE)`): `to` gets the new file as
/// a rename would give it, and the old one is left under `from`'s name
/// (returned) instead of being freed at once. Freeing a file's blocks can
/// wait on the disk (a file system mounted with `discard` trims them then
/// and there), and the claim renames over a claimed file holding the stream
/// lock: the caller removes the old file after letting go of the lock. No
/// reader ever sees a file written in place either way; `from` is a temp
/// name that nothing reads. Where the exchange is not supported, or `to`
/// does not exist, a plain rename (`None`).
pub(crate) fn replace_keeping_old(from: &Path, to: &Path) -> Result<Option<PathBuf>, Error> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(Some(from.to_owned())),
            // ENOENT: nothing to replace (or `from` is gone, which the
            // rename below reports).
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOENT) => {}
            Err(e) => return Err(Error::io(to, "rename into place", e.into())),
        }
    }
    std::fs::rename(from, to).map_err(|e| Error::io(to, "rename into place", e))?;
    Ok(None)
}

/// A folder whose new entries still have to be flushed to disk (nothing to
/// do without fsync). Flush it before telling anyone the write is done.
///
/// It may also carry the old file a [`replace_keeping_old`] left under a
/// temp name, removed once the folder is flushed (or when it is dropped).
#[derive(Debug)]
#[must_use = "flush the folder before reporting the write as done"]
pub(crate) struct FolderFlush {
    dir: Option<PathBuf>,
    aside: Option<PathBuf>,
}

impl FolderFlush {
    /// A flush of `dir` (`None`: nothing to flush, fsync is off).
    pub(crate) fn new(dir: Option<PathBuf>) -> FolderFlush {
        FolderFlush { dir, aside: None }
    }

    /// The same flush, removing the temp file `aside` after it.
    pub(crate) fn removing(mut self, aside: Option<PathBuf>) -> FolderFlush {
        self.aside = aside;
        self
    }

    /// Flushes the folder's entries (with fsync; otherwise does nothing),
    /// then removes the old file put aside, if any.
    pub(crate) fn flush(mut self) -> Result<(), Error> {
        match self.dir.take() {
            Some(dir) => sync_dir(&dir),
            None => Ok(()),
        }
    }
}

impl Drop for FolderFlush {
    fn drop(&mut self) {
        if let Some(aside) = self.aside.take() {
            let _ = std::fs::remove_file(aside);
        }
    }
}

/// Creates `dir`, a folder git may have left out (it keeps no empty
/// folder: `done/`, `claimed/`), when it is missing; never the folders
/// above it. A stream deleted by `rm -r` while a process was about to
/// write into it must stay deleted: making its folder again around one
/// `.lock`, `done/` or task file would bring back a stream without its
/// `stream.json`. So a write into a folder whose parent is gone fails
/// (`NotFound`) and the caller reports the stream gone. Already there is
/// fine.
pub(crate) fn make_missing_folder(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacing_commit_frees_the_old_file_only_with_its_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, b"old").unwrap();
        let names = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };

        for fsync in [false, true] {
            let flush = stage(&path, b"new", fsync).unwrap().commit_replacing().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"new", "in place at once");
            if cfg!(target_os = "linux") {
                assert_eq!(
                    names().len(),
                    2,
                    "the old file kept under a temp name until the flush"
                );
            }
            flush.flush().unwrap();
            assert_eq!(names(), ["t.json"], "and nothing else left after the flush");
        }
        // Dropped unflushed (an error path): the old file goes too.
        drop(stage(&path, b"newer", false).unwrap().commit_replacing().unwrap());
        assert_eq!(names(), ["t.json"]);
        // Nothing to replace: a plain rename.
        let other = dir.path().join("u.json");
        stage(&other, b"first", false)
            .unwrap()
            .commit_replacing()
            .unwrap()
            .flush()
            .unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"first");
        assert_eq!(names(), ["t.json", "u.json"]);
    }
}
