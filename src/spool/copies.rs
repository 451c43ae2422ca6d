//! Finding every file that holds a copy of a task, a stream or a session,
//! for `doctor` and for the on-the-fly settling of merged spools.
//!
//! Besides `<state>/<id>.json`, a merge or a copy can leave *extra copies*
//! under a suffixed name: `<id>.json~HEAD` (git, when it must keep both
//! sides of a path) or `<id>.json~` (`rsync --backup`). They are copies of
//! the task like any other and are never adopted as dropped files. Anything
//! else that is not SparkQ's own is an *unknown file*: reported, never
//! touched.
//!
//! `.keep`: an empty file in each state folder so that git never sees a
//! state folder vanish. Without it, claiming the last pending task empties
//! `pending/`, git's directory-rename detection concludes `pending/` was
//! renamed to `claimed/`, and a task enqueued on the other side is merged
//! into `claimed/` as if it had been claimed.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{Error, Spool, state_dir, write_atomic};
use crate::model::{Name, TaskId, TaskStatus};

/// The folder of a stream where entries it could not read are set aside.
pub(super) const QUARANTINE_DIR: &str = "quarantine";

/// The placeholder that keeps a state folder tracked by git.
pub const KEEP_FILE: &str = ".keep";

/// One file holding a copy of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskFile {
    pub path: PathBuf,
    /// The state folder it is in.
    pub folder: TaskStatus,
    /// Whether it is an extra copy (`<id>.json~…`), not `<id>.json`.
    pub extra: bool,
}

/// The files of one stream, grouped by what they are.
#[derive(Debug, Default)]
pub(crate) struct StreamFiles {
    /// Every copy of every task, by id.
    pub tasks: BTreeMap<TaskId, Vec<TaskFile>>,
    /// `stream.json` variants left by a merge or copy (`stream.json~…`).
    pub stream_extras: Vec<PathBuf>,
    /// Files that are neither tasks, drops nor SparkQ's own.
    pub unknown: Vec<PathBuf>,
    /// State folders without their `.keep` file.
    pub missing_keep: Vec<PathBuf>,
}

impl StreamFiles {
    /// The ids that need settling: more than one copy, or an extra copy.
    pub(crate) fn tangled(&self) -> impl Iterator<Item = (&TaskId, &Vec<TaskFile>)> {
        self.tasks
            .iter()
            .filter(|(_, files)| files.len() > 1 || files.iter().any(|f| f.extra))
    }
}

/// The files of `sessions/`.
#[derive(Debug, Default)]
pub(crate) struct SessionFiles {
    pub plain: Vec<PathBuf>,
    pub extras: Vec<PathBuf>,
    pub unknown: Vec<PathBuf>,
}

/// The task id an extra copy's file name belongs to: `<id>.json~<anything>`.
pub(crate) fn extra_copy_id(name: &str) -> Option<TaskId> {
    let (stem, _) = name.split_once(".json~")?;
    TaskId::parse(stem)
}

/// The base name an extra copy of a JSON file belongs to (`stream.json~x`
/// → `stream.json`).
pub(crate) fn extra_of(name: &str) -> Option<&str> {
    name.split_once(".json~").map(|(stem, _)| &name[..stem.len() + 5])
}

impl Spool {
    /// Lists every file of `stream` and sorts it into tasks, extras and
    /// unknown files. Names only; nothing is read.
    pub(crate) fn stream_files(&self, stream: &Name) -> Result<StreamFiles, Error> {
        let mut files = StreamFiles::default();
        let dir = self.stream_dir(stream);
        let (listed, odd) = entries(&dir)?;
        files.unknown.extend(odd);
        for (name, is_dir) in listed {
            let known = name == "stream.json"
                || name.starts_with('.')
                || is_dir
                    && (name == QUARANTINE_DIR
                        || name == super::PURGED_DIR
                        || TaskStatus::ALL.iter().any(|s| state_dir(*s) == name));
            if extra_of(&name) == Some("stream.json") {
                files.stream_extras.push(dir.join(&name));
            } else if !known {
                files.unknown.push(dir.join(&name));
            }
        }
        for folder in TaskStatus::ALL {
            let state = self.state_path(stream, folder);
            let (listed, odd) = entries(&state)?;
            // In pending/, an entry that is not a regular file or has an odd
            // name is a drop that adoption sets aside (see `PendingScan`).
            if folder != TaskStatus::Queued {
                files.unknown.extend(odd);
            }
            if !listed.iter().any(|(n, _)| n == KEEP_FILE) {
                files.missing_keep.push(state.join(KEEP_FILE));
            }
            for (name, is_dir) in listed {
                if folder == TaskStatus::Queued && is_dir {
                    continue;
                }
                let plain = TaskId::from_file_name(&name);
                let extra = extra_copy_id(&name);
                if let Some(id) = plain.clone().or(extra) {
                    files.tasks.entry(id).or_default().push(TaskFile {
                        path: state.join(&name),
                        folder,
                        extra: plain.is_none(),
                    });
                } else if !name.starts_with('.') && (is_dir || folder != TaskStatus::Queued) {
                    files.unknown.push(state.join(&name));
                }
            }
        }
        Ok(files)
    }

    /// The files in `sessions/`: session files, versions left beside them
    /// by a merge or copy (`<name>.json~…`), and files that are neither.
    pub(crate) fn session_files(&self) -> Result<SessionFiles, Error> {
        let dir = self.sessions_dir();
        let mut files = SessionFiles::default();
        let (listed, odd) = entries(&dir)?;
        files.unknown.extend(odd);
        for (name, _) in listed {
            let is_session = |n: &str| n.strip_suffix(".json").is_some_and(|n| Name::parse(n).is_ok());
            if is_session(&name) {
                files.plain.push(dir.join(&name));
            } else if extra_of(&name).is_some_and(is_session) {
                files.extras.push(dir.join(&name));
            } else if !name.starts_with('.') {
                files.unknown.push(dir.join(&name));
            }
        }
        Ok(files)
    }

    /// Entries in `streams/` that are not streams: anything (folder, file,
    /// link, odd name) without a regular `stream.json` in it.
    pub(crate) fn orphan_stream_dirs(&self) -> Result<Vec<PathBuf>, Error> {
        let dir = self.streams_dir();
        let (listed, mut odd) = entries(&dir)?;
        odd.extend(
            listed
                .into_iter()
                .filter(|(name, _)| !name.starts_with('.'))
                .map(|(name, _)| dir.join(name))
                .filter(|d| {
                    let is_dir = std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir());
                    !is_dir || !super::meta::is_regular(&d.join("stream.json"))
                }),
        );
        Ok(odd)
    }

    /// Writes the empty `.keep` file at `path`.
    pub(crate) fn write_keep(&self, path: &Path) -> Result<(), Error> {
        write_atomic(path, b"", self.fsync)
    }
}

/// The exact bytes `value` is stored as (pretty JSON and a newline).
pub(crate) fn file_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    super::meta::to_json(value)
}

/// Moves a file, creating the target's folder if git dropped it.
pub(crate) fn move_file(from: &Path, to: &Path) -> Result<(), Error> {
    if let Some(dir) = to.parent() {
        super::make_missing_folder(dir).map_err(|e| Error::io(dir, "create folder", e))?;
    }
    std::fs::rename(from, to).map_err(|e| Error::io(from, "move", e))
}

/// Removes a file; `false` if it was already gone.
pub(crate) fn remove_file(path: &Path) -> Result<bool, Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}

/// A folder's listing: the UTF-8 names with whether each is not a regular
/// file (a folder, a link, a FIFO), and the paths of entries whose names
/// are not UTF-8.
type Listing = (Vec<(String, bool)>, Vec<PathBuf>);

/// Lists `dir`, sorted; a missing folder is empty.
fn entries(dir: &Path) -> Result<Listing, Error> {
    let mut names = Vec::new();
    let mut odd = Vec::new();
    super::listing::for_each_entry(dir, |name, kind| match name.to_str() {
        Some(name) => names.push((name.to_owned(), kind.is_some())),
        None => odd.push(dir.join(name)),
    })?;
    names.sort();
    odd.sort();
    Ok((names, odd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_copies_are_recognised_by_name() {
        let id = "tsk_1k14ysbmx2tb4rqnvkk";
        for (name, want) in [
            (format!("{id}.json~HEAD"), true),
            (format!("{id}.json~"), true),
            (format!("{id}.json"), false),
            ("notes.json~".to_owned(), false),
        ] {
            assert_eq!(extra_copy_id(&name).is_some(), want, "{name}");
        }
        assert_eq!(extra_of("stream.json~theirs"), Some("stream.json"));
        assert_eq!(extra_of("stream.json"), None);
    }
}
