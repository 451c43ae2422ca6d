//! Adopting files dropped into `pending/` by hand or by other tools.
//!
//! A dropped file's id is derived from the file (see
//! [`TaskId::for_drop`]): a file that a sync carried to several machines
//! before any adopted it becomes the same task on each, and a machine that
//! finds the task already there (adopted elsewhere, synced in) removes its
//! copy of the file instead of adopting it again.
//!
//! Invariant: nothing dropped in is lost or adopted twice. Each dropped
//! file is first renamed to `.<new-id>.adopt` (claiming its id in one atomic
//! step), then its task is written, then the `.adopt` file is removed. A
//! crash at any point leaves either the original file or the `.adopt` file,
//! and the next look finishes the job; a `.adopt` whose task already exists
//! is just retired.
//!
//! Whatever is dropped in is adopted, even what cannot be read: a link, a
//! folder, a FIFO, a file over the size cap (see `read`). Such an entry
//! becomes a failed task whose error says what it is, and the entry itself
//! is moved (never followed, never read) to `quarantine/<id>` in the
//! stream's folder, so nothing dropped in is lost or silently ignored.
//! Retiring an `.adopt` file removes it only when it was a regular file
//! within the cap (its bytes are in the task); anything else is moved to
//! quarantine.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Error, Foreign, PendingScan, Spool};
use crate::model::{Name, Task, TaskId, TaskStatus, Timestamp};

/// A file changed this recently may still be being written: leave it for
/// the next look.
pub(super) const ADOPT_SETTLE: Duration = Duration::from_secs(2);

/// Whether a file last modified at `modified` is done being written, seen
/// at `now`: it changed at least [`ADOPT_SETTLE`] ago, or its time lies
/// further than that in the future. A write going on now stamps the time of
/// now, so a time well ahead (a clock that ran fast on the machine it came
/// from, `touch -d tomorrow`) is an old file, not a busy one; without this
/// rule it would wait until that day, silently unadopted.
pub(crate) fn is_settled(modified: SystemTime, now: SystemTime) -> bool {
    match now.duration_since(modified) {
        Ok(age) => age >= ADOPT_SETTLE,
        Err(ahead) => ahead.duration() > ADOPT_SETTLE,
    }
}

/// When a file last modified at `modified`, not settled at `now`, will be
/// (see [`is_settled`]); `None` if it already is.
pub(super) fn settles_at(modified: SystemTime, now: SystemTime) -> Option<SystemTime> {
    (!is_settled(modified, now)).then(|| modified.checked_add(ADOPT_SETTLE).unwrap_or(now))
}

impl Spool {
    /// Sends the task file `pending/<id>.json` of `stream` back through
    /// adoption under its own id: it becomes the `.<id>.adopt` file of an
    /// interrupted adoption, which the next look finishes (repairing the
    /// task or failing it with the reason). `false` if it was not there.
    pub(crate) fn readopt(&self, stream: &Name, id: &TaskId) -> Result<bool, Error> {
        let dir = self.state_path(stream, TaskStatus::Queued);
        let from = dir.join(id.file_name());
        match std::fs::rename(&from, dir.join(adopt_name(id))) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&from, "set aside", e)),
        }
    }

    /// When the youngest file dropped into `stream`'s `pending/` that `scan`
    /// found settles and can be adopted; files already settled do not count
    /// (the look that made `scan` adopted them). Entries that are not
    /// regular files are adopted (set aside) too; the entry's own time
    /// counts, never a link target's.
    pub(crate) fn next_settle(&self, stream: &Name, scan: &PendingScan) -> Option<SystemTime> {
        let dir = self.state_path(stream, TaskStatus::Queued);
        let now = SystemTime::now();
        let names = scan.drops.iter().map(std::ffi::OsStr::new);
        names
            .chain(scan.foreign.iter().map(|n| n.as_os_str()))
            .filter_map(|name| std::fs::symlink_metadata(dir.join(name)).ok())
            .filter_map(|meta| meta.modified().ok())
            .filter_map(|modified| settles_at(modified, now))
            .min()
    }
}

/// The name a file being adopted as task `id` goes by in `pending/`.
fn adopt_name(id: &TaskId) -> String {
    format!(".{id}.adopt")
}

/// A file found in `pending/`, about to become a task.
#[derive(Debug)]
pub(crate) struct DroppedFile<'a> {
    /// The id it is being given; its time part is the file's arrival, to
    /// the second.
    pub id: TaskId,
    /// When it arrived (its modification time).
    pub arrived: Timestamp,
    /// The name it was dropped in under.
    pub file_name: &'a str,
    /// Its bytes, as they were (empty when it was refused).
    pub bytes: &'a [u8],
    /// Set when the entry was not read: the task must fail with this reason.
    pub refused: Option<Refused>,
}

/// Why a dropped entry was not read, and where it was set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub what: Foreign,
    /// Where the entry is moved, relative to the spool folder.
    pub aside: String,
}

impl Spool {
    /// Adopts every settled dropped file of `scan`, oldest first, turning
    /// each into the task `build` makes of it (queued if it was valid, failed
    /// with an error if not). Call it holding the stream lock. Returns the
    /// tasks written.
    pub(crate) fn adopt_drops(
        &self,
        stream: &Name,
        scan: &PendingScan,
        build: &dyn Fn(DroppedFile<'_>) -> Task,
    ) -> Result<Vec<Task>, Error> {
        let dir = self.state_path(stream, TaskStatus::Queued);
        let mut adopted = Vec::new();
        for name in &scan.adopting {
            let Some(id) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".adopt"))
                .and_then(TaskId::parse)
            else {
                continue;
            };
            let path = dir.join(name);
            if !self.is_known(stream, &id) {
                adopted.extend(self.finish_adoption(stream, &path, id.clone(), name, build)?);
            }
            self.retire(stream, &path, &id)?;
        }

        let mut settled = Vec::new();
        let names = scan.drops.iter().map(OsStr::new);
        for name in names.chain(scan.foreign.iter().map(|n| n.as_os_str())) {
            // The entry itself, never what a link points at.
            let Ok(meta) = std::fs::symlink_metadata(dir.join(name)) else {
                continue;
            };
            let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
            if is_settled(modified, SystemTime::now()) {
                settled.push((Timestamp::from_system(modified), name));
            }
        }
        settled.sort();
        for (arrived, name) in settled {
            let from = dir.join(name);
            let (bytes, refused) = match self.read_bytes(&from) {
                Ok(Some(bytes)) => (bytes, false),
                Ok(None) => continue,
                // Not read (a link, a folder, a FIFO, a file over the cap):
                // its id comes from its name and time alone, and adoption
                // sets it aside.
                Err(Error::Foreign { .. }) => (Vec::new(), true),
                Err(e) => return Err(e),
            };
            if super::has_markers(&String::from_utf8_lossy(&bytes))
                && super::GitMerge::in_progress(self.root())
            {
                // Git's blend of two drops: `doctor` restores both sides'.
                continue;
            }
            // A copy rsync's `--backup` kept beside a drop (`d.json~…`) is
            // the same drop: the same id, so it is removed, not adopted twice
            // (unless its bytes differ, and then it is a task of its own).
            let key_name = name.to_str().and_then(super::extra_of).map_or(name, OsStr::new);
            let id = TaskId::for_drop(
                arrived,
                &[stream.as_str().as_bytes(), key_name.as_encoded_bytes(), &bytes],
            );
            if self.is_known(stream, &id) {
                // Adopted already, on another machine whose task came in
                // by sync before this copy of the file was looked at. An
                // entry that is not a regular file is set aside, not removed.
                if refused {
                    self.quarantine(stream, &from, &TaskId::generate())?;
                } else {
                    remove_if_present(&from)?;
                }
                continue;
            }
            let claimed = dir.join(adopt_name(&id));
            match std::fs::rename(dir.join(name), &claimed) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&dir.join(name), "adopt", e)),
            }
            let shown = name.to_string_lossy();
            adopted.extend(self.finish_adoption(stream, &claimed, id.clone(), &shown, build)?);
            self.retire(stream, &claimed, &id)?;
        }
        Ok(adopted)
    }

    /// The folder where `stream` keeps entries it could not read.
    pub(crate) fn quarantine_dir(&self, stream: &Name) -> PathBuf {
        self.stream_dir(stream).join(super::copies::QUARANTINE_DIR)
    }

    /// Moves the entry at `path` (whatever it is, never following a link)
    /// to `quarantine/<id>`; returns where it went.
    pub(crate) fn quarantine(&self, stream: &Name, path: &Path, id: &TaskId) -> Result<PathBuf, Error> {
        let to = self.quarantine_dir(stream).join(id.as_str());
        super::move_file(path, &to)?;
        Ok(to)
    }

    /// Disposes of an `.adopt` file whose task is written: a regular file
    /// within the cap is removed (its bytes are in the task), anything else
    /// is moved to quarantine.
    fn retire(&self, stream: &Name, path: &Path, id: &TaskId) -> Result<(), Error> {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        if meta.is_file() && meta.len() <= self.file_cap {
            return remove_if_present(path);
        }
        self.quarantine(stream, path, id).map(|_| ())
    }

    /// Whether task `id` exists in any state folder of `stream`, or was
    /// purged (adopting its file again would undo the purge).
    fn is_known(&self, stream: &Name, id: &TaskId) -> bool {
        TaskStatus::ALL.iter().any(|s| self.has_task(stream, *s, id))
            || self.purged_dir(stream).join(id.file_name()).exists()
    }

    fn finish_adoption(
        &self,
        stream: &Name,
        path: &Path,
        id: TaskId,
        file_name: &str,
        build: &dyn Fn(DroppedFile<'_>) -> Task,
    ) -> Result<Option<Task>, Error> {
        let (bytes, refused) = match self.read_bytes(path) {
            Ok(Some(bytes)) => (bytes, None),
            Ok(None) => return Ok(None),
            Err(Error::Foreign { what, .. }) => {
                let aside = self.quarantine_dir(stream).join(id.as_str());
                let aside = aside.strip_prefix(&self.root).unwrap_or(&aside);
                let aside = aside.display().to_string();
                (Vec::new(), Some(Refused { what, aside }))
            }
            Err(e) => return Err(e),
        };
        // To the second, like the id: two machines must write the same task.
        // The entry's own time, never a link target's.
        let arrived = std::fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .map(|t| {
                let secs = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                Timestamp::from_system(std::time::UNIX_EPOCH + Duration::from_secs(secs))
            })
            .unwrap_or_else(|_| Timestamp::now());
        let original_name = file_name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".adopt"))
            .map_or(file_name, |_| "(recovered adoption)");
        let task = build(DroppedFile {
            id,
            arrived,
            file_name: original_name,
            bytes: &bytes,
            refused,
        });
        debug_assert_eq!(&task.stream, stream);
        self.write_task(&task)?;
        Ok(Some(task))
    }
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(path, "remove", e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    #[test]
    fn a_file_is_settled_when_old_or_far_ahead_never_while_it_may_be_written() {
        let now = SystemTime::now();
        let secs = Duration::from_secs;
        let cases = [
            (now, false),
            (now - secs(1), false),
            (now - secs(2), true),
            (now - secs(86_400), true),
            (now + secs(1), false),
            (now + secs(3), true),
            (now + secs(86_400 * 365), true),
        ];
        for (modified, settled) in cases {
            assert_eq!(is_settled(modified, now), settled, "{modified:?} at {now:?}");
            assert_eq!(settles_at(modified, now).is_none(), settled);
        }
        assert_eq!(settles_at(now - secs(1), now), Some(now + secs(1)));
    }

    #[test]
    fn an_interrupted_adoption_of_a_fifo_is_finished_and_the_fifo_set_aside() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::new(dir.path(), false);
        let stream = Name::parse("a").expect("name");
        let pending = spool.state_path(&stream, TaskStatus::Queued);
        std::fs::create_dir_all(&pending).expect("mkdir");
        let id = TaskId::generate();
        let adopting = pending.join(format!(".{id}.adopt"));
        let made = std::process::Command::new("mkfifo")
            .arg(&adopting)
            .status()
            .expect("mkfifo");
        assert!(made.success());

        let scan = spool.scan_pending(&stream).expect("scan");
        assert_eq!(scan.adopting, [format!(".{id}.adopt")]);
        assert!(scan.foreign.is_empty());
        let seen = std::cell::RefCell::new(None);
        let build = |drop: DroppedFile<'_>| {
            *seen.borrow_mut() = drop.refused.clone();
            let mut task: Task = serde_json::from_value(serde_json::json!({
                "id": drop.id, "stream": "a", "session": "s", "tool_name": "", "task_class": "",
                "payload": null, "status": "failed", "timeout": 0, "max_attempts": 1,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            }))
            .expect("task");
            task.error = Some("set aside".into());
            task
        };
        let adopted = spool.adopt_drops(&stream, &scan, &build).expect("adopt");

        assert_eq!(adopted.len(), 1);
        assert_eq!(seen.borrow().as_ref().map(|r| r.what), Some(Foreign::Fifo));
        assert!(std::fs::symlink_metadata(&adopting).is_err());
        let aside = spool.quarantine_dir(&stream).join(id.as_str());
        assert!(std::fs::symlink_metadata(aside).is_ok_and(|m| m.file_type().is_fifo()));
    }
}
