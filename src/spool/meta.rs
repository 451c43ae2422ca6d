//! Session and stream files: `sessions/<name>.json`, `streams/<name>/stream.json`.

use std::io::ErrorKind;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Error, Foreign, Spool, StreamLock, state_dir, write_atomic};
use crate::model::{Name, Session, Stream, TaskStatus};

impl Spool {
    /// The session named `name`, if it exists.
    pub(crate) fn read_session(&self, name: &Name) -> Result<Option<Session>, Error> {
        self.read_json(&self.session_path(name), "session file")
    }

    /// Writes (replaces) a session file.
    pub(crate) fn write_session(&self, session: &Session) -> Result<(), Error> {
        write_atomic(&self.session_path(&session.name), &to_json(session), self.fsync)
    }

    /// Creates a session file; fails with [`Error::AlreadyExists`] if one
    /// exists, even when another process creates it at the same moment.
    pub(crate) fn create_session(&self, session: &Session) -> Result<(), Error> {
        let dir = self.sessions_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create folder", e))?;
        let path = self.session_path(&session.name);
        let mut temp = super::atomic::temp_builder()
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, "create a temp file in", e))?;
        std::io::Write::write_all(&mut temp, &to_json(session)).map_err(|e| Error::io(&path, "write", e))?;
        match temp.persist_noclobber(&path) {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => Err(Error::AlreadyExists { path }),
            Err(e) => Err(Error::io(&path, "create", e.error)),
        }
    }

    /// Every session, by name.
    pub(crate) fn list_sessions(&self) -> Result<Vec<Session>, Error> {
        let mut sessions = Vec::new();
        for name in list_names(&self.sessions_dir(), Some(".json"))? {
            match self.read_session(&name) {
                Ok(Some(session)) => sessions.push(session),
                Ok(None) => {}
                // A link or a FIFO in sessions/ is not a session: `doctor`
                // reports it; it must not hide the real ones.
                Err(Error::Foreign { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sessions)
    }

    /// The stream named `name`, if it exists. A stream folder that is a
    /// link is no stream: following it would read and move another
    /// folder's files (`doctor` reports it).
    pub(crate) fn read_stream(&self, name: &Name) -> Result<Option<Stream>, Error> {
        let dir = self.stream_dir(name);
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return Ok(None);
        }
        self.read_json(&dir.join("stream.json"), "stream file")
    }

    /// [`Spool::read_stream`] for a long-lived process: the last reading
    /// of each `stream.json` is kept in `cache` and handed out again while
    /// the file is provably the same, checked with two `lstat`s (the stream
    /// folder, still no link, and the file) instead of the five calls of a
    /// read. See [`StreamCache`] for why the check is enough.
    pub(crate) fn read_stream_cached(
        &self,
        name: &Name,
        cache: &StreamCache,
    ) -> Result<Option<Stream>, Error> {
        let dir = self.stream_dir(name);
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return Ok(None);
        }
        let path = dir.join("stream.json");
        // Taken before the read: if the file changes in between, the key is
        // older than the content, which only costs one more read later.
        let key = match std::fs::symlink_metadata(&path) {
            Ok(meta) => FileKey::of(&meta),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                cache.forget(name);
                return Ok(None);
            }
            Err(e) => return Err(Error::io(&path, "look up", e)),
        };
        if let Some(stream) = cache.get(name, &key) {
            return Ok(Some(stream));
        }
        let stream: Option<Stream> = self.read_json(&path, "stream file")?;
        match (&stream, key) {
            (Some(stream), Some(key)) => cache.keep(name, key, stream),
            _ => cache.forget(name),
        }
        Ok(stream)
    }

    /// Writes (replaces) a stream's `stream.json`.
    pub(crate) fn write_stream(&self, stream: &Stream) -> Result<(), Error> {
        let path = self.stream_dir(&stream.name).join("stream.json");
        write_atomic(&path, &to_json(stream), self.fsync)
    }

    /// Creates a stream's folder with its state folders and `stream.json`,
    /// all at once: it is built under a temp name and renamed into place, so
    /// a stream either exists whole or not at all, and two concurrent
    /// creators cannot both succeed.
    pub(crate) fn create_stream(&self, stream: &Stream) -> Result<(), Error> {
        let streams = self.streams_dir();
        std::fs::create_dir_all(&streams).map_err(|e| Error::io(&streams, "create folder", e))?;
        let target = self.stream_dir(&stream.name);
        if std::fs::symlink_metadata(target.join("stream.json")).is_ok() {
            return Err(Error::AlreadyExists { path: target });
        }
        let temp = tempfile::Builder::new()
            .prefix(&format!(".new-{}-", stream.name))
            .tempdir_in(&streams)
            .map_err(|e| Error::io(&streams, "create a temp folder in", e))?;
        for status in TaskStatus::ALL {
            let dir = temp.path().join(state_dir(status));
            std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, "create folder", e))?;
            write_atomic(&dir.join(super::KEEP_FILE), b"", self.fsync)?;
        }
        write_atomic(&temp.path().join("stream.json"), &to_json(stream), self.fsync)?;
        let built = temp.keep();
        match std::fs::rename(&built, &target) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&built);
                if matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty) {
                    Err(Error::AlreadyExists { path: target })
                } else {
                    Err(Error::io(&target, "create", e))
                }
            }
        }
    }

    /// The names of all streams that have a `stream.json`, sorted.
    pub(crate) fn stream_names(&self) -> Result<Vec<Name>, Error> {
        let names = list_names(&self.streams_dir(), None)?;
        Ok(names
            .into_iter()
            .filter(|n| is_regular(&self.stream_dir(n).join("stream.json")))
            .collect())
    }

    /// Takes the stream's lock, blocking until it is free.
    pub(crate) fn lock_stream(&self, stream: &Name) -> Result<StreamLock, Error> {
        let dir = self.stream_dir(stream);
        let path = dir.join(".lock");
        let acquire = || match &self.lock_files {
            Some(kept) => StreamLock::acquire_kept(&path, kept),
            None => StreamLock::acquire(&path),
        };
        match acquire() {
            // The stream's folder is gone (deleted while this process was
            // about to change the stream): it stays gone, see
            // `make_missing_folder`.
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Err(Error::io(
                &dir,
                "lock the stream (its folder was deleted)",
                source,
            )),
            other => other,
        }
    }

    fn session_path(&self, name: &Name) -> std::path::PathBuf {
        self.sessions_dir().join(format!("{name}.json"))
    }
}

/// Pretty JSON with a trailing newline, as every spool file is written.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("spool types always serialize");
    bytes.push(b'\n');
    bytes
}

/// Whether `path` is a regular file, not following a link.
pub(crate) fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

impl Spool {
    fn read_json<T: DeserializeOwned>(&self, path: &Path, what: &'static str) -> Result<Option<T>, Error> {
        let Some(bytes) = self.read_bytes(path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.to_owned(),
                what,
                message: e.to_string(),
            })
    }
}

/// Valid names in `dir`, sorted; a missing folder has none. With a
/// `suffix` (session files), regular files named `<name><suffix>`; without
/// (stream folders), real folders, never links to folders elsewhere.
fn list_names(dir: &Path, suffix: Option<&str>) -> Result<Vec<Name>, Error> {
    let mut names = Vec::new();
    super::listing::for_each_entry(dir, |file_name, kind| {
        let Some(file_name) = file_name.to_str() else {
            return;
        };
        let stem = match suffix {
            Some(suffix) if kind.is_none() => file_name.strip_suffix(suffix),
            // Where the file system gives no type, ask (never following).
            None if kind == Some(Foreign::Directory)
                || kind.is_none()
                    && std::fs::symlink_metadata(dir.join(file_name)).is_ok_and(|m| m.is_dir()) =>
            {
                Some(file_name)
            }
            _ => None,
        };
        if let Some(name) = stem.and_then(|s| Name::parse(s).ok()) {
            names.push(name);
        }
    })?;
    names.sort();
    Ok(names)
}

/// The streams' own files (`stream.json`) as a long-lived process last
/// read them, each with the [`FileKey`] it had (see
/// [`Spool::read_stream_cached`]).
///
/// **Invariant: a kept stream is handed out only while its file is the one
/// that was read.** Every change to a file, in place or by renaming
/// another over it, sets its change time (`ctime`, which no user can set)
/// to the current time, and a replacement is another inode. So a file
/// whose device, inode, size, modification and change times all still
/// match was not changed since, provided it had not changed within one
/// tick of the file system's clock before it was read (a second write in
/// the same tick can keep all the times): a file younger than
/// [`YOUNG_FILE`] is never kept.
#[derive(Debug, Default)]
pub(crate) struct StreamCache(std::sync::Mutex<std::collections::HashMap<Name, (FileKey, Stream)>>);

/// Longer than a file system's clock tick for file times (a jiffy, at most
/// 10 ms on Linux), with room to spare.
const YOUNG_FILE: std::time::Duration = std::time::Duration::from_millis(50);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    /// The key of a regular file old enough to be kept (see
    /// [`StreamCache`]); `None` otherwise.
    fn of(meta: &std::fs::Metadata) -> Option<FileKey> {
        use std::os::unix::fs::MetadataExt;
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                u64::try_from(meta.ctime()).ok()?,
                u32::try_from(meta.ctime_nsec()).ok()?,
            );
        let settled = std::time::SystemTime::now()
            .duration_since(changed)
            .is_ok_and(|age| age > YOUNG_FILE);
        (meta.is_file() && settled).then(|| FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl StreamCache {
    fn get(&self, name: &Name, key: &Option<FileKey>) -> Option<Stream> {
        let key = key.as_ref()?;
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(name)
            .filter(|(kept, _)| kept == key)
            .map(|(_, s)| s.clone())
    }

    fn keep(&self, name: &Name, key: FileKey, stream: &Stream) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(name.clone(), (key, stream.clone()));
    }

    fn forget(&self, name: &Name) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(name);
    }
}
