//! Spare files: task files a stream no longer needs, kept for its next
//! atomic write instead of being freed (PostgreSQL recycles its WAL
//! segments for the same reason).
//!
//! Freeing a file can wait on the disk: a file system mounted with
//! `discard` (common on cloud VMs) trims the freed blocks then and there
//! (an `unlink` of a 600-byte task file took ~0.24 ms on the development
//! VM, against ~5 µs for a rename), and creating one may scan recently
//! freed inodes. A claim+complete frees two files per task (the claim's
//! old copy, the claimed copy after the complete) and creates two (the
//! claimed and the finished copy). With spares it frees and creates none
//! in the steady state: a file that would be removed is renamed to a slot
//! of the stream's pool, and the next write in the stream takes it from
//! there, overwrites it and renames it into place as any atomic write does.
//!
//! The pool is the stream folder's `.spare-<k>.tmp`, `k` < [`SPARE_SLOTS`]
//! (git, rsync and teardown treat them as the temp files they are named
//! as). Rules, each tested here or in `tests/integration/spare.rs`:
//! - **Only with fsync.** A write into a spare is flushed (`fdatasync`)
//!   before its rename, like any durable write, so after a power loss the
//!   name shows the new bytes or the old name stays. Without fsync the
//!   rename may reach the disk before the bytes, and a recycled file would
//!   then show what it held before under the new name: another task
//!   (caught: the name and content disagree, see `tasks::
//!   check_name_and_folder`) or an older state of the same task (not
//!   caught: `done/<id>.json` holding the task's queued copy would be
//!   "repaired" into a success without a result). A freshly created file
//!   shows nothing or garbage instead, which a read refuses loudly. So
//!   without fsync files are freed as before and the pool is never used.
//! - **One taker per spare.** A spare is taken by renaming its slot to a
//!   name only the taker uses (a rename succeeds for one caller only),
//!   and only then opened; put back with `RENAME_NOREPLACE`, so a slot
//!   never swallows another spare.
//! - **Only plain files.** A slot holding anything but a regular file
//!   with one link (a FIFO, a link, a folder, a hard link to some other
//!   file) is left alone: never opened, never taken. The taken file is
//!   opened with `O_NOFOLLOW | O_NONBLOCK` and checked again on the open
//!   file (same inode, regular, one link); a file swapped in between is
//!   put back.
//! - **Readers of the old name.** A file is recycled only once no name of
//!   a task points at it, but a reader may have opened it just before and
//!   read it just after another write took it, and so read another task's
//!   bytes. SparkQ's readers check the content against the name
//!   (`tasks::check_name_and_folder`) and, on a mismatch or unreadable
//!   bytes, read the name again: a name that now holds other bytes (or
//!   none) was recycled under them, and what it holds now decides. Other
//!   tools reading the spool while workers run (a `cat`, a `git add` by
//!   `sparkq sync`, which holds no stream lock while it commits) can see
//!   such bytes in that window, of microseconds between their open and
//!   their read; a merged or copied file whose content names another task
//!   is set aside, never run as the task its name says. (A write lease,
//!   which the kernel grants only while no one else has a file open, would
//!   close the window; it needs an `fcntl` this crate's no-`unsafe` rule
//!   and its dependencies do not offer.)
//! - **Bounded.** At most [`SPARE_SLOTS`] spares per stream; a file freed
//!   when all slots are full is removed as before.
//! - **Spares do not outlive their use.** A spare is a temp file to the
//!   sweep (`temp`): one idle for [`super::STALE_TEMP_AGE`] (counted from
//!   when it entered the pool: the rename sets its change time) is
//!   removed by `doctor --fix` and at server start, silently, since it is
//!   no crashed write. A writer killed after taking a spare leaves it
//!   under its temp name, removed like any crashed write's temp file.

use std::fs::File;
use std::path::{Path, PathBuf};

/// How many spares a stream keeps at most.
pub(crate) const SPARE_SLOTS: usize = 4;

const SPARE_PREFIX: &str = ".spare-";
const SPARE_SUFFIX: &str = ".tmp";

/// The pool of spare files of one stream (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct Spares {
    dir: PathBuf,
}

/// Whether `name` is a spare's slot name.
pub(crate) fn is_spare_name(name: &str) -> bool {
    name.strip_prefix(SPARE_PREFIX)
        .and_then(|rest| rest.strip_suffix(SPARE_SUFFIX))
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

impl Spares {
    /// The pool kept in `stream_dir`, a stream's folder.
    pub(crate) fn in_folder(stream_dir: PathBuf) -> Spares {
        Spares { dir: stream_dir }
    }

    fn slot(&self, k: usize) -> PathBuf {
        self.dir.join(format!("{SPARE_PREFIX}{k}{SPARE_SUFFIX}"))
    }

    /// Puts the file at `path`, which no one else writes or reads (a temp
    /// name, or a task name no longer in use), into the pool; removes it
    /// if the pool is full or it is not a plain file. Errors are ignored,
    /// as a failed removal would be: it is a file nobody needs.
    pub(crate) fn recycle(&self, path: &Path) {
        if is_plain(path).is_some() {
            for k in 0..SPARE_SLOTS {
                if rename_noreplace(path, &self.slot(k)).is_ok() {
                    return;
                }
            }
        }
        let _ = std::fs::remove_file(path);
    }

    /// Takes a spare for a write: renamed to `to`, a name only the caller
    /// uses and that does not exist yet, and opened for writing at offset
    /// 0 (its old bytes are still there: overwrite them and set the
    /// length). `None` if no slot holds a spare that can be used.
    pub(crate) fn take(&self, to: &Path) -> Option<File> {
        for k in 0..SPARE_SLOTS {
            let slot = self.slot(k);
            // Left alone unless a plain file: never moved, never opened.
            let Some(ino) = is_plain(&slot) else { continue };
            if rename_noreplace(&slot, to).is_err() {
                // Another writer took it first.
                continue;
            }
            match open_taken(to, ino) {
                Taken::Usable(file) => return Some(file),
                // Swapped for something else between the look and the
                // rename: back where it was found (or, if the slot was
                // filled meanwhile, left under `to` for the temp sweep).
                Taken::Foreign => {
                    let _ = rename_noreplace(to, &slot);
                }
                // Its time could not be stamped (see `open_taken`): freed
                // as it would have been without the pool.
                Taken::InUse => {
                    let _ = std::fs::remove_file(to);
                }
            }
        }
        None
    }
}

enum Taken {
    Usable(File),
    Foreign,
    InUse,
}

/// The inode of `path` if it is a regular file with one link, looked up
/// without following a link.
fn is_plain(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    (meta.file_type().is_file() && meta.nlink() == 1).then_some(meta.ino())
}

/// Opens the spare just renamed to `path` for writing, if it is still the
/// plain file `ino` seen in its slot.
fn open_taken(path: &Path, ino: u64) -> Taken {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let Ok(file) = File::options()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return Taken::Foreign;
    };
    let plain = file
        .metadata()
        .is_ok_and(|m| m.file_type().is_file() && m.nlink() == 1 && m.ino() == ino);
    if !plain {
        return Taken::Foreign;
    }
    // Its modification time is its last write as a task file: stamped now,
    // so that no sweep takes it for an old temp file (or a claim's marker
    // for a dead claimer's) before its new bytes are written.
    if file.set_modified(std::time::SystemTime::now()).is_err() {
        return Taken::InUse;
    }
    Taken::Usable(file)
}

/// Renames `from` to `to` unless `to` exists.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A file system without the flag: a spare is only an optimization,
    // and a look then a rename could replace another spare or a write in
    // flight. Not used there.
    let _ = (from, to);
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn spare_names_are_exactly_the_slots() {
        for (name, want) in [
            (".spare-0.tmp", true),
            (".spare-12.tmp", true),
            (".spare-.tmp", false),
            (".spare-x.tmp", false),
            (".tsk_1.json.ab.tmp", false),
            ("spare-0.tmp", false),
        ] {
            assert_eq!(is_spare_name(name), want, "{name}");
        }
    }

    #[test]
    fn the_pool_is_bounded_and_hands_each_spare_out_once() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::in_folder(dir.path().to_owned());
        for n in 0..SPARE_SLOTS + 3 {
            let freed = dir.path().join(format!("t{n}.json"));
            std::fs::write(&freed, format!("task {n}")).unwrap();
            spares.recycle(&freed);
        }
        let held = names(dir.path());
        assert_eq!(held.len(), SPARE_SLOTS, "the rest were removed: {held:?}");
        assert!(held.iter().all(|n| is_spare_name(n)), "{held:?}");

        let mut taken = Vec::new();
        for n in 0..SPARE_SLOTS + 1 {
            let to = dir.path().join(format!(".w{n}.tmp"));
            match spares.take(&to) {
                Some(mut file) => {
                    file.write_all(b"new").unwrap();
                    taken.push(to);
                }
                None => assert_eq!(n, SPARE_SLOTS, "empty only once all were taken"),
            }
        }
        assert_eq!(taken.len(), SPARE_SLOTS);
        for to in &taken {
            // Written from offset 0: the caller sets the length.
            assert!(std::fs::read(to).unwrap().starts_with(b"new"));
        }
        assert!(names(dir.path()).iter().all(|n| !is_spare_name(n)));
    }

    #[test]
    fn threads_racing_for_spares_never_share_one() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::in_folder(dir.path().to_owned());
        let inodes = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (spares, dir, inodes) = (&spares, dir.path(), &inodes);
                scope.spawn(move || {
                    use std::os::unix::fs::MetadataExt;
                    for i in 0..300 {
                        let to = dir.join(format!(".t{t}-{i}.tmp"));
                        match spares.take(&to) {
                            Some(file) => {
                                let ino = file.metadata().unwrap().ino();
                                inodes.lock().unwrap().push((ino, true));
                                drop(file);
                                inodes.lock().unwrap().push((ino, false));
                            }
                            None => std::fs::write(&to, b"x").unwrap(),
                        }
                        spares.recycle(&to);
                    }
                });
            }
        });
        // Replay: an inode is never handed out again before it was let go.
        let mut out = std::collections::HashSet::new();
        let mut handed = 0;
        for (ino, taken) in inodes.into_inner().unwrap() {
            if taken {
                assert!(out.insert(ino), "spare {ino} handed to two writers");
                handed += 1;
            } else {
                out.remove(&ino);
            }
        }
        assert!(handed > 0, "the pool was used");
        assert!(names(dir.path()).len() <= SPARE_SLOTS);
    }

    #[test]
    fn odd_entries_in_a_slot_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::in_folder(dir.path().to_owned());
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"not yours").unwrap();
        std::os::unix::fs::symlink(&target, spares.slot(0)).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            spares.slot(1),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        std::fs::create_dir(spares.slot(2)).unwrap();
        std::fs::hard_link(&target, spares.slot(3)).unwrap();
        let before = names(dir.path());

        // Nothing taken (a FIFO opened for writing would wait for a reader
        // forever), nothing moved, nothing written through.
        assert!(spares.take(&dir.path().join(".w.tmp")).is_none());
        assert_eq!(names(dir.path()), before);
        assert_eq!(std::fs::read(&target).unwrap(), b"not yours");

        // A file freed while every slot is taken is removed, not kept.
        let freed = dir.path().join("t.json");
        std::fs::write(&freed, b"x").unwrap();
        spares.recycle(&freed);
        assert!(!freed.exists());
        assert_eq!(names(dir.path()), before);
        // And a hard link is never put into the pool.
        let link = dir.path().join("link.json");
        std::fs::hard_link(&target, &link).unwrap();
        std::fs::remove_dir(spares.slot(2)).unwrap();
        spares.recycle(&link);
        assert!(!spares.slot(2).exists() && !link.exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"not yours");
    }
}
