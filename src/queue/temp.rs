//! Temp files killed writers left behind: reported by `doctor`, removed
//! once older than [`STALE_TEMP_AGE`] by `doctor --fix` and when the
//! server starts.

use std::path::PathBuf;

use super::doctor::{DoctorReport, FindingKind, mark_fixed};
use super::{Queue, Result};
use crate::spool::STALE_TEMP_AGE;

impl Queue {
    /// Removes every temp file older than [`STALE_TEMP_AGE`] (a writer
    /// that was killed left it); returns the paths removed. Younger ones
    /// may still be being written and are left alone.
    pub fn remove_stale_temp_files(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for temp in self.spool.temp_files()? {
            if temp.is_stale() && self.spool.remove_temp(&temp.path)? {
                removed.push(temp.path);
            }
        }
        Ok(removed)
    }

    /// Reports temp files older than [`STALE_TEMP_AGE`]; with `fix`,
    /// removes them.
    pub(super) fn check_temp_files(&self, fix: bool, report: &mut DoctorReport) -> Result<()> {
        for temp in self.spool.temp_files()? {
            if !temp.is_stale() {
                continue;
            }
            report.add(
                FindingKind::TempFile,
                self.rel(&temp.path),
                format!(
                    "a temp file older than {} minutes: a writer was stopped before it finished",
                    STALE_TEMP_AGE.as_secs() / 60
                ),
                Some("remove it (nothing reads temp files)".into()),
            );
            if fix {
                self.spool.remove_temp(&temp.path)?;
                mark_fixed(report);
            }
        }
        Ok(())
    }
}
