//! Batches: many new tasks that appear in `pending/` all together or not at
//! all, even across `kill -9`.
//!
//! **Invariant: a batch is published whole or not at all.** It is staged in
//! one hidden folder inside its stream, `streams/<s>/.batch-<random>.tmp/`
//! (the spool's `.gitignore` covers `.*.tmp`; listings and adoption only
//! look inside the state folders), which holds a `.lock` file locked by the
//! writer for as long as it lives, and one `<id>.json` per task. The commit
//! point is the `PUBLISH` marker: written (and flushed) only after every
//! task file is, it turns the folder from "to be discarded" into "to be
//! published". Then each file is renamed into `pending/`, and the folder
//! removed.
//!
//! The folder is born as `.new-batch-<random>` (also ignored by git) and
//! gets its `.batch-…tmp` name only once its writer holds the lock, so a
//! `.batch-…tmp` folder without a held lock always means a dead writer.
//!
//! [`Spool::recover_batches`], run by every look at the stream (under the
//! stream lock, so recoverers never race each other) and by `doctor
//! --fix`, finishes such a folder: with the marker, the files still staged
//! are renamed into `pending/`; without it, the folder is deleted. A folder
//! whose lock is held belongs to a live writer and is left alone. A
//! `.new-batch-` folder older than a minute was abandoned while being set
//! up, and is deleted.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::atomic::{sync_dir, write_atomic};
use super::meta::to_json;
use super::{Error, Spool};
use crate::model::{Name, Task, TaskId, TaskStatus};

/// The marker that commits a staged batch.
const PUBLISH_MARKER: &str = "PUBLISH";

/// The lock file a batch's writer holds.
const BATCH_LOCK: &str = ".lock";

/// The name prefix of a staging folder being set up.
const NEW_PREFIX: &str = ".new-batch-";

/// How long a folder may take to be set up (created, locked, renamed)
/// before recovery takes it for abandoned.
const SETUP_GRACE: Duration = Duration::from_secs(60);

/// Whether `name` (an entry of a stream folder) is a batch staging folder,
/// set up or being set up.
pub(crate) fn is_batch_dir(name: &str) -> bool {
    name.starts_with(".batch-") && name.ends_with(".tmp") || name.starts_with(NEW_PREFIX)
}

/// What recovering one abandoned batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// It had reached its commit point: this many tasks were published.
    Published(usize),
    /// It had not: this many staged tasks were discarded.
    Discarded(usize),
}

/// A batch staged in its folder, not yet visible. Dropping it without
/// [`StagedBatch::publish`] discards it.
#[derive(Debug)]
pub(crate) struct StagedBatch {
    dir: PathBuf,
    pending: PathBuf,
    ids: Vec<TaskId>,
    fsync: bool,
    _lock: File,
    published: bool,
}

impl Spool {
    /// Writes `tasks` (all of one stream, all queued) into a new staging
    /// folder of `stream`.
    pub(crate) fn stage_batch(&self, stream: &Name, tasks: &[Task]) -> Result<StagedBatch, Error> {
        let stream_dir = self.stream_dir(stream);
        let new = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .tempdir_in(&stream_dir)
            .map_err(|e| Error::io(&stream_dir, "create a batch folder in", e))?
            .keep();
        let random = new
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(NEW_PREFIX))
            .unwrap_or("0")
            .to_owned();
        let dir = stream_dir.join(format!(".batch-{random}.tmp"));
        let lock_path = new.join(BATCH_LOCK);
        let locked = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|file| file.lock().map(|()| file))
            .and_then(|file| std::fs::rename(&new, &dir).map(|()| file));
        let mut staged = match locked {
            Ok(lock) => StagedBatch {
                dir,
                pending: self.state_path(stream, TaskStatus::Queued),
                ids: Vec::with_capacity(tasks.len()),
                fsync: self.fsync,
                _lock: lock,
                published: false,
            },
            Err(e) => {
                let _ = std::fs::remove_dir_all(&new);
                return Err(Error::io(&lock_path, "set up", e));
            }
        };
        // Written in place, without temp files: nothing in the folder is
        // trusted until the marker says every file is complete.
        for task in tasks {
            let path = staged.dir.join(task.id.file_name());
            let mut file = File::create(&path).map_err(|e| Error::io(&path, "create", e))?;
            file.write_all(&to_json(task))
                .map_err(|e| Error::io(&path, "write", e))?;
            if self.fsync {
                file.sync_data().map_err(|e| Error::io(&path, "flush", e))?;
            }
            staged.ids.push(task.id.clone());
        }
        Ok(staged)
    }

    /// Finishes or discards every batch of `stream` whose writer is gone;
    /// call it holding the stream lock.
    pub(crate) fn recover_batches(&self, stream: &Name) -> Result<Vec<Recovered>, Error> {
        self.recover_batches_left(stream).map(|(recovered, _)| recovered)
    }

    /// Like [`Spool::recover_batches`]; the flag says whether a batch
    /// folder is left that this call did not finish (its writer still
    /// holds it, or is still setting it up), so a later look must list the
    /// folder again.
    pub(crate) fn recover_batches_left(&self, stream: &Name) -> Result<(Vec<Recovered>, bool), Error> {
        let stream_dir = self.stream_dir(stream);
        let entries = match std::fs::read_dir(&stream_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok((Vec::new(), false)),
            Err(e) => return Err(Error::io(&stream_dir, "list", e)),
        };
        let mut recovered = Vec::new();
        let mut left = false;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&stream_dir, "list", e))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && entry.file_name().to_str().is_some_and(is_batch_dir) {
                let pending = self.state_path(stream, TaskStatus::Queued);
                match recover_one(&entry.path(), &pending, self.fsync)? {
                    Some(done) => recovered.push(done),
                    None => left = true,
                }
            }
        }
        Ok((recovered, left))
    }
}

impl StagedBatch {
    /// Commits the batch and moves every task into `pending/`. An error
    /// means nothing was committed. Once the marker is written the batch
    /// is queued: if moving a file then fails, the folder is left for the
    /// next look at the stream to finish (see [`Spool::recover_batches`]),
    /// which it does as soon as this writer lets go of it.
    pub(crate) fn publish(mut self) -> Result<(), Error> {
        // With fsync, each staged file's bytes were flushed as it was
        // written, and writing the marker flushes the folder's entries
        // (theirs and its own): the marker is never durable before them.
        write_atomic(&self.dir.join(PUBLISH_MARKER), b"", self.fsync)?;
        self.published = true;
        let moved = self
            .ids
            .iter()
            .try_for_each(|id| move_into(&self.dir.join(id.file_name()), &self.pending.join(id.file_name())));
        // The folder (and its marker) goes only once the moves are durable.
        if moved.is_ok() && (!self.fsync || sync_dir(&self.pending).is_ok()) {
            let _ = remove_batch_dir(&self.dir);
        }
        Ok(())
    }
}

impl Drop for StagedBatch {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Recovers one staging folder, unless its writer still holds it. The
/// caller holds the stream lock.
fn recover_one(dir: &Path, pending: &Path, fsync: bool) -> Result<Option<Recovered>, Error> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with(NEW_PREFIX) {
        let age = std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default())
            .unwrap_or_default();
        if age < SETUP_GRACE {
            return Ok(None);
        }
        let staged = count_staged(dir)?;
        remove_batch_dir(dir)?;
        return Ok(Some(Recovered::Discarded(staged)));
    }
    // A missing lock file means a recovery died while removing the folder:
    // its writer is gone too.
    let lock_path = dir.join(BATCH_LOCK);
    // Never through a link, never blocking on a FIFO planted there.
    let no_follow = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let _lock = match File::options()
        .write(true)
        .custom_flags(no_follow)
        .open(&lock_path)
    {
        Ok(file) => match file.try_lock() {
            Ok(()) => Some(file),
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, "lock", e)),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&lock_path, "open", e)),
    };
    if !dir.join(PUBLISH_MARKER).exists() {
        let staged = count_staged(dir)?;
        remove_batch_dir(dir)?;
        return Ok(Some(Recovered::Discarded(staged)));
    }
    let mut names = staged_names(dir)?;
    names.sort();
    for name in &names {
        move_into(&dir.join(name), &pending.join(name))?;
    }
    if fsync {
        sync_dir(pending)?;
    }
    remove_batch_dir(dir)?;
    Ok(Some(Recovered::Published(names.len())))
}

/// The task files staged in `dir`.
fn staged_names(dir: &Path) -> Result<Vec<String>, Error> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "list", e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| TaskId::from_file_name(name).is_some())
        .collect())
}

fn count_staged(dir: &Path) -> Result<usize, Error> {
    staged_names(dir).map(|names| names.len())
}

/// Renames a staged task into `pending/`, creating the folder if git left
/// it out.
fn move_into(from: &Path, to: &Path) -> Result<(), Error> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == ErrorKind::NotFound && from.exists() => {
            let dir = to.parent().unwrap_or(Path::new("."));
            super::make_missing_folder(dir).map_err(|e| Error::io(dir, "create folder", e))?;
            std::fs::rename(from, to).map_err(|e| Error::io(from, "publish", e))
        }
        Err(e) => Err(Error::io(from, "publish", e)),
        Ok(()) => Ok(()),
    }
}

/// Removes a staging folder; the marker goes last, so a crash midway
/// leaves a folder that is still committed, with fewer files to publish.
fn remove_batch_dir(dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for entry in entries.flatten() {
        if entry.file_name() != PUBLISH_MARKER {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, "remove", e)),
            }
        }
    }
    let marker = dir.join(PUBLISH_MARKER);
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&marker, "remove", e)),
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, "remove", e)),
    }
}
