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
//! is just removed.

use std::io::ErrorKind;
use std::time::Duration;

use super::{Error, PendingScan, Spool};
use crate::model::{Name, Task, TaskId, TaskStatus, Timestamp};

/// A file changed this recently may still be being written: leave it for
/// the next look.
pub const ADOPT_SETTLE: Duration = Duration::from_secs(2);

/// A file found in `pending/`, about to become a task.
#[derive(Debug)]
pub struct DroppedFile<'a> {
    /// The id it is being given; its time part is the file's arrival, to
    /// the second.
    pub id: TaskId,
    /// When it arrived (its modification time).
    pub arrived: Timestamp,
    /// The name it was dropped in under.
    pub file_name: &'a str,
    /// Its bytes, as they were.
    pub bytes: &'a [u8],
}

impl Spool {
    /// Adopts every settled dropped file of `scan`, oldest first, turning
    /// each into the task `build` makes of it (queued if it was valid, failed
    /// with an error if not). Call it holding the stream lock. Returns the
    /// tasks written.
    pub fn adopt_drops(
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
                adopted.extend(self.finish_adoption(stream, &path, id, name, build)?);
            }
            remove_if_present(&path)?;
        }

        let mut settled = Vec::new();
        for name in &scan.drops {
            let path = dir.join(name);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let modified = meta
                .modified()
                .map(Timestamp::from_system)
                .unwrap_or_else(|_| Timestamp::now());
            if meta.is_file() && modified.elapsed() >= ADOPT_SETTLE {
                settled.push((modified, name));
            }
        }
        settled.sort();
        for (arrived, name) in settled {
            let from = dir.join(name);
            let bytes = match super::tasks::read_small(&from) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&from, "read", e)),
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
            let key_name = super::extra_of(name).unwrap_or(name);
            let id = TaskId::for_drop(
                arrived,
                &[stream.as_str().as_bytes(), key_name.as_bytes(), &bytes],
            );
            if self.is_known(stream, &id) {
                // Adopted already, on another machine whose task came in
                // by sync before this copy of the file was looked at.
                remove_if_present(&from)?;
                continue;
            }
            let claimed = dir.join(format!(".{id}.adopt"));
            match std::fs::rename(dir.join(name), &claimed) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&dir.join(name), "adopt", e)),
            }
            adopted.extend(self.finish_adoption(stream, &claimed, id, name, build)?);
            remove_if_present(&claimed)?;
        }
        Ok(adopted)
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
        path: &std::path::Path,
        id: TaskId,
        file_name: &str,
        build: &dyn Fn(DroppedFile<'_>) -> Task,
    ) -> Result<Option<Task>, Error> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, "read", e)),
        };
        // To the second, like the id: two machines must write the same task.
        let arrived = std::fs::metadata(path)
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
        });
        debug_assert_eq!(&task.stream, stream);
        self.write_task(&task)?;
        Ok(Some(task))
    }
}

fn remove_if_present(path: &std::path::Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(path, "remove", e)),
        _ => Ok(()),
    }
}
