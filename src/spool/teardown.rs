//! Removing a spool for `teardown`: only what SparkQ puts there.
//!
//! The spool's layout is known level by level (see the module map in
//! `spool`), so teardown deletes exactly the files and folders that fit
//! it and keeps anything else: a file a user parked in the spool, or a
//! symlink (never followed, never deleted through), is left where it is
//! and reported, and the folders holding it stay.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{Error, KEEP_FILE, Spool};
use crate::model::{Name, TaskStatus};

/// What removing a spool did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Removal {
    /// How many files were deleted.
    pub files: usize,
    /// Whether the spool folder itself is gone.
    pub root_removed: bool,
    /// Entries left alone because SparkQ did not create them.
    pub kept: Vec<PathBuf>,
}

/// A level of the spool's layout.
#[derive(Debug, Clone, Copy)]
enum Level {
    Root,
    Sessions,
    Streams,
    Stream,
    State,
    Batch,
}

impl Level {
    /// Whether a regular file named `name` at this level is SparkQ's.
    fn owns_file(self, name: &str) -> bool {
        let temp = name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".adopt"));
        // `<file>.json~<tag>`: a version a merge or copy left beside one.
        let extra = super::extra_of(name).is_some();
        temp || extra && !matches!(self, Level::Root | Level::Streams)
            || name == KEEP_FILE
            || match self {
                Level::Root => matches!(name, ".gitignore" | ".sparkq.lock") || name.ends_with(".lock"),
                Level::Sessions => name.ends_with(".json"),
                Level::Streams => false,
                Level::Stream => matches!(name, "stream.json" | ".lock"),
                // Task files, and files dropped in to become tasks.
                Level::State => name.ends_with(".json"),
                Level::Batch => name.ends_with(".json") || matches!(name, ".lock" | "PUBLISH"),
            }
    }

    /// The level of a folder named `name` inside this one, if it is SparkQ's.
    fn owns_dir(self, name: &str) -> Option<Level> {
        match self {
            Level::Root => match name {
                "sessions" => Some(Level::Sessions),
                "streams" => Some(Level::Streams),
                _ => None,
            },
            Level::Streams => Name::parse(name).ok().map(|_| Level::Stream),
            Level::Stream if super::is_batch_dir(name) => Some(Level::Batch),
            Level::Stream => TaskStatus::ALL
                .iter()
                .any(|s| super::state_dir(*s) == name)
                .then_some(Level::State),
            Level::Sessions | Level::State | Level::Batch => None,
        }
    }
}

impl Spool {
    /// Deletes the spool's own files and folders, keeping (and listing)
    /// anything SparkQ did not create.
    pub(crate) fn remove_own_files(&self) -> Result<Removal, Error> {
        let mut removal = Removal::default();
        match std::fs::symlink_metadata(self.root()) {
            Ok(meta) if meta.is_dir() => {
                removal.root_removed = clear(self.root(), Level::Root, &mut removal)?
            }
            // A spool that is a symlink (or anything but a folder) is not
            // entered: what it points to may hold anything.
            Ok(_) => removal.kept.push(self.root().to_owned()),
            Err(_) => {}
        }
        Ok(removal)
    }
}

/// Clears `dir` of what `level` owns; returns whether `dir` itself is gone.
fn clear(dir: &Path, level: Level, removal: &mut Removal) -> Result<bool, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        let path = entry.path();
        // `file_type` does not follow symlinks: a link is neither.
        let kind = entry.file_type().map_err(|e| Error::io(&path, "inspect", e))?;
        let name = entry.file_name();
        let name = name.to_str().unwrap_or("");
        if kind.is_dir()
            && let Some(inner) = level.owns_dir(name)
        {
            clear(&path, inner, removal)?;
        } else if kind.is_file() && level.owns_file(name) {
            match std::fs::remove_file(&path) {
                Ok(()) => removal.files += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, "remove", e)),
            }
        } else {
            removal.kept.push(path);
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => Ok(false),
        Err(e) => Err(Error::io(dir, "remove", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_layout_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spool");
        let outside = dir.path().join("precious");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "x").unwrap();
        let made = [
            ".gitignore",
            ".sparkq.lock",
            "sessions/s.json",
            "streams/a/stream.json",
            "streams/a/.lock",
            "streams/a/pending/tsk_1.json",
            "streams/a/pending/dropped.json",
            "streams/a/pending/.x.adopt",
            "streams/a/claimed/.keep",
            "streams/a/done/.tsk_2.json.tmp",
            "streams/a/.batch-x1.tmp/tsk_3.json",
            "streams/a/.batch-x1.tmp/.lock",
            "streams/a/stream.json~other",
            "streams/a/done/tsk_4.json~laptop",
        ];
        for file in made.iter().chain(&["notes.txt", "streams/a/done/report.pdf"]) {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::fs::create_dir_all(root.join("streams/a/mine")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("streams/a/failed")).unwrap();

        let removal = Spool::new(&root, false).remove_own_files().unwrap();
        assert_eq!(removal.files, made.len());
        assert!(!removal.root_removed);
        let mut kept: Vec<_> = removal
            .kept
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                "notes.txt",
                "streams/a/done/report.pdf",
                "streams/a/failed",
                "streams/a/mine"
            ]
        );
        assert!(outside.join("keep.txt").exists(), "a symlink is never followed");
        assert!(!root.join("sessions").exists(), "an emptied folder goes");

        for extra in &removal.kept {
            let _ = std::fs::remove_file(extra).or_else(|_| std::fs::remove_dir(extra));
        }
        let again = Spool::new(&root, false).remove_own_files().unwrap();
        assert!(again.root_removed && again.kept.is_empty(), "{again:?}");

        let link = dir.path().join("spool-link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let linked = Spool::new(&link, false).remove_own_files().unwrap();
        assert_eq!(linked.kept, [link]);
        assert!(
            outside.join("keep.txt").exists(),
            "a symlinked spool is not entered"
        );
    }
}
