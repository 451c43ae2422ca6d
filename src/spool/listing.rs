//! Reading a spool folder's entries: each name with what it is, taken from
//! the directory listing itself, so nothing is opened, followed or read to
//! tell a task file from a link, a folder or a FIFO.

#[cfg(not(target_os = "linux"))]
use std::io::ErrorKind;

use super::{Error, Foreign};

/// Calls `f` with each entry of `dir`: its name, what it is if it is not a
/// regular file, and its inode number (from the listing, so a file that is
/// replaced by a rename shows a new number without being looked at). A
/// missing folder is empty.
///
/// On Linux the folder is read with `getdents64` into one reused buffer
/// (rustix's `RawDir`), so a name costs no allocation: `pending/` is read
/// on every claim, and std's `read_dir` allocates twice per entry. The
/// entry's type comes with its name; where the file system does not say,
/// it counts as a regular file and the reader checks it when it opens it.
#[cfg(target_os = "linux")]
pub(super) fn for_each_entry_ino(
    dir: &std::path::Path,
    mut f: impl FnMut(&std::ffi::OsStr, Option<Foreign>, u64),
) -> Result<(), Error> {
    use rustix::fs::{FileType, Mode, OFlags, RawDir};
    use std::mem::MaybeUninit;
    use std::os::unix::ffi::OsStrExt;

    const DIR_BUFFER_BYTES: usize = 64 * 1024;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(Error::io(dir, "list", e.into())),
    };
    let mut buffer = vec![MaybeUninit::<u8>::uninit(); DIR_BUFFER_BYTES];
    let mut entries = RawDir::new(&fd, &mut buffer);
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(|e| Error::io(dir, "list", e.into()))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::RegularFile | FileType::Unknown => None,
            FileType::Symlink => Some(Foreign::Symlink),
            FileType::Directory => Some(Foreign::Directory),
            FileType::Fifo => Some(Foreign::Fifo),
            _ => Some(Foreign::Special),
        };
        f(std::ffi::OsStr::from_bytes(name), kind, entry.ino());
    }
    Ok(())
}

/// Calls `f` with each entry of `dir`: name, kind and inode number (see
/// the Linux version). A missing folder is empty.
#[cfg(not(target_os = "linux"))]
pub(super) fn for_each_entry_ino(
    dir: &std::path::Path,
    mut f: impl FnMut(&std::ffi::OsStr, Option<Foreign>, u64),
) -> Result<(), Error> {
    use std::os::unix::fs::DirEntryExt;

    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, "list", e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        let kind = entry.file_type().ok().and_then(Foreign::of_type);
        f(&entry.file_name(), kind, entry.ino());
    }
    Ok(())
}

/// [`for_each_entry_ino`] without the inode numbers.
pub(super) fn for_each_entry(
    dir: &std::path::Path,
    mut f: impl FnMut(&std::ffi::OsStr, Option<Foreign>),
) -> Result<(), Error> {
    for_each_entry_ino(dir, |name, kind, _| f(name, kind))
}

/// Calls `f` with the UTF-8 name of each regular file in `dir`: the names
/// that can be tasks. A missing folder is empty.
pub(super) fn for_each_name(dir: &std::path::Path, mut f: impl FnMut(&str)) -> Result<(), Error> {
    for_each_entry(dir, |name, kind| {
        if kind.is_none()
            && let Some(name) = name.to_str()
        {
            f(name);
        }
    })
}
