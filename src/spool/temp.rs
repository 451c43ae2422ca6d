//! Temp files a killed writer left behind: `.<random>.tmp` (an atomic
//! write that never reached its rename) and `.new-<stream>-<random>/` (a
//! stream being built). Nothing reads them and git ignores them, but they
//! pile up, so they are listed here and removed once they are old.
//!
//! Invariant: only names SparkQ's own writers use are ever removed, and
//! only when older than [`STALE_TEMP_AGE`], far longer than any write
//! takes, so a temp file still being written is never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Error, Spool, state_dir};
use crate::model::TaskStatus;

/// A temp file untouched for this long belongs to a writer that stopped.
pub(crate) const STALE_TEMP_AGE: Duration = Duration::from_secs(5 * 60);

/// A temp file or folder and when it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TempFile {
    pub path: PathBuf,
    pub modified: SystemTime,
}

impl TempFile {
    /// Whether it is older than [`STALE_TEMP_AGE`].
    pub(crate) fn is_stale(&self) -> bool {
        self.modified.elapsed().is_ok_and(|age| age > STALE_TEMP_AGE)
    }
}

/// Whether `name` is one SparkQ's writers give their temp files.
pub(super) fn is_temp_name(name: &str) -> bool {
    name.starts_with(".new-")
        || name.len() > ".tmp".len() + 1 && name.starts_with('.') && name.ends_with(".tmp")
}

impl Spool {
    /// Every temp file in the spool's folders (root, `sessions/`,
    /// `streams/`, each stream and its state folders), whatever its age.
    pub(crate) fn temp_files(&self) -> Result<Vec<TempFile>, Error> {
        let mut dirs = vec![self.root.clone(), self.sessions_dir(), self.streams_dir()];
        for stream in self.stream_names()? {
            let dir = self.stream_dir(&stream);
            dirs.extend(TaskStatus::ALL.iter().map(|s| dir.join(state_dir(*s))));
            dirs.push(dir);
        }
        let mut found = Vec::new();
        for dir in dirs {
            super::listing::for_each_entry(&dir, |name, kind| {
                // Only SparkQ's own kinds: a stream being built is a folder,
                // a write in progress a file. A folder named `.x.tmp` is not
                // ours to remove.
                let ours = |n: &&str| match kind {
                    Some(super::Foreign::Directory) => n.starts_with(".new-"),
                    _ => is_temp_name(n) && !n.starts_with(".new-"),
                };
                if let Some(name) = name.to_str().filter(ours) {
                    let path = dir.join(name);
                    if let Ok(meta) = std::fs::symlink_metadata(&path) {
                        let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
                        found.push(TempFile { path, modified });
                    }
                }
            })?;
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Removes one temp file or folder (a link is removed, never
    /// followed); `false` if it was already gone.
    pub(crate) fn remove_temp(&self, path: &Path) -> Result<bool, Error> {
        let removed = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
            Ok(_) => std::fs::remove_file(path),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path, "remove", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_temp_name;

    #[test]
    fn only_sparkq_temp_names_count() {
        for (name, want) in [
            (".tsk_1.json.Ab12.tmp", true),
            (".x.tmp", true),
            (".new-a-Xy12", true),
            (".tmp", false),
            ("x.tmp", false),
            (".keep", false),
            (".lock", false),
            (".tsk_1.adopt", false),
            ("tsk_1.json", false),
        ] {
            assert_eq!(is_temp_name(name), want, "{name}");
        }
    }
}
