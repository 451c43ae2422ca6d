//! Doctor for dropped files during a merge. A file dropped into `pending/`
//! and committed before it was adopted can be paired by git's rename
//! detection with other drops (`d0.json → dA.json` on one side, `d0.json →
//! dB.json` on the other); git then writes a blend of them, often with
//! conflict markers, which adoption would reject as invalid JSON. While the
//! merge is in progress, such a file is restored from the two commits
//! being merged, like a task file (see `spool::git`): each side's version
//! is kept, the second under a name of its own.

use std::path::PathBuf;

use super::doctor::{DoctorReport, FindingKind, mark_fixed};
use super::{Queue, Result};
use crate::model::{Name, TaskStatus};
use crate::spool::{self, GitMerge};

impl Queue {
    /// Reports (and with `fix` restores) the dropped files of `stream`
    /// that git blended during the merge in progress.
    pub(super) fn check_drops(
        &self,
        stream: &Name,
        merge: &GitMerge,
        fix: bool,
        report: &mut DoctorReport,
    ) -> Result<()> {
        if !merge.is_merging() {
            return Ok(());
        }
        let dir = self.spool.state_path(stream, TaskStatus::Queued);
        for name in self.spool.scan_pending(stream)?.drops {
            let path = dir.join(&name);
            if !merge.may_be_merged(&path) {
                continue;
            }
            let mut versions = merge.sides_at(&path);
            versions.dedup();
            let current = self.spool.read_bytes(&path).ok().flatten();
            if versions.is_empty() || versions.len() == 1 && current.as_ref() == versions.first() {
                continue;
            }
            let at = self.rel(&path);
            report.add(
                FindingKind::MergeConflict,
                at.clone(),
                "a dropped file git blended with another during the merge".into(),
                Some(format!(
                    "restore {at} from both sides ({} version(s))",
                    versions.len()
                )),
            );
            if fix {
                for (i, bytes) in versions.iter().enumerate() {
                    let target = if i == 0 { path.clone() } else { free_name(&path, i) };
                    spool::write_atomic(&target, bytes, self.spool.fsync())?;
                }
                mark_fixed(report);
            }
        }
        Ok(())
    }
}

/// `d.json` → `d-2.json` (or the next free number) for the `i`th version.
fn free_name(path: &std::path::Path, i: usize) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("drop");
    (i + 1..)
        .map(|n| path.with_file_name(format!("{stem}-{n}.json")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_file_name(format!("{stem}-{i}.json")))
}
