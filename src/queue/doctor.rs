//! `doctor`: finding, and with `fix` repairing, what sharing a spool
//! between machines (git, rsync) can leave behind (SPEC 9).
//!
//! ## Why ordinary `git pull` merges a spool, and what doctor does after
//!
//! Git merges paths, not operations: a path merges cleanly unless both
//! sides changed it since their common base. SparkQ's format keeps that
//! rare in normal use:
//! - **One file per task, named by its id**, ids unique across machines,
//!   no index files: two machines enqueueing only ever add different paths.
//! - **A state change moves the file** (pending → claimed → done/failed),
//!   so for git a task is deleted at one path and created at another. A
//!   deletion merges cleanly with "unchanged", and two deletions of one
//!   path merge cleanly with each other.
//! - **Edits in place are few**: a heartbeat rewrites `claimed/<id>.json`,
//!   and a claim taken back rewrites `pending/<id>.json` with the next
//!   attempt. Every write moves `updated_at`, so two concurrent edits of
//!   one file always collide on that line: git reports a conflict rather
//!   than blending them silently. Doctor's own rewrites do the same.
//! - **State folders never vanish** (`.keep`, see `spool::copies`), so
//!   git's directory-rename detection never moves a new pending task into
//!   `claimed/`.
//! - Locks, temp files and pid files are in `spool/.gitignore`.
//!
//! What remains is the genuinely concurrent case: both machines moved or
//! changed the same task between two syncs (claimed it twice, finished it
//! twice, one re-queued a claim the other finished). Git then leaves two
//! files in two folders, or a file it could not merge. Because git always
//! detects renames, and files of different tasks look alike, what it
//! could not merge may be a *blend* of two versions, or of two tasks; so
//! while the merge is in progress doctor reads each side's exact version
//! from `HEAD` and `MERGE_HEAD` (see `spool::git`) for every task that
//! differs between them, and otherwise splits conflict markers. All
//! versions are settled like any other copies (`queue::converge`). After
//! `doctor --fix`, `git add -A && git commit` leaves a clean tree, and
//! since settling is deterministic, two machines that settle the same
//! merge write the same bytes.
//!
//! rsync has no merge: `rsync -au` keeps the newer file of a path and never
//! deletes, so a union of both spools arrives, settled by the same rules.
//! With `--backup`, a file replaced by a newer one is kept as `<name>~`, an
//! extra copy doctor settles too; without it, two different finishes into
//! the same folder between syncs keep only the newer one.

use std::path::Path;

use serde::Serialize;

use super::converge::converge;
use super::doctor_purged::merge_holds_unseen;
use super::settle::read_copies;
use super::{Queue, Result};
use crate::model::{ConflictKind, Name, TaskId, TaskStatus};
use crate::spool::{self, TaskFile};

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The same task in several state folders (or extra copies of it).
    Duplicate,
    /// Two different finishes of one attempt: kept, both results preserved.
    DoubleFinish,
    /// A finish of an attempt that was re-queued elsewhere: the re-queued
    /// attempt wins, the late result is preserved.
    LateFinish,
    /// The same attempt claimed on two machines.
    RivalClaim,
    /// A file with git conflict markers.
    MergeConflict,
    /// A task file whose content disagrees with its folder.
    FolderMismatch,
    /// A file that cannot be read as what its place says it is.
    Unreadable,
    /// A file that is not SparkQ's.
    UnknownFile,
    /// A stream or session file with two versions.
    MetaConflict,
    /// A state folder without its `.keep` file.
    MissingKeep,
    /// A temp file a stopped writer left behind.
    TempFile,
    /// An entry dropped into `pending/` that is not a regular file, or
    /// whose name is not UTF-8: set aside by the next look at the stream.
    Foreign,
    /// A copy of a purged task that a sync brought back.
    PurgedBack,
}

/// One thing doctor found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The file, relative to the spool folder.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    pub message: String,
    /// What `--fix` does about it; `None` if it needs a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether this run applied the fix.
    pub fixed: bool,
}

/// A task that carries recorded conflicts, for the user to review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictedTask {
    pub id: TaskId,
    pub stream: Name,
    pub status: TaskStatus,
    pub conflicts: Vec<String>,
}

/// Everything one doctor run found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DoctorReport {
    /// Whether this run repaired what it could (`--fix`).
    pub fix: bool,
    /// Nothing left to do: no finding, or every finding fixed.
    pub clean: bool,
    pub findings: Vec<Finding>,
    /// Tasks carrying recorded conflicts (see `sparkq task ID`).
    pub conflicted: Vec<ConflictedTask>,
}

impl DoctorReport {
    pub(super) fn add(&mut self, kind: FindingKind, path: String, message: String, fix: Option<String>) {
        self.findings.push(Finding {
            kind,
            path,
            task: None,
            message,
            fix,
            fixed: false,
        });
    }
}

impl Queue {
    /// Checks the whole spool; with `fix`, repairs everything that has a
    /// rule (SPEC 9) and reports what it did.
    pub fn doctor(&self, fix: bool) -> Result<DoctorReport> {
        let mut report = DoctorReport {
            fix,
            ..DoctorReport::default()
        };
        let merge = spool::GitMerge::detect(self.spool.root());
        self.check_sessions(fix, &mut report)?;
        self.check_temp_files(fix, &mut report)?;
        for dir in self.spool.orphan_stream_dirs()? {
            report.add(
                FindingKind::UnknownFile,
                self.rel(&dir),
                "not a stream: no stream.json in it (or not a folder)".into(),
                None,
            );
        }
        for stream in self.spool.stream_names()? {
            let lock = if fix {
                let lock = self.spool.lock_stream(&stream)?;
                // A batch abandoned by a killed writer: published or
                // discarded whole before its tasks are checked.
                self.spool.recover_batches(&stream)?;
                Some(lock)
            } else {
                None
            };
            self.check_stream_file(&stream, fix, &mut report)?;
            self.check_drops(&stream, &merge, fix, &mut report)?;
            self.check_tasks(&stream, &merge, fix, &mut report)?;
            if fix && let (Some(lock), Ok(s)) = (&lock, self.stream(stream.as_str())) {
                // Adopt what was moved into pending/ for recovery.
                self.touch(&s, lock)?;
            }
        }
        report.clean = report.findings.iter().all(|f| f.fixed);
        Ok(report)
    }

    fn check_tasks(
        &self,
        stream: &Name,
        merge: &spool::GitMerge,
        fix: bool,
        report: &mut DoctorReport,
    ) -> Result<()> {
        let files = self.spool.stream_files(stream)?;
        for path in &files.unknown {
            report.add(
                FindingKind::UnknownFile,
                self.rel(path),
                "not a SparkQ file".into(),
                None,
            );
        }
        for path in &files.missing_keep {
            let at = self.rel(path);
            report.add(
                FindingKind::MissingKeep,
                at.clone(),
                "state folder without .keep (git could drop or rename it)".into(),
                Some(format!("create {at}")),
            );
            if fix {
                self.spool.write_keep(path)?;
                mark_fixed(report);
            }
        }
        self.check_pending_foreign(stream, fix, report)?;
        let tombstones = self.spool.tombstones(stream)?;
        // While a merge is in progress, a side holding a version of a
        // purged task that its tombstone does not cover (a finish the purge
        // never saw) is settled with every copy, as if there were no
        // tombstone: the working tree may hold only git's blend of it, or
        // nothing (git paired the purged file with another), and judging
        // that alone would lose the finish.
        let unseen =
            |id: &TaskId, t: &spool::Tombstone| merge_holds_unseen(&self.spool, stream, id, merge, t);
        for (id, list) in &files.tasks {
            let list = match tombstones.get(id) {
                Some(t) if !unseen(id, t) => self.check_purged(id, list, t, fix, report)?,
                _ => list.clone(),
            };
            if !list.is_empty() {
                self.check_task(stream, id, &list, merge, fix, report)?;
            }
        }
        for id in merge.task_ids(&self.spool.stream_dir(stream)) {
            // A task that one side purged is not restored from the other,
            // unless that side holds what the purge did not see.
            if !files.tasks.contains_key(&id) && tombstones.get(&id).is_none_or(|t| unseen(&id, t)) {
                self.check_task(stream, &id, &[], merge, fix, report)?;
            }
        }
        Ok(())
    }

    fn check_task(
        &self,
        stream: &Name,
        id: &TaskId,
        list: &[TaskFile],
        merge: &spool::GitMerge,
        fix: bool,
        report: &mut DoctorReport,
    ) -> Result<()> {
        let copies = read_copies(&self.spool, stream, id, list.to_vec(), merge)?;
        let resolution = converge(&copies.candidates);
        let first = report.findings.len();
        if let Some(r) = &resolution
            && !r.task.conflicts.is_empty()
        {
            report.conflicted.push(ConflictedTask {
                id: id.clone(),
                stream: stream.clone(),
                status: r.state,
                conflicts: r.task.conflicts.iter().map(|c| c.describe(&r.task)).collect(),
            });
        }
        if !copies.needs_settling(resolution.as_ref()) {
            return Ok(());
        }
        let kept = resolution
            .as_ref()
            .map(|r| self.rel(&self.spool.state_path(stream, r.state).join(id.file_name())));
        if let Some(kept) = &kept
            && copies.files.len() > 1
        {
            let places: Vec<String> = copies.files.iter().map(|f| self.rel(&f.path)).collect();
            report.add(
                FindingKind::Duplicate,
                self.rel(&copies.files[0].path),
                format!("{} copies: {}", places.len(), places.join(", ")),
                Some(format!("keep {kept} (the newest state), remove the others")),
            );
        }
        if copies.files.is_empty()
            && let Some(kept) = &kept
        {
            report.add(
                FindingKind::MergeConflict,
                kept.clone(),
                "the merge left no file of this task; both sides' versions read from git".into(),
                Some(format!("restore it as {kept}")),
            );
        }
        for i in &copies.marked {
            report.add(
                FindingKind::MergeConflict,
                self.rel(&copies.files[*i].path),
                "git could not merge it (conflict markers or a blend); both versions read".into(),
                kept.as_ref().map(|k| format!("settle both versions into {k}")),
            );
        }
        for i in &copies.unreadable {
            report.add(
                FindingKind::Unreadable,
                self.rel(&copies.files[*i].path),
                "not a readable task file".into(),
                Some(
                    "move it into pending/ as a dropped file; adoption keeps its bytes in a failed task"
                        .into(),
                ),
            );
        }
        if let Some(r) = &resolution {
            for conflict in &r.recorded {
                let kind = match conflict.kind(&r.task) {
                    ConflictKind::DoubleFinish => FindingKind::DoubleFinish,
                    ConflictKind::LateFinish => FindingKind::LateFinish,
                    ConflictKind::RivalClaim => FindingKind::RivalClaim,
                };
                report.add(
                    kind,
                    kept.clone().unwrap_or_default(),
                    conflict.describe(&r.task),
                    Some("record it in the task's conflicts (shown by 'sparkq task')".into()),
                );
            }
            let chosen = &copies.candidates[r.winner];
            if copies.files.len() == 1 && copies.marked.is_empty() && chosen.task.status != r.state {
                report.add(
                    FindingKind::FolderMismatch,
                    kept.clone().unwrap_or_default(),
                    format!(
                        "content says {}, folder says {}",
                        chosen.task.status.as_str(),
                        r.state.as_str()
                    ),
                    Some("the folder wins: rewrite the content".into()),
                );
            }
        }
        for finding in &mut report.findings[first..] {
            finding.task = Some(id.clone());
        }
        if fix {
            self.apply(stream, id, &copies, resolution.as_ref())?;
            for finding in &mut report.findings[first..] {
                finding.fixed = finding.fix.is_some();
            }
        }
        Ok(())
    }

    /// Reports what was dropped into `pending/` that is not a regular file
    /// or has a name that is not UTF-8; `fix` is done by the look at the
    /// stream that follows (adoption sets such entries aside).
    fn check_pending_foreign(&self, stream: &Name, fix: bool, report: &mut DoctorReport) -> Result<()> {
        let dir = self.spool.state_path(stream, TaskStatus::Queued);
        for name in self.spool.scan_pending(stream)?.foreign {
            let path = dir.join(&name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let (message, remedy) = match spool::Foreign::of_type(meta.file_type()) {
                Some(what) => (
                    format!("never read as a task: {}", what.describe()),
                    "set it aside: a failed task records it and the entry moves, unread, to quarantine/",
                ),
                None => (
                    format!("a dropped file: {}", spool::Foreign::OddName.describe()),
                    "adopt it like any dropped file (its name shown with replacement characters)",
                ),
            };
            report.add(
                FindingKind::Foreign,
                self.rel(&path),
                message,
                Some(remedy.into()),
            );
            let settled = meta
                .modified()
                .is_ok_and(|m| spool::is_settled(m, std::time::SystemTime::now()));
            if fix && settled {
                mark_fixed(report);
            }
        }
        Ok(())
    }

    /// `path` relative to the spool folder, for reports.
    pub(super) fn rel(&self, path: &Path) -> String {
        path.strip_prefix(self.spool.root())
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// Marks the last finding fixed.
pub(super) fn mark_fixed(report: &mut DoctorReport) {
    if let Some(f) = report.findings.last_mut() {
        f.fixed = true;
    }
}
