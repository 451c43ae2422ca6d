//! The one way the spool reads a file: task files, `stream.json`, session
//! files, dropped files, extra copies. Nothing else in the crate opens a
//! spool file for reading.
//!
//! The spool is a folder anyone can write into, so what is found there is
//! treated like network input:
//! - **No symlink is followed.** The file is opened with `O_NOFOLLOW`: a
//!   link named like a task never makes SparkQ read (and later store, or
//!   commit to git) the bytes of whatever it points at.
//! - **Regular files only.** The open is non-blocking (a FIFO cannot hang
//!   the reader, which holds the stream lock) and `fstat` on the opened
//!   file, not the name, decides: a folder, a FIFO, a socket or a device is
//!   refused without a byte read.
//! - **A size cap.** No more than the cap plus one byte is ever read, so a
//!   huge file cannot exhaust memory.
//!
//! What is refused is described by [`Foreign`]; the queue sets such files
//! aside with that reason (see `queue::aside`). JSON depth stays within
//! `serde_json`'s recursion limit, which callers never lift.

use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Bytes allowed on top of a task's own limits for its other fields
/// (ids, timestamps, history, an error text).
const FILE_SLACK_BYTES: u64 = 1024 * 1024;

/// The cap used when none is configured: the default limits' task file.
pub(crate) const DEFAULT_FILE_CAP: u64 = file_cap_for(1024 * 1024, 4 * 1024 * 1024);

/// The largest file the spool reads, for tasks whose payload and result
/// may each hold `payload_bytes` and whose stdout and stderr may each hold
/// `output_bytes`.
///
/// Rule: everything a valid task can legitimately carry must stay
/// readable. JSON escaping can grow text up to six times (`\u0000`), and a
/// task may keep one losing copy's result and output as a recorded
/// conflict, hence `2 × 6 × (2 × payload + 2 × output)`, plus slack.
pub(crate) const fn file_cap_for(payload_bytes: u64, output_bytes: u64) -> u64 {
    let carried = payload_bytes
        .saturating_mul(2)
        .saturating_add(output_bytes.saturating_mul(2));
    carried.saturating_mul(12).saturating_add(FILE_SLACK_BYTES)
}

/// Why an entry in a spool folder is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// A symbolic link (dangling or not): never followed.
    Symlink,
    /// A folder.
    Directory,
    /// A named pipe.
    Fifo,
    /// A socket or a device.
    Special,
    /// A regular file larger than the cap.
    TooLarge { size: u64, cap: u64 },
    /// A name that is not UTF-8.
    OddName,
}

impl Foreign {
    /// What the entry is, for an error message that names it.
    pub fn describe(self) -> String {
        match self {
            Foreign::Symlink => "it is a symbolic link (SparkQ never follows links in the spool)".into(),
            Foreign::Directory => "it is a folder, not a file".into(),
            Foreign::Fifo => "it is a named pipe (FIFO), not a file".into(),
            Foreign::Special => "it is a socket or device, not a file".into(),
            Foreign::TooLarge { size, cap } => {
                format!("it is {size} bytes, over the {cap}-byte cap for spool files")
            }
            Foreign::OddName => "its name is not valid UTF-8".into(),
        }
    }

    /// What a directory entry's type says it is, if it is not a regular
    /// file; `None` for a regular file.
    pub fn of_type(file_type: std::fs::FileType) -> Option<Foreign> {
        if file_type.is_file() {
            None
        } else if file_type.is_symlink() {
            Some(Foreign::Symlink)
        } else if file_type.is_dir() {
            Some(Foreign::Directory)
        } else if file_type.is_fifo() {
            Some(Foreign::Fifo)
        } else {
            Some(Foreign::Special)
        }
    }
}

/// Reads the regular file at `path`, at most `cap` bytes.
///
/// `Ok(Err(why))` when the entry is not a regular file or is too large;
/// `Err` for I/O errors (`NotFound` when nothing is there).
pub(super) fn read_capped(path: &Path, cap: u64) -> io::Result<Result<Vec<u8>, Foreign>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        // O_NOFOLLOW on a link: ELOOP (Linux), EMLINK (FreeBSD), EFTYPE
        // (NetBSD). A socket: ENXIO.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EMLINK)) => {
            return Ok(Err(Foreign::Symlink));
        }
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(Err(Foreign::Special)),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if let Some(why) = Foreign::of_type(meta.file_type()) {
        return Ok(Err(why));
    }
    if meta.len() > cap {
        return Ok(Err(Foreign::TooLarge {
            size: meta.len(),
            cap,
        }));
    }
    // The file may grow after the fstat: read at most one byte past the cap.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Ok(Err(Foreign::TooLarge {
            size: bytes.len() as u64,
            cap,
        }));
    }
    Ok(Ok(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_everything_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a.json");
        std::fs::write(&file, b"{}").expect("write");
        assert_eq!(read_capped(&file, 10).expect("read"), Ok(b"{}".to_vec()));
        assert_eq!(
            read_capped(&file, 1).expect("read"),
            Err(Foreign::TooLarge { size: 2, cap: 1 })
        );

        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(read_capped(&link, 10).expect("read"), Err(Foreign::Symlink));
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).expect("symlink");
        assert_eq!(read_capped(&dangling, 10).expect("read"), Err(Foreign::Symlink));
        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        assert_eq!(read_capped(&zero, 10).expect("read"), Err(Foreign::Symlink));

        let folder = dir.path().join("tsk_0.json");
        std::fs::create_dir(&folder).expect("mkdir");
        assert_eq!(read_capped(&folder, 10).expect("read"), Err(Foreign::Directory));

        let fifo = dir.path().join("fifo.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert_eq!(read_capped(&fifo, 10).expect("read"), Err(Foreign::Fifo));

        let missing = read_capped(&dir.path().join("missing"), 10).expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
