//! Checks on what SparkQ finds in a runtime folder (a private folder, a
//! FIFO, a lock file: each must be of its kind and the user's own), and
//! making a FIFO with `mkfifo(2)` instead of the `mkfifo` command.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{Error, Result};

/// The user this process runs as.
pub(crate) fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuses `meta` (of `path`) unless the user owns it.
pub(crate) fn check_owner(path: &Path, meta: &Metadata) -> Result<()> {
    let me = my_uid();
    if meta.uid() != me {
        return Err(Error::NotOwned {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

/// Refuses `path` unless it is a real folder (not a link to one), owned
/// by the user and closed to everyone else.
pub(crate) fn check_private_dir(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, "look at", e))?;
    if !meta.is_dir() {
        return Err(Error::WrongKind {
            path: path.to_owned(),
            expected: "folder",
        });
    }
    check_owner(path, &meta)?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::NotPrivate {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Makes a FIFO at `path`, readable and writable by the user only.
pub fn make_fifo(path: &Path) -> Result<()> {
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    rustix::fs::mkfifoat(rustix::fs::CWD, path, mode)
        .map_err(|e| Error::io(path, "create the FIFO", std::io::Error::from(e)))
}

/// Whether `path` is the user's own FIFO: `Ok(false)` if nothing is
/// there, an error if something else (or someone else's FIFO) is.
pub fn check_fifo(path: &Path) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, "look at", e)),
    };
    if !meta.file_type().is_fifo() {
        return Err(Error::WrongKind {
            path: path.to_owned(),
            expected: "FIFO",
        });
    }
    check_owner(path, &meta)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_fifo_is_made_private_and_other_things_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        assert!(!check_fifo(&path).unwrap());
        make_fifo(&path).unwrap();
        assert!(check_fifo(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        assert!(matches!(check_fifo(&plain), Err(Error::WrongKind { .. })));
    }

    #[test]
    fn only_a_closed_folder_of_ones_own_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(check_private_dir(&open), Err(Error::NotPrivate { .. })));
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(&open).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(matches!(check_private_dir(&link), Err(Error::WrongKind { .. })));
        // A folder of another user (/ belongs to root) is refused when we are not root.
        if my_uid() != 0 {
            assert!(matches!(
                check_private_dir(Path::new("/")),
                Err(Error::NotOwned { owner: 0, .. })
            ));
        }
    }
}
