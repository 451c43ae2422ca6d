//! What a changed path in the spool is, for whoever watches the spool's
//! files (the server's live feed, a stream's waiter): one reading of the
//! layout, so that no watcher builds or parses spool paths by hand.

use std::path::{Component, Path, PathBuf};

use super::{Spool, state_dir};
use crate::model::{Name, TaskStatus};

/// A changed path in the spool, by what it holds. Temporary files, locks
/// and anything inside a hidden folder (a batch being staged) are not
/// content yet and are no change at all: the rename that ends each of them
/// is a change of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The sessions folder or a session's file.
    Session,
    /// A stream's own file, `stream.json`.
    StreamFile { stream: String },
    /// A stream's folder, or a folder in it (`entry`): a state folder
    /// itself, created, removed or replaced.
    StreamFolder { stream: String, entry: Option<String> },
    /// An entry of one of a stream's folders (`folder`, e.g. `pending`): a
    /// task file, or a file dropped in.
    Entry {
        stream: String,
        folder: String,
        name: String,
    },
}

impl Change {
    /// Reads `path`, a path inside the spool at `root` (or relative to it);
    /// `None` if it is no spool content (see [`Change`]).
    pub fn of_path(root: &Path, path: &Path) -> Option<Change> {
        let relative = path.strip_prefix(root).unwrap_or(path);
        let parts: Vec<&str> = relative
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        if parts.iter().any(|name| name.starts_with('.')) {
            return None;
        }
        let owned = |s: &str| s.to_owned();
        match parts.as_slice() {
            ["sessions", ..] => Some(Change::Session),
            ["streams", stream, "stream.json"] => Some(Change::StreamFile {
                stream: owned(stream),
            }),
            ["streams", stream] => Some(Change::StreamFolder {
                stream: owned(stream),
                entry: None,
            }),
            ["streams", stream, entry] => Some(Change::StreamFolder {
                stream: owned(stream),
                entry: Some(owned(entry)),
            }),
            ["streams", stream, folder, name] => Some(Change::Entry {
                stream: owned(stream),
                folder: owned(folder),
                name: owned(name),
            }),
            _ => None,
        }
    }

    /// The stream the change is in, if any.
    pub fn stream(&self) -> Option<&str> {
        match self {
            Change::Session => None,
            Change::StreamFile { stream }
            | Change::StreamFolder { stream, .. }
            | Change::Entry { stream, .. } => Some(stream),
        }
    }

    /// Whether this is an entry of `stream`'s `status` folder: a task file
    /// there, or (in `pending/`) a file dropped in.
    pub fn is_entry_of(&self, stream: &str, status: TaskStatus) -> bool {
        matches!(self, Change::Entry { stream: s, folder, .. } if s == stream && folder == state_dir(status))
    }

    /// Whether this is `stream`'s `status` folder itself: created, removed
    /// or replaced (a git checkout or rsync may swap it), so a watch on it
    /// must be set again.
    pub fn is_folder_of(&self, stream: &str, status: TaskStatus) -> bool {
        matches!(self, Change::StreamFolder { stream: s, entry: Some(e) } if s == stream && e == state_dir(status))
    }
}

/// The paths a waiter on one stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPaths {
    /// The spool's root, which changed paths are read against
    /// ([`Change::of_path`]).
    pub root: PathBuf,
    /// The stream's folder.
    pub stream_dir: PathBuf,
    /// Its `pending/` folder.
    pub pending_dir: PathBuf,
    /// Its `stream.json`: while it exists, the stream does.
    pub stream_file: PathBuf,
}

impl Spool {
    /// The paths a waiter on `stream` watches.
    pub(crate) fn stream_paths(&self, stream: &Name) -> StreamPaths {
        StreamPaths {
            root: self.root().to_owned(),
            stream_dir: self.stream_dir(stream),
            pending_dir: self.state_path(stream, TaskStatus::Queued),
            stream_file: self.stream_file(stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_of_spool_path() {
        let root = Path::new("/p/spool");
        let entry = |folder: &str, name: &str| Change::Entry {
            stream: "a".into(),
            folder: folder.into(),
            name: name.into(),
        };
        let folder = |entry: Option<&str>| Change::StreamFolder {
            stream: "a".into(),
            entry: entry.map(str::to_owned),
        };
        let cases = [
            ("/p/spool/sessions/s1.json", Some(Change::Session)),
            ("sessions", Some(Change::Session)),
            (
                "/p/spool/streams/a/stream.json",
                Some(Change::StreamFile { stream: "a".into() }),
            ),
            ("/p/spool/streams/a", Some(folder(None))),
            ("/p/spool/streams/a/pending", Some(folder(Some("pending")))),
            (
                "/p/spool/streams/a/pending/tsk_1.json",
                Some(entry("pending", "tsk_1.json")),
            ),
            (
                "/p/spool/streams/a/pending/dropped.txt",
                Some(entry("pending", "dropped.txt")),
            ),
            (
                "/p/spool/streams/a/done/tsk_1.json",
                Some(entry("done", "tsk_1.json")),
            ),
            ("/p/spool/streams/a/pending/.tsk_1.json.tmp", None),
            ("/p/spool/streams/a/pending/.tsk_1.adopt", None),
            ("/p/spool/streams/a/.lock", None),
            ("/p/spool/streams/a/.new-1/tsk_1.json", None),
            ("/p/spool/.sparkq.lock", None),
            ("/p/spool/streams", None),
            ("/p/spool/streams/a/pending/x/y", None),
        ];
        for (path, expected) in cases {
            assert_eq!(Change::of_path(root, Path::new(path)), expected, "{path}");
        }
    }

    #[test]
    fn says_whose_pending_folder_and_entries_a_change_is() {
        let root = Path::new("/r");
        let change = |p: &str| Change::of_path(root, Path::new(p)).expect("content");
        let pending = TaskStatus::Queued;
        assert!(change("/r/streams/a/pending/x.json").is_entry_of("a", pending));
        assert!(!change("/r/streams/b/pending/x.json").is_entry_of("a", pending));
        assert!(!change("/r/streams/a/claimed/x.json").is_entry_of("a", pending));
        assert!(change("/r/streams/a/pending").is_folder_of("a", pending));
        assert!(!change("/r/streams/a/pending").is_entry_of("a", pending));
        assert!(!change("/r/streams/a").is_folder_of("a", pending));
        assert_eq!(change("/r/streams/a/stream.json").stream(), Some("a"));
        assert_eq!(change("/r/sessions/s.json").stream(), None);
    }
}
