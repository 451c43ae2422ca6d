//! The rsync side of `sparkq sync --rsync DEST`: mirroring a spool both
//! ways with the flags that never lose a finish.
//!
//! `-u` never replaces a newer file, `--backup` keeps a replaced file as
//! `<name>~` (an extra copy that settling reads), `-c` compares contents
//! (two versions can share size and second), and the spool's `.gitignore`
//! keeps locks, temp files and the sync status local. rsync never deletes:
//! purges travel as tombstones.

use std::path::Path;
use std::process::{Command, Stdio};

use super::Error;
use super::gitsync::SYNC_STATUS_FILE;

/// The flags of both directions.
pub(super) const RSYNC_FLAGS: &[&str] = &["-auc", "--backup", "--filter=:- .gitignore"];

/// How many files one direction moved (or, dry, would move).
pub(crate) fn rsync(from: &str, to: &str, dry_run: bool) -> Result<usize, Error> {
    // A suffix of its own for each run: a file replaced twice between two
    // settles (this machine's pull, then the other's push) keeps both.
    let suffix = format!("--suffix=~{}", crate::model::Timestamp::now().unix_micros());
    let mut cmd = Command::new("rsync");
    cmd.args(RSYNC_FLAGS)
        .arg(suffix)
        .arg(format!("--exclude=/{SYNC_STATUS_FILE}"))
        .arg("--out-format=%n")
        .stdin(Stdio::null());
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd
        .arg(slash(from))
        .arg(slash(to))
        .output()
        .map_err(|e| Error::Sync {
            message: format!("could not run rsync: {e}"),
            hint: "Install rsync (e.g. apt-get install rsync) on this machine and the other.".into(),
        })?;
    if !out.status.success() {
        return Err(Error::Sync {
            message: format!(
                "rsync {from} -> {to} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            hint:
                "Check that the other spool's path is right and reachable (rsync HOST:PATH works with ssh)."
                    .into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.ends_with('/') && !l.is_empty())
        .count())
}

/// `path/`: rsync copies a folder's content, not the folder.
fn slash(path: &str) -> String {
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

/// The spool folder as an rsync argument.
pub(crate) fn local_arg(spool: &Path) -> String {
    spool.display().to_string()
}
