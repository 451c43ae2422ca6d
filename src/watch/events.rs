//! File-system events about one stream, turned into wake-ups.
//!
//! A waiter watches the stream's `pending/` folder and the stream folder
//! itself (so a `pending/` that is deleted and recreated, as a git checkout
//! or rsync may do, is watched again), and a watcher also watches its done
//! flag and lock in the runtime folder. Events that cannot mean new work
//! never wake anyone: opens and reads are not even asked for (our own
//! claims read the stream, and must not wake our watching thread; see
//! `spool::watch_folders`), and dot files (temp files, `.lock`, `.adopt`)
//! are dropped here, whose renames into place do wake us.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Instant;

use super::{Error, Result};
use crate::model::TaskStatus;
use crate::queue::{Change, StreamPaths};
use crate::spool::{FolderWatch, TreeEvent, watch_folders};

/// Why a waiter was woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Something in `pending/` (or the stream file) changed.
    Pending,
    /// `pending/` itself was replaced and must be watched again.
    Rewatch,
    /// The done flag or the lock of this stream changed.
    Runtime,
    /// The process is shutting down.
    Stop,
}

/// What one wait saw, all queued wake-ups merged.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) pending: bool,
    pub(crate) runtime: bool,
    pub(crate) stop: bool,
}

/// Which runtime files a watcher cares about.
pub(crate) struct RuntimeWatch<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) names: Vec<String>,
}

/// The wake-ups of one stream: file-system events, plus whatever is sent
/// through [`Events::sender`] (a shutdown).
pub(crate) struct Events {
    watcher: FolderWatch,
    rx: Receiver<Wake>,
    tx: Sender<Wake>,
    paths: StreamPaths,
}

impl Events {
    /// Starts watching the stream's folder and its `pending/` (created if
    /// missing: git does not keep empty folders, and one cannot watch a
    /// folder that is not there), and the runtime files, if any.
    pub(crate) fn watch(
        stream: &str,
        paths: StreamPaths,
        runtime: Option<RuntimeWatch<'_>>,
        ignore_pending: bool,
    ) -> Result<Events> {
        let (stream_dir, pending_dir) = (&paths.stream_dir, &paths.pending_dir);
        std::fs::create_dir_all(pending_dir).map_err(|e| Error::io(pending_dir, "create folder", e))?;
        let (tx, rx) = channel();
        let filter = Filter {
            root: paths.root.clone(),
            stream: stream.to_owned(),
            runtime_dir: runtime.as_ref().map(|r| r.dir.to_owned()),
            runtime_names: runtime.as_ref().map(|r| r.names.clone()).unwrap_or_default(),
            ignore_pending,
        };
        let events_tx = tx.clone();
        let mut folders = vec![stream_dir.as_path(), pending_dir.as_path()];
        if let Some(runtime) = &runtime {
            folders.push(runtime.dir);
        }
        let watcher = watch_folders(&folders, move |event| {
            for wake in filter.classify(event) {
                let _ = events_tx.send(wake);
            }
        })
        .map_err(|e| Error::Notify {
            path: stream_dir.to_owned(),
            source: notify::Error::io(e),
        })?;
        Ok(Events {
            watcher,
            rx,
            tx,
            paths,
        })
    }

    /// A sender whose messages wake this waiter (for [`super::Shutdown`]).
    pub(crate) fn sender(&self) -> Sender<Wake> {
        self.tx.clone()
    }

    /// Blocks until a wake-up arrives or `deadline` passes, then takes
    /// every wake-up already queued, so a burst of events costs one look.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Result<Seen> {
        let mut seen = Seen::default();
        let timeout = deadline.saturating_duration_since(Instant::now());
        let first = match self.rx.recv_timeout(timeout) {
            Ok(wake) => wake,
            Err(RecvTimeoutError::Timeout) => return Ok(seen),
            // Unreachable while `self.tx` lives; treat it as a shutdown.
            Err(RecvTimeoutError::Disconnected) => Wake::Stop,
        };
        let mut rewatch = false;
        for wake in std::iter::once(first).chain(self.rx.try_iter()) {
            match wake {
                Wake::Pending => seen.pending = true,
                Wake::Rewatch => rewatch = true,
                Wake::Runtime => seen.runtime = true,
                Wake::Stop => seen.stop = true,
            }
        }
        if rewatch {
            seen.pending = true;
            // Recreate `pending/` only inside a stream that still exists: a
            // deleted stream's folder must stay gone (the look then stops).
            // `create_dir`, never `create_dir_all`: a stream folder deleted
            // between the check and here (`rm -r` takes `pending/` before
            // `stream.json`) must not be made again around an empty
            // `pending/`; then there is nothing to watch, and the look stops.
            let pending_dir = &self.paths.pending_dir;
            if self.paths.stream_file.exists() {
                match std::fs::create_dir(pending_dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
                    Err(e) => return Err(Error::io(pending_dir, "create folder", e)),
                }
                let watched = self.watcher.add(pending_dir);
                if let Err(e) = watched
                    && self.paths.stream_file.exists()
                {
                    return Err(Error::Notify {
                        path: pending_dir.clone(),
                        source: notify::Error::io(e),
                    });
                }
            }
        }
        Ok(seen)
    }
}

/// Decides which raw events are worth a wake-up.
struct Filter {
    /// The spool's root, which changed paths are read against.
    root: PathBuf,
    /// The stream waited on.
    stream: String,
    runtime_dir: Option<PathBuf>,
    runtime_names: Vec<String>,
    ignore_pending: bool,
}

impl Filter {
    /// The wake-ups `event` is worth (often none).
    fn classify(&self, event: TreeEvent<'_>) -> Vec<Wake> {
        match event {
            // Events were lost (an overflowed kernel queue, a watch that
            // broke): anything may have changed; look at everything again.
            TreeEvent::Lost => self
                .pending_wake(Wake::Pending)
                .into_iter()
                .chain([Wake::Runtime])
                .collect(),
            TreeEvent::Changed(path) => self.classify_path(path).into_iter().collect(),
        }
    }

    fn classify_path(&self, path: &Path) -> Option<Wake> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = path.parent();
        if path.starts_with(&self.root) {
            // Dot files (temp files, locks, adoptions in progress) are no
            // change: the rename that ends each of them is one of its own.
            let change = Change::of_path(&self.root, path)?;
            let stream = self.stream.as_str();
            if change.is_folder_of(stream, TaskStatus::Queued) {
                self.pending_wake(Wake::Rewatch)
            } else if change.is_entry_of(stream, TaskStatus::Queued) {
                self.pending_wake(Wake::Pending)
            } else if change
                == (Change::StreamFile {
                    stream: self.stream.clone(),
                })
            {
                Some(Wake::Pending)
            } else {
                None
            }
        } else if parent.is_some() && parent == self.runtime_dir.as_deref() {
            self.runtime_names
                .iter()
                .any(|n| n == name)
                .then_some(Wake::Runtime)
        } else {
            None
        }
    }

    fn pending_wake(&self, wake: Wake) -> Option<Wake> {
        (!self.ignore_pending).then_some(wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(ignore_pending: bool) -> Filter {
        Filter {
            root: PathBuf::from("/s"),
            stream: "a".to_owned(),
            runtime_dir: Some(PathBuf::from("/tmp")),
            runtime_names: vec!["sparkq-a-done".to_owned(), "sparkq-a.lock".to_owned()],
            ignore_pending,
        }
    }

    #[test]
    fn only_events_that_can_mean_work_wake() {
        // Changes only reach the filter: opens and reads are not asked for.
        let cases: [(&str, bool, &[Wake]); 11] = [
            ("/s/streams/a/pending/tsk_1.json", false, &[Wake::Pending]),
            ("/s/streams/a/pending/dropped.json", false, &[Wake::Pending]),
            ("/s/streams/a/pending/.tsk_1.json.tmp", false, &[]),
            ("/s/streams/a/pending", false, &[Wake::Rewatch]),
            ("/s/streams/a/.lock", false, &[]),
            ("/s/streams/b/pending/tsk_1.json", false, &[]),
            ("/s/streams/a/stream.json", false, &[Wake::Pending]),
            ("/tmp/sparkq-a-done", false, &[Wake::Runtime]),
            ("/tmp/sparkq-b-done", false, &[]),
            ("/s/streams/a/pending/tsk_1.json", true, &[]),
            ("/tmp/sparkq-a-done", true, &[Wake::Runtime]),
        ];
        for (path, ignore, expected) in cases {
            let path = PathBuf::from(path);
            assert_eq!(
                filter(ignore).classify(TreeEvent::Changed(&path)),
                expected,
                "{} ignore={ignore}",
                path.display()
            );
        }
    }

    #[test]
    fn lost_events_wake_everything() {
        assert_eq!(
            filter(false).classify(TreeEvent::Lost),
            [Wake::Pending, Wake::Runtime]
        );
    }
}
